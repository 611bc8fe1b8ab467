// strata models | label: the models a server serves, their versions, and the
// labels that point at them.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/cli/server_gone.h"
#include "client/strata_client.h"

namespace strata::cli {
namespace {

std::string Labels(const google::protobuf::Map<std::string, int64_t>& labels) {
  std::vector<std::string> parts;
  for (const auto& [label, version] : labels) parts.push_back(absl::StrCat(label, "=", version));
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, " ");
}

}  // namespace

int RunModels(const GlobalFlags& global, const std::vector<std::string>& args) {
  std::string output = "table";
  FlagSet flags("models", "Lists the models a server serves, their versions and labels.");
  flags.AddString("output", &output, "table|csv|json", "output format");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = CheckOutput(output); !s.ok()) {
    Fail("models", s);
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("models", client.status());
  absl::StatusOr<v1::ListModelsResponse> models = (*client)->ListModels();
  if (!models.ok()) return Fail("models", ServerGone(models.status(), global.server, ""));
  if (output == "json") {
    PrintJson(*models);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"MODEL", "VERSIONS", "LATEST", "LABELS"}};
  for (const v1::ModelSummary& m : models->models()) {
    rows.push_back({m.name(), absl::StrJoin(m.versions(), " "),
                    m.versions().empty() ? "-" : absl::StrCat(*m.versions().rbegin()),
                    Labels(m.labels())});
  }
  PrintTable(rows, output == "csv");
  return kExitOk;
}

int RunLabel(const GlobalFlags& global, const std::vector<std::string>& args) {
  std::string model, label;
  int version = -1;
  FlagSet flags("label",
                "Points a label (e.g. stable, canary) at a version in the store, served or not;\n"
                "--version 0 removes it. Labelled versions stay served whatever the version\n"
                "policy: labelling an unserved one (a rollback) makes the server load it.");
  flags.AddString("model", &model, "NAME", "the model", true);
  flags.AddString("label", &label, "LABEL", "the label", true);
  flags.AddInt("version", &version, "the version (0 removes the label)");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (version < 0) {
    std::cerr << "strata label: --version is required (0 removes the label)\n";
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("label", client.status());
  absl::StatusOr<v1::SetLabelResponse> response = (*client)->SetLabel(model, label, version);
  if (!response.ok()) return Fail("label", ServerGone(response.status(), global.server, ""));
  std::cout << model << ": "
            << (Labels(response->labels()).empty() ? "(no labels)" : Labels(response->labels()))
            << "\n";
  return kExitOk;
}

}  // namespace strata::cli

#include "client/cli/commands.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/proto_json.h"
#include "core/data/column_names.h"

namespace strata::cli {

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "strata " << command << ": " << status.message() << "\n";
  return absl::IsCancelled(status) ? kExitInterrupted : kExitFailure;
}

void GlobalFlags::Add(FlagSet* flags) {
  struct Entry {
    std::string* value;
    const char* value_name;
    const char* help;
  };
  const Entry entries[] = {
      {&server, "HOST:PORT", "the server"},
      {&token_file, "FILE", "file holding the bearer token"},
      {&tls_ca, "FILE", "CA bundle that signed the server's certificate"},
      {&tls_cert, "FILE", "client certificate for mutual TLS"},
      {&tls_key, "FILE", "client key for mutual TLS"},
  };
  static_assert(std::size(entries) == std::size(kGlobalFlagNames));
  for (size_t f = 0; f < std::size(entries); ++f) {
    flags->AddString(kGlobalFlagNames[f], entries[f].value, entries[f].value_name, entries[f].help);
  }
}

void ModelFlags::Add(FlagSet* flags) {
  flags->AddString("model", &model, "NAME", "the model", true);
  flags->AddInt("version", &version, "the version, 0 for the latest served");
  flags->AddString("label", &label, "LABEL", "the version this label points at");
}

absl::Status ModelFlags::Check() const {
  if (version != 0 && !label.empty()) {
    return absl::InvalidArgumentError("give --version or --label, not both");
  }
  if (version < 0) return absl::InvalidArgumentError("--version must be positive");
  return absl::OkStatus();
}

v1::ModelSpec ModelFlags::Spec() const {
  v1::ModelSpec spec;
  spec.set_name(model);
  if (version > 0) spec.set_version(version);
  if (!label.empty()) spec.set_label(label);
  return spec;
}

absl::Status ExplainUnservedVersion(const absl::Status& status, const v1::ModelSpec& spec,
                                    absl::string_view command) {
  if (!absl::IsNotFound(status) || spec.selector_case() != v1::ModelSpec::kVersion ||
      !absl::StrContains(status.message(),
                         absl::StrCat(" version ", spec.version(), " is not served"))) {
    return status;
  }
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(), ". ",
                   command.empty() ? std::string("Only a served version answers")
                                   : absl::StrCat("strata ", command, " needs a served version"),
                   ". If the store holds version ", spec.version(), ", 'strata label --model ",
                   spec.name(), " --label NAME --version ", spec.version(),
                   "' makes the server load it (a label pins its version; --version 0 removes "
                   "the label again)"));
}

absl::StatusOr<ModelInput> MatchModelColumns(StrataClient& client, const v1::ModelSpec& spec,
                                             CsvTable table) {
  absl::StatusOr<v1::GetModelResponse> model = client.GetModel(spec);
  if (!model.ok()) return ExplainUnservedVersion(model.status(), spec);
  ModelInput input;
  input.spec.set_name(model->model().name());
  input.spec.set_version(model->model().version());
  input.feature_names.assign(model->feature_names().begin(), model->feature_names().end());
  const std::string which =
      absl::StrCat("model ", model->model().name(), " version ", model->model().version());
  if (table.has_header) {
    absl::StatusOr<std::vector<int>> order =
        MapColumnsByName(table.column_names, input.feature_names);
    if (!order.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": ", order.status().message()));
    }
    input.values = SelectColumns(table.values, *order);
    input.column_names = input.feature_names;
  } else {
    if (table.values.cols() != static_cast<Eigen::Index>(input.feature_names.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input has ", table.values.cols(), " columns and no header; ", which, " has ",
          input.feature_names.size(), " features (", FewNames(input.feature_names, 8),
          "). Give the input a header line to match columns by name, or leave columns out with "
          "--drop_columns f<i> (counting from f0)"));
    }
    input.values = std::move(table.values);
  }
  return input;
}

absl::Status CheckRowsAnswered(int64_t sent, int64_t answered, int64_t first_row) {
  if (sent == answered) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("the server answered ", answered, " rows for the ", sent,
                                          " rows from row ", first_row,
                                          "; no output can be trusted"));
}

absl::Status CheckOutput(const std::string& output) {
  if (output == "table" || output == "csv" || output == "json") return absl::OkStatus();
  return absl::InvalidArgumentError("--output must be table, csv or json");
}

void PrintTable(const std::vector<std::vector<std::string>>& rows, bool csv) {
  if (csv) {
    for (const auto& row : rows) std::cout << absl::StrJoin(row, ",") << "\n";
    return;
  }
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json = ProtoToJson(message);
  while (!json.empty() && absl::ascii_isspace(static_cast<unsigned char>(json.back()))) {
    json.pop_back();
  }
  std::cout << json << "\n";
}

void PrintClassifierMetrics(const std::vector<std::string>& class_names,
                            const ClassifierMetrics& metrics) {
  const size_t k = class_names.size();
  std::vector<std::vector<std::string>> confusion = {{"true \\ predicted"}};
  for (const std::string& name : class_names) confusion[0].push_back(name);
  for (size_t i = 0; i < k; ++i) {
    std::vector<std::string> row = {class_names[i]};
    for (size_t j = 0; j < k; ++j) row.push_back(absl::StrCat(metrics.confusion[i * k + j]));
    confusion.push_back(std::move(row));
  }
  PrintTable(confusion, /*csv=*/false);
  const auto figure = [](double v) {
    return std::isnan(v) ? std::string("-") : absl::StrFormat("%.4f", v);
  };
  std::vector<std::vector<std::string>> per_class = {{"class", "precision", "recall", "rows"}};
  for (size_t c = 0; c < k; ++c) {
    int64_t rows = 0;
    for (size_t j = 0; j < k; ++j) rows += metrics.confusion[c * k + j];
    per_class.push_back({class_names[c], figure(metrics.precision[c]), figure(metrics.recall[c]),
                         absl::StrCat(rows)});
  }
  std::cout << "\n";
  PrintTable(per_class, /*csv=*/false);
}

absl::StatusOr<std::unique_ptr<StrataClient>> Connect(const GlobalFlags& global) {
  StrataClient::Options options;
  options.target = global.server;
  if (!global.token_file.empty()) {
    std::ifstream in(global.token_file);
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    options.token = std::string(absl::StripAsciiWhitespace(token));
    if (options.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file ", global.token_file, " is empty or missing"));
    }
  }
  options.tls_ca_file = global.tls_ca;
  options.tls_cert_file = global.tls_cert;
  options.tls_key_file = global.tls_key;
  // Every subcommand that calls a server connects here.
  options.unreachable_hint = "start one, or set --server / $STRATA_SERVER";
  return StrataClient::Create(options);
}

}  // namespace strata::cli

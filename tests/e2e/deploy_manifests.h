// What the deploy manifest tests share: YAML read through Debian's
// python3-yaml into protobuf Values, path lookups, flag values, and the
// fixture holding deploy/k8s's objects. Included by deploy_manifests_test.cc
// and stream_manifests_test.cc (one test binary each).
#ifndef STRATA_TESTS_E2E_DEPLOY_MANIFESTS_H_
#define STRATA_TESTS_E2E_DEPLOY_MANIFESTS_H_

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/model/model_io.h"
#include "core/train/train_config.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/test_models.h"


namespace strata {
namespace {

using google::protobuf::Value;
using ::testing::HasSubstr;
using testing::ShellResult;

// Every YAML document of `path`, through Debian's python3-yaml.
inline std::vector<Value> Documents(const std::string& path) {
  const ShellResult json = testing::Shell(
      absl::StrCat("/usr/bin/python3 -c 'import json, sys, yaml; "
                   "print(json.dumps({\"docs\": list(yaml.safe_load_all(open(sys.argv[1])))}))' ",
                   path));
  EXPECT_EQ(json.exit_code, 0) << path << ": " << json.output;
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json.output, &parsed).ok()) << path;
  std::vector<Value> docs;
  if (!parsed.fields().contains("docs")) return docs;
  for (const Value& v : parsed.fields().at("docs").list_value().values()) docs.push_back(v);
  return docs;
}

// The value at a dotted path ("spec.template.spec"); numbers index lists.
// A missing step gives a null Value (and fails the test, naming the path).
inline const Value& At(const Value& root, const std::string& path) {
  static const Value kNull;
  const Value* v = &root;
  for (const std::string& step : std::vector<std::string>(absl::StrSplit(path, '.'))) {
    int index = 0;
    if (v->has_list_value() && absl::SimpleAtoi(step, &index) &&
        index < v->list_value().values_size()) {
      v = &v->list_value().values(index);
    } else if (v->has_struct_value() && v->struct_value().fields().contains(step)) {
      v = &v->struct_value().fields().at(step);
    } else {
      ADD_FAILURE() << "no " << path << " (at " << step << ")";
      return kNull;
    }
  }
  return *v;
}

inline std::string Str(const Value& root, const std::string& path) {
  const Value& v = At(root, path);
  return v.has_number_value() ? absl::StrCat(v.number_value()) : v.string_value();
}

// A ConfigMap's data entry (its keys hold dots, which At() would split).
inline std::string Data(const Value& config_map, const std::string& key) {
  const auto& data = At(config_map, "data").struct_value().fields();
  return data.contains(key) ? data.at(key).string_value() : "";
}

// --shutdown_grace=20s in a flags text, in seconds (-1 if missing).
inline double ShutdownGraceSeconds(const std::string& flags) {
  const size_t at = flags.find("--shutdown_grace=");
  absl::Duration d;
  if (at == std::string::npos ||
      !absl::ParseDuration(flags.substr(at + 17, flags.find_first_of("\n\" ", at) - at - 17), &d)) {
    return -1;
  }
  return absl::ToDoubleSeconds(d);
}

class DeployManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* file : {"configmap", "pvc", "deployment", "trainer", "service", "hpa"}) {
      for (Value& doc : Documents(absl::StrCat("deploy/k8s/", file, ".yaml"))) {
        objects_.push_back(std::move(doc));
      }
    }
  }
  const Value* Find(const std::string& kind, const std::string& name) const {
    for (const Value& o : objects_) {
      if (o.struct_value().fields().at("kind").string_value() == kind &&
          At(o, "metadata.name").string_value() == name) {
        return &o;
      }
    }
    ADD_FAILURE() << "no " << kind << " " << name;
    return nullptr;
  }

  std::vector<Value> objects_;
};

// The first object of `kind` in `docs` (null, failing the test, if none).
inline const Value* FindKind(const std::vector<Value>& docs, const std::string& kind) {
  for (const Value& d : docs) {
    if (d.struct_value().fields().at("kind").string_value() == kind) return &d;
  }
  ADD_FAILURE() << "no " << kind;
  return nullptr;
}

// The value of the last --name=... in `args` (the last one wins, as absl
// parses them), or "" if none.
inline std::string FlagValue(const std::vector<std::string>& args, const std::string& name) {
  const std::string prefix = absl::StrCat("--", name, "=");
  std::string value;
  for (const std::string& a : args) {
    if (absl::StartsWith(a, prefix)) value = a.substr(prefix.size());
  }
  return value;
}

// strata-server's default for --name, from its --help
// ("--port (gRPC port; ...); default: 50051;"); "" if it lists none.
inline std::string FlagDefault(const std::string& name) {
  const std::string help = testing::Shell(absl::StrCat(STRATA_SERVER_PATH, " --help")).output;
  const size_t flag = help.find(absl::StrCat("--", name, " ("));
  if (flag == std::string::npos) return "";
  const size_t at = help.find("default: ", flag);
  if (at == std::string::npos) return "";
  return help.substr(at + 9, help.find(';', at) - at - 9);
}

}  // namespace
}  // namespace strata

#endif  // STRATA_TESTS_E2E_DEPLOY_MANIFESTS_H_

// The `strata` subcommands. Each takes the words after its name and returns
// the process exit code: kExitOk, kExitFailure (the operation failed; one
// line on stderr says why), kExitUsage (bad flags), kExitInterrupted.
#ifndef STRATA_CLIENT_CLI_COMMANDS_H_
#define STRATA_CLIENT_CLI_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/cli/cli_flags.h"
#include "client/strata_client.h"
#include "core/data/csv_reader.h"
#include "core/nn/matrix.h"
#include "core/scoring/evaluation.h"
#include "google/protobuf/message.h"

namespace strata::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

// Flags given before the subcommand.
struct GlobalFlags {
  // host:port of strata-server. Default $STRATA_SERVER or 127.0.0.1:50051.
  std::string server = "127.0.0.1:50051";
  // File holding the bearer token. Default $STRATA_TOKEN_FILE, else none.
  std::string token_file;
  // TLS: CA bundle that signed the server's certificate; the client's own
  // certificate and key for mutual TLS. Default: plaintext.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  // Adds these flags (kGlobalFlagNames) to `flags`, for FlagSet::ParseLeading.
  void Add(FlagSet* flags);
};

int RunTrain(const GlobalFlags& global, const std::vector<std::string>& args);
int RunSweep(const GlobalFlags& global, const std::vector<std::string>& args);
int RunInspect(const std::vector<std::string>& args);
int RunEncode(const GlobalFlags& global, const std::vector<std::string>& args);
int RunReconstruct(const GlobalFlags& global, const std::vector<std::string>& args);
int RunScore(const GlobalFlags& global, const std::vector<std::string>& args);
int RunPredict(const GlobalFlags& global, const std::vector<std::string>& args);
int RunModels(const GlobalFlags& global, const std::vector<std::string>& args);
int RunJobs(const GlobalFlags& global, const std::vector<std::string>& args);
int RunLabel(const GlobalFlags& global, const std::vector<std::string>& args);
int RunDrift(const GlobalFlags& global, const std::vector<std::string>& args);
int RunEval(const GlobalFlags& global, const std::vector<std::string>& args);
int RunHealth(const GlobalFlags& global, const std::vector<std::string>& args);

// Prints "strata COMMAND: message" and returns the exit code for it.
int Fail(const std::string& command, const absl::Status& status);

// --model (required), --version and --label: the served version a command
// asks. Neither --version nor --label: the latest served.
struct ModelFlags {
  std::string model, label;
  int version = 0;

  void Add(FlagSet* flags);
  // InvalidArgument for both --version and --label, or a negative version.
  absl::Status Check() const;
  v1::ModelSpec Spec() const;
};

// CSV rows made ready for one served model version.
struct ModelInput {
  // The version GetModel resolved `spec` to, so that every batch of a
  // command is answered by the same version.
  v1::ModelSpec spec;
  // The model's feature names, in its order.
  std::vector<std::string> feature_names;
  // The rows, their columns in the model's order.
  Matrix values;
  // Sent with each batch for the server to check: the model's names when
  // the input named its columns, else empty (headerless input goes by
  // position).
  std::vector<std::string> column_names;
};
// Asks the server for the model `spec` selects and maps `table`'s columns
// to its features: by name when the CSV had a header (a column the model
// lacks, or a feature missing, is InvalidArgument listing both sets of
// names), else by position (the count must match). A version the server
// does not serve fails as ExplainUnservedVersion says.
absl::StatusOr<ModelInput> MatchModelColumns(StrataClient& client, const v1::ModelSpec& spec,
                                             CsvTable table);

// `status` from a call that asked for `spec`, with what to do added when it
// is the server's NOT_FOUND for a version number it does not serve ("model
// 'm' version 1 is not served (served: 2, 4)"): only served versions answer,
// and a label pins a stored version so that the server loads it.
// `command` (e.g. "report") names what needs the version; empty, the hint
// says so of every command. Any other status comes back as it is.
absl::Status ExplainUnservedVersion(const absl::Status& status, const v1::ModelSpec& spec,
                                    absl::string_view command = "");

// Internal (the server misbehaved, not the input) unless a response
// answered exactly the `sent` rows starting at input row `first_row`: the
// output must never lose or gain a row.
absl::Status CheckRowsAnswered(int64_t sent, int64_t answered, int64_t first_row);

// The --output formats of the listing commands (models, jobs, drift):
// InvalidArgument unless `output` is table, csv or json.
absl::Status CheckOutput(const std::string& output);
// Prints `rows` (the first is the header) as aligned columns, or as CSV.
void PrintTable(const std::vector<std::vector<std::string>>& rows, bool csv);
// Prints `message` as JSON (ProtoToJson) on stdout, ending in one newline
// (protobuf's printer ends indented JSON with one of its own or not, by
// version: the output neither runs into the prompt nor ends in a blank line).
void PrintJson(const google::protobuf::Message& message);

// Prints a classifier's confusion matrix (the true class down, the
// predicted class across, class names as headers), then each class's
// precision, recall and rows ("-" where a figure is undefined).
// REQUIRES: class_names.size() == metrics.classes.
void PrintClassifierMetrics(const std::vector<std::string>& class_names,
                            const ClassifierMetrics& metrics);

// A client for the server that --server names.
absl::StatusOr<std::unique_ptr<StrataClient>> Connect(const GlobalFlags& global);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_COMMANDS_H_

// strata: the command-line tool. `strata help` lists the subcommands;
// `strata SUBCOMMAND --help` describes one.
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "client/cli/report.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "dev"
#endif

namespace {

constexpr char kUsage[] =
    "usage: strata [--server=HOST:PORT] [--token_file=F] [--tls_ca=F [--tls_cert=F --tls_key=F]]\n"
    "              SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  train        train a model: on the server (a TrainJob), or --local in this process\n"
    "  sweep        train trials of a config on the server; publish the best, print the table\n"
    "  encode       features of a hidden layer for CSV rows on stdin\n"
    "  reconstruct  reconstructions of CSV rows on stdin\n"
    "  score        anomaly scores of CSV rows on stdin\n"
    "  predict      classes of CSV rows on stdin (models trained with class labels)\n"
    "  models       the models a server serves\n"
    "  jobs         training jobs: list, show, cancel\n"
    "  label        point a label at a version\n"
    "  drift        how live records drift from a version's training data\n"
    "  report       an HTML page of charts about a model version\n"
    "  eval         how a model does on labelled data (AUC, linear probe, classifier head)\n"
    "  health       whether the server is serving (exit 0) or not (exit 1)\n"
    "  inspect      print what a local model file holds\n"
    "  version      print the version\n"
    "\n"
    "--server defaults to $STRATA_SERVER, else 127.0.0.1:50051; --token_file to\n"
    "$STRATA_TOKEN_FILE. --token_file sends its bearer token; --tls_ca speaks TLS to a server\n"
    "whose certificate that CA signed; --tls_cert/--tls_key add a client certificate.\n"
    "Run 'strata SUBCOMMAND --help' for its flags.\n"
    "Exit codes: 0 ok, 1 failed (reason on stderr), 2 usage error, 130 interrupted.\n";

int Run(const strata::cli::GlobalFlags& global, const std::string& command,
        const std::vector<std::string>& args);

}  // namespace

int main(int argc, char** argv) {
  using namespace strata::cli;
  GlobalFlags global;
  if (const char* env = std::getenv("STRATA_SERVER"); env != nullptr && *env) global.server = env;
  if (const char* env = std::getenv("STRATA_TOKEN_FILE"); env != nullptr && *env) {
    global.token_file = env;
  }
  // The global flags, up to the subcommand; kUsage describes them.
  FlagSet global_flags("", "");
  global.Add(&global_flags);
  const std::vector<std::string> words(argv + 1, argv + argc);
  const absl::StatusOr<size_t> i = global_flags.ParseLeading(words);
  if (!i.ok()) {
    std::cerr << "strata: " << i.status().message() << "\n";
    return kExitUsage;
  }
  if (*i >= words.size()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = words[*i];
  const std::vector<std::string> args(words.begin() + *i + 1, words.end());
  // Out of memory anywhere (a CSV too large to read whole, a batch too
  // large to hold) is a failure with a reason, not an abort.
  try {
    return Run(global, command, args);
  } catch (const std::bad_alloc&) {
    std::cerr << "strata " << command
              << ": out of memory (for training data larger than memory: strata train --local "
                 "--mapped)\n";
    return kExitFailure;
  }
}

namespace {

int Run(const strata::cli::GlobalFlags& global, const std::string& command,
        const std::vector<std::string>& args) {
  using namespace strata::cli;
  if (command == "train") return RunTrain(global, args);
  if (command == "sweep") return RunSweep(global, args);
  if (command == "encode") return RunEncode(global, args);
  if (command == "reconstruct") return RunReconstruct(global, args);
  if (command == "score") return RunScore(global, args);
  if (command == "predict") return RunPredict(global, args);
  if (command == "models") return RunModels(global, args);
  if (command == "jobs") return RunJobs(global, args);
  if (command == "label") return RunLabel(global, args);
  if (command == "drift") return RunDrift(global, args);
  if (command == "eval") return RunEval(global, args);
  if (command == "report") return RunReport(global, args);
  if (command == "health") return RunHealth(global, args);
  if (command == "inspect") return RunInspect(args);
  if (command == "version" || command == "--version") {
    std::cout << "strata " << STRATA_VERSION << "\n";
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "strata: unknown subcommand '" << command << "'\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace

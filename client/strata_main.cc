// strata: the command-line tool. `strata help` lists the subcommands;
// `strata SUBCOMMAND --help` describes one.
#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "dev"
#endif

namespace {

constexpr char kUsage[] =
    "usage: strata SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  train     train a model on a CSV file (--local: in this process)\n"
    "  inspect   print what a model file holds\n"
    "  version   print the version\n"
    "\n"
    "Run 'strata SUBCOMMAND --help' for its flags.\n"
    "Exit codes: 0 ok, 1 failed (reason on stderr), 2 usage error, 130 interrupted.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace strata::cli;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "train") return RunTrain(args);
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

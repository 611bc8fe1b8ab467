// FlagSet: the `strata` CLI's one flag parser. It parses the global flags
// before the subcommand (ParseLeading) and each subcommand's flags, with its
// own --help (Parse).
//
//   std::string data;
//   FlagSet flags("train", "Trains a model on a CSV file.");
//   flags.AddString("data", &data, "FILE.csv", "training data", /*required=*/true);
//   if (absl::Status s = flags.Parse(args); !s.ok()) { ...usage error... }
//   if (flags.help_requested()) { std::cout << flags.Usage(); }
//
// Accepts --name=value, --name value and, for booleans, --name / --noname.
// Not thread-safe.
#ifndef STRATA_CLIENT_CLI_CLI_FLAGS_H_
#define STRATA_CLIENT_CLI_CLI_FLAGS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace strata::cli {

// The flags that come before the subcommand, in GlobalFlags' order (see
// GlobalFlags::Add in commands.h). A subcommand given one of them says so.
inline constexpr const char* kGlobalFlagNames[] = {"server", "token_file", "tls_ca", "tls_cert",
                                                   "tls_key"};

class FlagSet {
 public:
  FlagSet(std::string command, std::string description)
      : command_(std::move(command)), description_(std::move(description)) {}

  void AddString(const std::string& name, std::string* target, const std::string& value_name,
                 const std::string& help, bool required = false);
  void AddInt(const std::string& name, int* target, const std::string& help);
  void AddBool(const std::string& name, bool* target, const std::string& help);

  // Parses `args` (the words after the subcommand). InvalidArgument names the
  // flag at fault (a global flag: that it goes before the subcommand);
  // missing required flags are errors unless --help is given.
  absl::Status Parse(const std::vector<std::string>& args);
  // Parses the flags at the front of `args` (the words after `strata`) and
  // stops at the first word that is not one of them: the subcommand, or a
  // --help, --version or unknown --flag for the caller to take as one.
  // Returns that word's index, args.size() if none; InvalidArgument for a
  // flag without its value. Required flags and --help are not looked at.
  absl::StatusOr<size_t> ParseLeading(const std::vector<std::string>& args);
  bool help_requested() const { return help_requested_; }
  // Whether the last Parse saw --`name` (given, even at its default value).
  bool Given(const std::string& name) const;
  // Parse() for a subcommand's main: prints the usage after --help, or
  // "strata COMMAND: error" after a bad flag. Returns -1 to go on, else the
  // exit code to end with (0 after help, 2 after an error).
  int ParseOrExit(const std::vector<std::string>& args);
  // The command's description and its flags in two aligned columns, the
  // descriptions wrapped to 80 characters.
  std::string Usage() const;

 private:
  struct Flag {
    std::string name, value_name, help;
    bool is_bool = false, required = false, seen = false;
    std::function<absl::Status(const std::string&)> set;
    std::string default_text;
  };
  Flag* Find(const std::string& name);
  // The loop of Parse and ParseLeading; with `leading`, stops at the first
  // word that is not a known flag and returns its index.
  absl::StatusOr<size_t> ParseWords(const std::vector<std::string>& args, bool leading);

  const std::string command_;
  const std::string description_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_CLI_FLAGS_H_

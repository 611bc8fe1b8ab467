#include "client/cli/cli_flags.h"

#include <algorithm>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace strata::cli {

void FlagSet::AddString(const std::string& name, std::string* target, const std::string& value_name,
                        const std::string& help, bool required) {
  Flag f;
  f.name = name;
  f.value_name = value_name;
  f.help = help;
  f.required = required;
  f.default_text = target->empty() ? "" : *target;
  f.set = [target](const std::string& v) {
    *target = v;
    return absl::OkStatus();
  };
  flags_.push_back(std::move(f));
}

void FlagSet::AddInt(const std::string& name, int* target, const std::string& help) {
  Flag f;
  f.name = name;
  f.value_name = "N";
  f.help = help;
  f.default_text = absl::StrCat(*target);
  f.set = [target, name](const std::string& v) {
    if (!absl::SimpleAtoi(v, target)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", v, "' is not an integer"));
    }
    return absl::OkStatus();
  };
  flags_.push_back(std::move(f));
}

void FlagSet::AddBool(const std::string& name, bool* target, const std::string& help) {
  Flag f;
  f.name = name;
  f.help = help;
  f.is_bool = true;
  f.set = [target, name](const std::string& v) {
    if (v == "true" || v == "1" || v.empty()) {
      *target = true;
    } else if (v == "false" || v == "0") {
      *target = false;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": '", v, "' is not true or false"));
    }
    return absl::OkStatus();
  };
  flags_.push_back(std::move(f));
}

bool FlagSet::Given(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.seen;
  }
  return false;
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  if (absl::StatusOr<size_t> s = ParseWords(args, /*leading=*/false); !s.ok()) return s.status();
  if (help_requested_) return absl::OkStatus();
  for (const Flag& f : flags_) {
    if (f.required && !f.seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", f.name, " is required for 'strata ", command_, "' (see --help)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> FlagSet::ParseLeading(const std::vector<std::string>& args) {
  return ParseWords(args, /*leading=*/true);
}

absl::StatusOr<size_t> FlagSet::ParseWords(const std::vector<std::string>& args, bool leading) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!leading && (arg == "--help" || arg == "-h" || arg == "help")) {
      help_requested_ = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      if (leading) return i;
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    Flag* flag = Find(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      Flag* negated = Find(name.substr(2));
      if (negated != nullptr && negated->is_bool) {
        negated->seen = true;
        if (absl::Status s = negated->set("false"); !s.ok()) return s;
        continue;
      }
    }
    if (flag == nullptr && leading) return i;
    if (flag == nullptr) {
      for (const char* global : kGlobalFlagNames) {
        if (name != global) continue;
        return absl::InvalidArgumentError(absl::StrCat(
            "--", name, " is a global flag: give it before the subcommand, as in 'strata --", name,
            "=... ", command_, " ...'"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " for 'strata ", command_, "' (see --help)"));
    }
    if (!flag->is_bool && !has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    flag->seen = true;
    if (absl::Status s = flag->set(value); !s.ok()) return s;
  }
  return args.size();
}

int FlagSet::ParseOrExit(const std::vector<std::string>& args) {
  if (absl::Status s = Parse(args); !s.ok()) {
    std::cerr << "strata " << command_ << ": " << s.message() << "\n";
    return 2;
  }
  if (help_requested_) {
    std::cout << Usage();
    return 0;
  }
  return -1;
}

std::string FlagSet::Usage() const {
  constexpr size_t kWidth = 80;         // of a line
  constexpr size_t kMaxNameWidth = 32;  // a longer "--name VALUE" puts its text below
  // "--name VALUE" and the words of its description; "(required)" and
  // "[default X]" are one word each, never split over two lines.
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  for (const Flag& f : flags_) {
    std::vector<std::string> words =
        absl::StrSplit(f.help, absl::ByAnyChar(" \n"), absl::SkipEmpty());
    if (f.required) words.push_back("(required)");
    if (!f.default_text.empty()) words.push_back(absl::StrCat("[default ", f.default_text, "]"));
    rows.push_back(
        {absl::StrCat("--", f.name, f.is_bool ? "" : absl::StrCat(" ", f.value_name)), words});
  }
  rows.push_back({"--help", {"show", "this", "help"}});
  size_t name_width = 0;
  for (const auto& row : rows) {
    if (row.first.size() <= kMaxNameWidth) name_width = std::max(name_width, row.first.size());
  }
  // Descriptions start in one column, wrapped at spaces to the width (a line
  // break written into one counts as a space), every line indented to it.
  const std::string indent(2 + name_width + 2, ' ');
  std::string out =
      absl::StrCat("usage: strata ", command_, " [flags]\n\n", description_, "\n\nflags:\n");
  for (const auto& [name, words] : rows) {
    std::string line = absl::StrCat("  ", name);
    if (name.size() > name_width) {
      absl::StrAppend(&out, line, "\n");
      line = indent;
    } else {
      line.resize(indent.size(), ' ');
    }
    for (const std::string& word : words) {
      if (line.size() > indent.size() && line.size() + 1 + word.size() > kWidth) {
        absl::StrAppend(&out, line, "\n");
        line = indent;
      }
      absl::StrAppend(&line, line.size() > indent.size() ? " " : "", word);
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace strata::cli

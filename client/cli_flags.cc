#include "client/cli_flags.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      help_requested_ = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
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
    if (flag == nullptr) {
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
  if (help_requested_) return absl::OkStatus();
  for (const Flag& f : flags_) {
    if (f.required && !f.seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", f.name, " is required for 'strata ", command_, "' (see --help)"));
    }
  }
  return absl::OkStatus();
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
  std::string out =
      absl::StrCat("usage: strata ", command_, " [flags]\n\n", description_, "\n\nflags:\n");
  for (const Flag& f : flags_) {
    std::string left =
        absl::StrCat("  --", f.name, f.is_bool ? "" : absl::StrCat(" ", f.value_name));
    if (left.size() < 28) left.resize(28, ' ');
    absl::StrAppend(&out, left, " ", f.help, f.required ? " (required)" : "",
                    f.default_text.empty() ? "" : absl::StrCat(" [default ", f.default_text, "]"),
                    "\n");
  }
  absl::StrAppend(&out, "  --help                      show this help\n");
  return out;
}

}  // namespace strata::cli

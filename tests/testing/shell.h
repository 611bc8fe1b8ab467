// Running shell commands from tests, and reading what they leave behind.
#ifndef STRATA_TESTS_TESTING_SHELL_H_
#define STRATA_TESTS_TESTING_SHELL_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace strata::testing {

struct ShellResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

// Runs `cmd` with /bin/sh, capturing stdout and stderr.
inline ShellResult Shell(const std::string& cmd) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  ShellResult r{-1, ""};
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SHELL_H_

// The real strata-server binary in a child process on free loopback ports,
// for e2e tests, stopped with SIGTERM (and expected to exit 0) at the end.
#ifndef STRATA_TESTS_TESTING_SERVER_PROCESS_H_
#define STRATA_TESTS_TESTING_SERVER_PROCESS_H_

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/shell.h"

extern char** environ;

namespace strata::testing {

// A port free on 127.0.0.1 right now (for programs that cannot pick their own).
inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Starts `command` (via sh -c, as `exec ...`) with output to files in `dir`.
inline pid_t Spawn(const std::string& command) {
  pid_t pid = -1;
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    return -1;
  }
  return pid;
}

// Stops a child with SIGTERM; returns its exit code (-1 if it did not exit).
inline int Stop(pid_t pid) {
  if (pid <= 0) return -1;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ServerProcess {
 public:
  // Starts strata-server with its store in dir/models and --data_root dir/data.
  // `server_command` is the binary and any flags to put first (the test's
  // flags come after them and win).
  explicit ServerProcess(const std::string& dir, const std::string& extra_flags = "",
                         const std::string& server_command = STRATA_SERVER_PATH)
      : dir_(dir) {
    const std::string out = dir_ + "/server.out";
    // A restart in the same directory must not read the last run's port.
    unlink(out.c_str());
    pid_ = Spawn(absl::StrCat("exec ", server_command,
                              " --host=127.0.0.1 --port=0 --metrics_port=0 --model_root=", dir_,
                              "/models --data_root=", dir_, "/data --poll_interval=100ms ",
                              extra_flags, " > ", out, " 2> ", dir_, "/server.log"));
    // "strata-server listening on port N, metrics on port M"
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (port_ == 0 && absl::Now() < deadline) {
      const std::string text = ReadAll(out);
      const size_t at = text.find("listening on port ");
      const size_t metrics_at = text.find("metrics on port ");
      if (at != std::string::npos && metrics_at != std::string::npos &&
          text.find('\n', metrics_at) != std::string::npos) {
        (void)absl::SimpleAtoi(text.substr(at + 18, text.find(',', at) - at - 18), &port_);
        (void)absl::SimpleAtoi(
            text.substr(metrics_at + 16, text.find('\n', metrics_at) - metrics_at - 16),
            &metrics_port_);
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_GT(port_, 0) << ReadAll(dir_ + "/server.log");
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      EXPECT_EQ(Stop(pid_), 0) << "strata-server did not exit cleanly";
    }
  }

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  // kill -9, as a crash or an OOM kill would; the destructor then has nothing to stop.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Runs the strata CLI against this server.
  ShellResult Strata(const std::string& args) const {
    return Shell(absl::StrCat(STRATA_CLI_PATH, " --server=127.0.0.1:", port_, " ", args));
  }

 private:
  const std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SERVER_PROCESS_H_

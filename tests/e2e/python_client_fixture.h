// The Python client's e2e fixture: a real strata-server, and Debian's
// /usr/bin/python3 with the client and stubs the build generates. Shared by
// python_client_e2e_test.cc and python_package_e2e_test.cc.
#ifndef STRATA_TESTS_E2E_PYTHON_CLIENT_FIXTURE_H_
#define STRATA_TESTS_E2E_PYTHON_CLIENT_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata::testing {

class PythonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::ScratchDir(
        absl::StrCat("python_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::system(("mkdir -p " + dir_ + "/data").c_str());
    server_ = std::make_unique<testing::ServerProcess>(dir_);
    ASSERT_GT(server_->port(), 0);
  }
  // Runs Debian's python3 (where python3-grpcio lives) with the build's stubs,
  // killed after 150 s so that a hang fails the test with its output instead
  // of running into ctest's limit with none.
  ShellResult Python(const std::string& args) {
    return testing::Shell(absl::StrCat("PYTHONPATH=", STRATA_PYTHON_DIR,
                                       " timeout -k 5 150 /usr/bin/python3 ", args));
  }
  std::string Target() const { return absl::StrCat("127.0.0.1:", server_->port()); }
  // Runs a Python script with csv, json, numpy as np, StrataClient and
  // StrataError imported, and `c` a client of this server.
  ShellResult Script(const std::string& body) {
    return Python(
        absl::StrCat("-c \"$(cat <<'PYEOF'\n", "import csv, json, time\n", "import numpy as np\n",
                     // A script still running after 120 s prints every
                     // thread's stack and exits: where it hung.
                     "import faulthandler\n", "faulthandler.dump_traceback_later(120, exit=True)\n",
                     "from strata_client import StrataClient, StrataError\n", "c = StrataClient('",
                     Target(), "')\n", body, "PYEOF\n)\""));
  }
  // Trains model m (version 1) on the thyroid features, f0 ... f5, with the CLI.
  void TrainThyroid() {
    const ShellResult train = server_->Strata(
        "train --model m --data data/thyroid.csv --drop_columns label "
        "--config data/configs/thyroid.json --wait --quiet");
    ASSERT_EQ(train.exit_code, 0) << train.output;
  }

  std::string dir_;
  std::unique_ptr<testing::ServerProcess> server_;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_E2E_PYTHON_CLIENT_FIXTURE_H_

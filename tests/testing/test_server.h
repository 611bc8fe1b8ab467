// An in-process strata server on a free loopback port, with a client.
#ifndef STRATA_TESTS_TESTING_TEST_SERVER_H_
#define STRATA_TESTS_TESTING_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/strata_client.h"
#include "core/model/model_store.h"
#include "gtest/gtest.h"
#include "server/strata_server.h"
#include "tests/testing/test_models.h"

namespace strata::testing {

struct TestServer {
  // `configure` may adjust the options before the server starts.
  explicit TestServer(const std::string& name,
                      const std::function<void(StrataServer::Options*)>& configure = nullptr) {
    root = ScratchDir(name);
    StrataServer::Options options;
    options.address = "127.0.0.1:0";
    options.model_root = root + "/models";
    options.data_root = root + "/data";
    options.poll_interval = absl::Milliseconds(50);
    std::system(("mkdir -p " + options.data_root).c_str());
    if (configure) configure(&options);
    auto s = StrataServer::Create(options);
    EXPECT_TRUE(s.ok()) << s.status();
    server = *std::move(s);
    auto c = StrataClient::Create({absl::StrCat("127.0.0.1:", server->port())});
    EXPECT_TRUE(c.ok()) << c.status();
    client = *std::move(c);
  }

  std::string models() const { return root + "/models"; }

  // Publishes `model` straight into the server's store and makes it served.
  int64_t Publish(const std::string& name, const Model& model) {
    auto store = ModelStore::Create({models()});
    EXPECT_TRUE(store.ok()) << store.status();
    absl::StatusOr<int64_t> v = (*store)->Publish(name, model);
    EXPECT_TRUE(v.ok()) << v.status();
    server->registry()->Refresh();
    return v.ok() ? *v : 0;
  }
  std::string data() const { return root + "/data"; }

  std::string root;
  std::unique_ptr<StrataServer> server;
  std::unique_ptr<StrataClient> client;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_TEST_SERVER_H_

// TLS, mutual TLS and bearer-token authorization, over gRPC on loopback.
#include <grpcpp/create_channel.h>

#include <string>

#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/dense_matrix.h"
#include "server/auth.h"
#include "tests/testing/shell.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::TestServer;

void PublishSmallModel(TestServer& t) { t.Publish("m", *testing::SmallModel()); }

v1::EncodeRequest EncodeRequest() {
  v1::EncodeRequest r;
  r.mutable_model()->set_name("m");
  ToDenseMatrix(testing::GaussianMatrix(2, 6, 1), r.mutable_rows());
  return r;
}

std::unique_ptr<StrataClient> Client(const TestServer& t, StrataClient::Options options = {}) {
  options.target = absl::StrCat("127.0.0.1:", t.server->port());
  options.timeout = absl::Seconds(10);
  auto c = StrataClient::Create(options);
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

TEST(AuthTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-tokem", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-token-and-more", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("", "s3cret-token"));
}

TEST(AuthTest, TokenFileIsTrimmedAndMustNotBeEmpty) {
  const std::string dir = testing::ScratchDir("auth_files");
  testing::Shell("printf '  tok-123\\n' > " + dir + "/good; : > " + dir + "/empty");
  EXPECT_TRUE(Authorizer::FromTokenFile(dir + "/good", false).ok());
  EXPECT_EQ(Authorizer::FromTokenFile(dir + "/empty", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Authorizer::FromTokenFile(dir + "/missing", false).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AuthTest, WritesNeedTheTokenAndReadsDoNot) {
  TestServer t("auth_writes",
               [](StrataServer::Options* o) { o->auth = Authorizer::FromToken("tok-123", false); });
  PublishSmallModel(t);
  auto anonymous = Client(t);
  StrataClient::Options wrong_options;
  wrong_options.token = "tok-124";
  auto wrong = Client(t, wrong_options);
  StrataClient::Options right_options;
  right_options.token = "tok-123";
  auto right = Client(t, right_options);

  EXPECT_TRUE(anonymous->Encode(EncodeRequest()).ok());
  EXPECT_TRUE(anonymous->ListModels().ok());
  for (StrataClient* c : {anonymous.get(), wrong.get()}) {
    const absl::Status label = c->SetLabel("m", "stable", 1).status();
    EXPECT_EQ(label.code(), absl::StatusCode::kUnauthenticated) << label;
    v1::SubmitTrainJobRequest submit;
    submit.mutable_spec()->set_model_name("m2");
    ToDenseMatrix(testing::GaussianMatrix(50, 6, 2), submit.mutable_rows());
    EXPECT_EQ(c->SubmitTrainJob(submit).status().code(), absl::StatusCode::kUnauthenticated);
    const Matrix rows = testing::GaussianMatrix(50, 6, 2);
    EXPECT_EQ(c->UploadTrainJob(submit.spec(), rows.data(), 50, 6).status().code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(c->CancelTrainJob("job-1").status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_NE(anonymous->SetLabel("m", "stable", 1).status().message().find("Bearer"),
            std::string::npos);
  // Nothing the refused calls asked for happened.
  EXPECT_TRUE(anonymous->ListTrainJobs("").value().jobs().empty());
  auto label = right->SetLabel("m", "stable", 1);
  ASSERT_TRUE(label.ok()) << label.status();
  EXPECT_EQ(label->labels().at("stable"), 1);
}

TEST(AuthTest, AuthReadCoversEveryStrataRpcButNotHealth) {
  TestServer t("auth_reads",
               [](StrataServer::Options* o) { o->auth = Authorizer::FromToken("tok-9", true); });
  PublishSmallModel(t);
  auto anonymous = Client(t);
  StrataClient::Options right_options;
  right_options.token = "tok-9";
  auto right = Client(t, right_options);

  EXPECT_EQ(anonymous->Encode(EncodeRequest()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->ListModels().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->GetTrainJob("job-1").status().code(), absl::StatusCode::kUnauthenticated);
  const absl::Status stream = anonymous->StreamAnomalyScore(
      [sent = false](v1::AnomalyScoreRequest* r) mutable {
        if (sent) return false;
        r->mutable_model()->set_name("m");
        ToDenseMatrix(testing::GaussianMatrix(1, 6, 3), r->mutable_rows());
        sent = true;
        return true;
      },
      [](const v1::AnomalyScoreResponse&) {});
  EXPECT_EQ(stream.code(), absl::StatusCode::kUnauthenticated) << stream;
  EXPECT_TRUE(right->Encode(EncodeRequest()).ok());
  EXPECT_TRUE(right->ListModels().ok());

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", t.server->port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate.
std::string MakeCertificates(const std::string& name) {
  const std::string dir = testing::ScratchDir(name);
  const std::string script = absl::StrCat(
      "set -e; cd ", dir, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj '/CN=strata test CA' >/dev/null 2>&1; ",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext; ",
      "for who in server client; do "
      "openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr "
      "-subj \"/CN=strata $who\" >/dev/null 2>&1; "
      "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san.ext -out $who.pem >/dev/null 2>&1; done; ",
      // A second CA that signed nothing here: trusting it must fail.
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 "
      "-subj '/CN=other CA' >/dev/null 2>&1");
  const testing::ShellResult r = testing::Shell(script);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

TEST(TlsTest, ServesOverTlsAndRefusesPlaintextAndStrangers) {
  const std::string certs = MakeCertificates("tls_certs");
  TestServer t("tls", [&](StrataServer::Options* o) {
    o->tls_cert_file = certs + "/server.pem";
    o->tls_key_file = certs + "/server.key";
  });
  PublishSmallModel(t);
  StrataClient::Options tls;
  tls.tls_ca_file = certs + "/ca.pem";
  auto good = Client(t, tls);
  auto answer = good->Encode(EncodeRequest());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->model().version(), 1);

  EXPECT_EQ(Client(t)->Encode(EncodeRequest()).status().code(), absl::StatusCode::kUnavailable);
  StrataClient::Options stranger;
  stranger.tls_ca_file = certs + "/other.pem";
  EXPECT_EQ(Client(t, stranger)->Encode(EncodeRequest()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(TlsTest, MutualTlsNeedsAClientCertificateTheCaSigned) {
  const std::string certs = MakeCertificates("mtls_certs");
  TestServer t("mtls", [&](StrataServer::Options* o) {
    o->tls_cert_file = certs + "/server.pem";
    o->tls_key_file = certs + "/server.key";
    o->tls_client_ca_file = certs + "/ca.pem";
  });
  PublishSmallModel(t);
  StrataClient::Options no_cert;
  no_cert.tls_ca_file = certs + "/ca.pem";
  EXPECT_EQ(Client(t, no_cert)->Encode(EncodeRequest()).status().code(),
            absl::StatusCode::kUnavailable);
  StrataClient::Options with_cert = no_cert;
  with_cert.tls_cert_file = certs + "/client.pem";
  with_cert.tls_key_file = certs + "/client.key";
  auto answer = Client(t, with_cert)->Encode(EncodeRequest());
  EXPECT_TRUE(answer.ok()) << answer.status();
}

TEST(TlsTest, HalfConfiguredTlsIsRefusedAtStart) {
  StrataServer::Options o;
  o.address = "127.0.0.1:0";
  o.model_root = testing::ScratchDir("tls_half") + "/models";
  o.tls_cert_file = "/nonexistent/server.pem";
  EXPECT_EQ(StrataServer::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.tls_cert_file.clear();
  o.tls_client_ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(StrataServer::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  // Files that are not PEM: refused with a reason, not a crash.
  const std::string dir = testing::ScratchDir("tls_garbage");
  testing::Shell("echo garbage > " + dir + "/c.pem; echo garbage > " + dir + "/k.pem");
  o.tls_client_ca_file.clear();
  o.tls_cert_file = dir + "/c.pem";
  o.tls_key_file = dir + "/k.pem";
  const absl::Status s = StrataServer::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("TLS certificate"), std::string::npos) << s;
}

}  // namespace
}  // namespace strata

// Request builders for the server's integration tests: a ModelSpec by name
// (and version), rows to and from the wire, and a wait for a training job to
// end through WatchTrainJob.
//
//   v1::EncodeRequest encode;
//   *encode.mutable_model() = testing::Spec("m");
//   *encode.mutable_rows() = testing::Dense(x);
//   const v1::TrainJob done = testing::WaitForJob(t, job->id());
#ifndef STRATA_TESTS_TESTING_SERVER_REQUESTS_H_
#define STRATA_TESTS_TESTING_SERVER_REQUESTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/test_server.h"

namespace strata::testing {

inline v1::ModelSpec Spec(const std::string& name, int64_t version = 0) {
  v1::ModelSpec s;
  s.set_name(name);
  if (version) s.set_version(version);
  return s;
}

inline v1::DenseMatrix Dense(const Matrix& m) {
  v1::DenseMatrix d;
  ToDenseMatrix(m, &d);
  return d;
}

inline Matrix FromWire(const v1::DenseMatrix& d) { return *FromDenseMatrix(d, "test", 1 << 30); }

inline absl::StatusCode CodeOf(const absl::Status& s) { return s.code(); }

// The job `id` once it has ended (a failed watch fails the test).
inline v1::TrainJob WaitForJob(TestServer& t, const std::string& id) {
  auto job = t.client->WatchTrainJob(id, [](const v1::TrainJob&) {});
  EXPECT_TRUE(job.ok()) << job.status();
  return *job;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SERVER_REQUESTS_H_

// Benchmarks that train on a running strata-server and read its answers back:
// upload rows as a TrainJob and wait for it, then send a test set through
// Reconstruct (and Encode) in bounded chunks.
//
//   absl::StatusOr<v1::TrainJob> job = TrainAndWait(*client, spec, train, on_update);
//   absl::StatusOr<Matrix> out = ReconstructAll(*client, model, test, &codes);
#ifndef STRATA_BENCH_TRAIN_JOB_H_
#define STRATA_BENCH_TRAIN_JOB_H_

#include <functional>

#include "absl/status/statusor.h"
#include "client/strata_client.h"
#include "core/nn/matrix.h"

namespace strata::bench {

// Uploads `rows` with `spec` and follows the job, calling `on_update` on each
// change; returns the job as it ended, in whatever state (an error only when
// a call failed).
absl::StatusOr<v1::TrainJob> TrainAndWait(
    StrataClient& client, const v1::TrainJobSpec& spec, const Matrix& rows,
    const std::function<void(const v1::TrainJob&)>& on_update);

// OK for a job that SUCCEEDED, else INTERNAL naming its id, state and error.
absl::Status Succeeded(const v1::TrainJob& job);

// `x` through Reconstruct, 1,000 rows per call; with `codes`, also through
// Encode (the code layer). Checks every answer's shape.
absl::StatusOr<Matrix> ReconstructAll(StrataClient& client, const v1::ModelSpec& model,
                                      const Matrix& x, Matrix* codes);

// Mean over rows of the squared error summed over each row's values: the
// "squared error per image" of Hinton & Salakhutdinov (2006) on MNIST.
double ErrorPerImage(const Matrix& reconstruction, const Matrix& x);

}  // namespace strata::bench

#endif  // STRATA_BENCH_TRAIN_JOB_H_

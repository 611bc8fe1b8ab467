#include "bench/train_job.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/dense_matrix.h"

namespace strata::bench {

absl::StatusOr<v1::TrainJob> TrainAndWait(
    StrataClient& client, const v1::TrainJobSpec& spec, const Matrix& rows,
    const std::function<void(const v1::TrainJob&)>& on_update) {
  absl::StatusOr<v1::TrainJob> job =
      client.UploadTrainJob(spec, rows.data(), rows.rows(), static_cast<int32_t>(rows.cols()));
  if (!job.ok()) return job.status();
  return client.WatchTrainJob(job->id(), on_update);
}

absl::Status Succeeded(const v1::TrainJob& job) {
  if (job.state() == v1::TrainJob::SUCCEEDED) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("job ", job.id(), " ",
                                          v1::TrainJob::State_Name(job.state()), ": ",
                                          job.error()));
}

absl::StatusOr<Matrix> ReconstructAll(StrataClient& client, const v1::ModelSpec& model,
                                      const Matrix& x, Matrix* codes) {
  constexpr Eigen::Index kChunk = 1000;
  Matrix reconstruction(x.rows(), x.cols());
  for (Eigen::Index at = 0; at < x.rows(); at += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.rows() - at);
    v1::DenseMatrix rows;
    ToDenseMatrix(x.middleRows(at, n), &rows);
    v1::ReconstructRequest request;
    *request.mutable_model() = model;
    *request.mutable_rows() = rows;
    absl::StatusOr<v1::ReconstructResponse> r = client.Reconstruct(request);
    if (!r.ok()) return r.status();
    absl::StatusOr<Matrix> answer = FromDenseMatrix(r->reconstructions(), "reconstructions");
    if (!answer.ok()) return answer.status();
    if (answer->rows() != n || answer->cols() != x.cols()) {
      return absl::InternalError("reconstructions: not the shape of the rows sent");
    }
    reconstruction.middleRows(at, n) = *answer;
    if (codes == nullptr) continue;
    v1::EncodeRequest encode;
    *encode.mutable_model() = model;
    *encode.mutable_rows() = std::move(rows);
    absl::StatusOr<v1::EncodeResponse> e = client.Encode(encode);
    if (!e.ok()) return e.status();
    absl::StatusOr<Matrix> features = FromDenseMatrix(e->features(), "features");
    if (!features.ok()) return features.status();
    if (at == 0) codes->resize(x.rows(), features->cols());
    if (features->rows() != n || features->cols() != codes->cols()) {
      return absl::InternalError("features: not one row of codes per row sent");
    }
    codes->middleRows(at, n) = *features;
  }
  return reconstruction;
}

double ErrorPerImage(const Matrix& reconstruction, const Matrix& x) {
  return (reconstruction - x).cast<double>().rowwise().squaredNorm().mean();
}

}  // namespace strata::bench

// Scaler: per-feature affine scaling fitted on training data and stored with
// the model, so inputs are scaled and reconstructions unscaled with exactly
// the training transform.
//
//   absl::StatusOr<Scaler> s = Scaler::Fit(v1::STANDARD, train);
//   Matrix scaled = s.Transform(batch);        // (x - offset) / scale
//   Matrix back = s.InverseTransform(scaled);  // x, up to rounding
//
// A constant column (or one whose spread is lost in float rounding) gets
// scale 1, so it maps to 0 and back without NaN.
//
// The one column standardiser: the linear probe (evaluation.h) and the
// benchmarks' baselines fit a STANDARD Scaler rather than their own mean and
// std. Immutable; thread-safe.
#ifndef STRATA_CORE_DATA_SCALER_H_
#define STRATA_CORE_DATA_SCALER_H_

#include "absl/status/statusor.h"
#include "core/base/collective.h"
#include "core/nn/matrix.h"
#include "strata/v1/model.pb.h"

namespace strata {

class Scaler {
 public:
  // Fits STANDARD, MINMAX or IDENTITY on `data` (rows x features; finite).
  // InvalidArgument for a column spanning more than a float can hold, which
  // would scale to infinity. With `ranks` (data-parallel training), `data`
  // is this rank's rows and the fit is over every rank's, by reductions:
  // the scaler one process would fit on all of them.
  // Reads the rows in order, twice at most (rows mapped from a file larger
  // than memory are read from disk that often).
  static absl::StatusOr<Scaler> Fit(v1::ScalerKind kind, const Eigen::Ref<const Matrix>& data,
                                    Collective* ranks = nullptr);
  // An identity scaler for `dim` features.
  static Scaler Identity(int dim);
  // Restores a stored scaler; checks it has `dim` finite entries with
  // positive scales.
  static absl::StatusOr<Scaler> FromProto(const v1::ScalerParams& params, int dim);
  v1::ScalerParams ToProto() const;

  v1::ScalerKind kind() const { return kind_; }
  int dim() const { return static_cast<int>(offset_.cols()); }
  const RowVector& offset() const { return offset_; }
  const RowVector& scale() const { return scale_; }

  // REQUIRES: x.cols() == dim().
  Matrix Transform(const Matrix& x) const;
  Matrix InverseTransform(const Matrix& x) const;

 private:
  Scaler(v1::ScalerKind kind, RowVector offset, RowVector scale)
      : kind_(kind), offset_(std::move(offset)), scale_(std::move(scale)) {}

  v1::ScalerKind kind_;
  RowVector offset_;
  RowVector scale_;
};

}  // namespace strata

#endif  // STRATA_CORE_DATA_SCALER_H_

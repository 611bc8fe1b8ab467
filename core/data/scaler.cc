#include "core/data/scaler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace strata {
namespace {

// A spread this small relative to the column's magnitude is float noise: the
// column is constant for every purpose of scaling.
double UsableScale(double spread, double magnitude) {
  const double floor = 16 * std::numeric_limits<float>::epsilon() * std::max(1.0, magnitude);
  return spread > floor ? spread : 1.0;
}

}  // namespace

absl::StatusOr<Scaler> Scaler::Fit(v1::ScalerKind kind, const Eigen::Ref<const Matrix>& data,
                                   Collective* ranks) {
  const int dim = static_cast<int>(data.cols());
  if (kind != v1::IDENTITY && kind != v1::STANDARD && kind != v1::MINMAX) {
    return absl::InvalidArgumentError(absl::StrCat("unknown scaler kind ", kind));
  }
  const bool distributed = ranks != nullptr && ranks->size() > 1;
  // Per column: minimum, maximum and sum (accumulated in double: float sums
  // over many rows lose the mean), then the sum of squared deviations from
  // the mean of every rank's rows: the same two passes as in one process.
  // Each pass reads the rows in order, a block at a time, so that rows
  // mapped from a file larger than memory are read from disk twice at most.
  constexpr Eigen::Index kBlock = 4096;
  Eigen::Array<double, 1, Eigen::Dynamic> lo = Eigen::Array<double, 1, Eigen::Dynamic>::Constant(
      dim, std::numeric_limits<double>::infinity());
  Eigen::Array<double, 1, Eigen::Dynamic> hi = -lo,
                                          total =
                                              Eigen::Array<double, 1, Eigen::Dynamic>::Zero(dim);
  absl::Status finite = absl::OkStatus();
  for (Eigen::Index start = 0; start < data.rows() && finite.ok(); start += kBlock) {
    const auto block = data.middleRows(start, std::min(kBlock, data.rows() - start));
    if (!block.allFinite()) {
      Eigen::Index r = 0, c = 0;
      (!block.array().isFinite()).cast<int>().maxCoeff(&r, &c);
      finite =
          absl::InvalidArgumentError(absl::StrCat("cannot fit a scaler on non-finite data: row ",
                                                  start + r, ", column ", c, " is ", block(r, c)));
      break;
    }
    if (kind == v1::IDENTITY) continue;  // checked, not fitted
    const Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic> b = block.cast<double>().array();
    lo = lo.min(b.colwise().minCoeff());
    hi = hi.max(b.colwise().maxCoeff());
    total += b.colwise().sum();
  }
  if (absl::Status s = AgreeOnStatus(ranks, finite); !s.ok()) return s;
  if (kind == v1::IDENTITY) return Identity(dim);
  std::vector<double> rows = {static_cast<double>(data.rows())};
  if (distributed) {
    ranks->AllReduce(absl::MakeSpan(lo.data(), dim), Collective::Op::kMin);
    ranks->AllReduce(absl::MakeSpan(hi.data(), dim), Collective::Op::kMax);
    ranks->AllReduce(absl::MakeSpan(total.data(), dim), Collective::Op::kSum);
    ranks->AllReduce(absl::MakeSpan(rows), Collective::Op::kSum);
  }
  const double n = rows[0];
  if (n < 1) return absl::InvalidArgumentError("cannot fit a scaler on zero rows");
  Eigen::Array<double, 1, Eigen::Dynamic> squares =
      Eigen::Array<double, 1, Eigen::Dynamic>::Zero(dim);
  if (kind == v1::STANDARD) {
    const Eigen::Array<double, 1, Eigen::Dynamic> mean = total / n;
    for (Eigen::Index start = 0; start < data.rows(); start += kBlock) {
      const auto block = data.middleRows(start, std::min(kBlock, data.rows() - start));
      squares += (block.cast<double>().array().rowwise() - mean).square().colwise().sum();
    }
    if (distributed) ranks->AllReduce(absl::MakeSpan(squares.data(), dim), Collective::Op::kSum);
  }
  const std::vector<double> sum(total.data(), total.data() + dim);
  RowVector offset(dim), scale(dim);
  for (int c = 0; c < dim; ++c) {
    const double magnitude = std::max(std::abs(lo[c]), std::abs(hi[c]));
    if (kind == v1::STANDARD) {
      offset(c) = static_cast<float>(sum[c] / n);
      scale(c) = static_cast<float>(UsableScale(std::sqrt(squares[c] / n), magnitude));
    } else {
      offset(c) = static_cast<float>(lo[c]);
      scale(c) = static_cast<float>(UsableScale(hi[c] - lo[c], magnitude));
    }
    // Transform computes x - offset in float: a column spanning more than a
    // float holds would scale to infinity (and MINMAX's scale be infinite),
    // and training diverge for no reason the user could see.
    constexpr double kFloatMax = std::numeric_limits<float>::max();
    if (std::max(hi[c] - offset(c), offset(c) - lo[c]) > kFloatMax || !std::isfinite(scale(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("column ", c, " spans ", lo[c], " to ", hi[c],
                       ", too wide to scale in float; rescale it (divide by a power of ten)"));
    }
  }
  return Scaler(kind, std::move(offset), std::move(scale));
}

Scaler Scaler::Identity(int dim) {
  return Scaler(v1::IDENTITY, RowVector::Zero(dim), RowVector::Ones(dim));
}

absl::StatusOr<Scaler> Scaler::FromProto(const v1::ScalerParams& params, int dim) {
  if (params.offset_size() != dim || params.scale_size() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("scaler has ", params.offset_size(),
                                                   " offsets and ", params.scale_size(),
                                                   " scales; the model has ", dim, " features"));
  }
  if (params.kind() != v1::STANDARD && params.kind() != v1::MINMAX &&
      params.kind() != v1::IDENTITY) {
    return absl::InvalidArgumentError(absl::StrCat("scaler kind ", params.kind(), " is unknown"));
  }
  RowVector offset(dim), scale(dim);
  for (int c = 0; c < dim; ++c) {
    offset(c) = params.offset(c);
    scale(c) = params.scale(c);
    if (!std::isfinite(offset(c)) || !std::isfinite(scale(c)) || !(scale(c) > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("scaler feature ", c, ": offset ", offset(c),
                                                     " and scale ", scale(c),
                                                     " must be finite with a positive scale"));
    }
  }
  return Scaler(params.kind(), std::move(offset), std::move(scale));
}

v1::ScalerParams Scaler::ToProto() const {
  v1::ScalerParams p;
  p.set_kind(kind_);
  p.mutable_offset()->Assign(offset_.data(), offset_.data() + offset_.size());
  p.mutable_scale()->Assign(scale_.data(), scale_.data() + scale_.size());
  return p;
}

Matrix Scaler::Transform(const Matrix& x) const {
  if (kind_ == v1::IDENTITY) return x;
  Matrix out = x;
  out.array().rowwise() -= offset_.array();
  out.array().rowwise() /= scale_.array();
  return out;
}

Matrix Scaler::InverseTransform(const Matrix& x) const {
  if (kind_ == v1::IDENTITY) return x;
  Matrix out = x;
  out.array().rowwise() *= scale_.array();
  out.array().rowwise() += offset_.array();
  return out;
}

}  // namespace strata

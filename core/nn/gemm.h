// Matrix products for the layer shapes of training and inference.
//
//   SplitProduct(x, w, Split::kCols, &y);              // y = x * w
//   SplitProduct(x.transpose(), d, Split::kRows, &g);  // g = x^T * d
//
// Every product runs core/nn/fixed_order_gemm.h's kernel: each element of the
// result is summed in one fixed order, so a row's outputs are the same bits
// whatever else the product holds, however many threads share it and
// however they split it. Large products run on several OpenMP threads of
// the caller, each computing one contiguous block of the result's rows
// (Split::kRows) or columns (Split::kCols); which to split is the caller's
// choice (bench/README.md has the measurements). A build without OpenMP
// parallelism (EIGEN_DONT_PARALLELIZE: the TSan build) runs on one.
#ifndef STRATA_CORE_NN_GEMM_H_
#define STRATA_CORE_NN_GEMM_H_

#include <omp.h>

#include <algorithm>

#include "core/nn/fixed_order_gemm.h"
#include "core/nn/matrix.h"

namespace strata {

// Threads for a product of (rows x inner) by (inner x cols), split along
// `extent` (its rows or cols): at most one per 48-wide block of the extent
// and one per 2^20 multiply-adds (tens of microseconds on one core, a few
// times what waking an OpenMP team costs), within omp_get_max_threads(). Without the work bound
// a one-row Encode of a 1000-wide layer forked 20 threads, on every gRPC
// thread serving such calls at once.
inline int SplitThreads(Eigen::Index rows, Eigen::Index inner, Eigen::Index cols,
                        Eigen::Index extent) {
  constexpr Eigen::Index kMinBlock = 48;
  constexpr double kMinMultiplyAddsPerThread = 1 << 20;
  const double work = static_cast<double>(rows) * static_cast<double>(inner) * static_cast<double>(cols);
  const Eigen::Index by_work = static_cast<Eigen::Index>(work / kMinMultiplyAddsPerThread);
  return static_cast<int>(std::max<Eigen::Index>(
      1, std::min({static_cast<Eigen::Index>(omp_get_max_threads()), extent / kMinBlock, by_work})));
}

// dst = lhs * rhs (dst resized), or dst += lhs * rhs when `accumulate`.
// lhs and rhs are matrices, blocks or transposes of them (direct access).
template <typename Lhs, typename Rhs, typename T>
void SplitProduct(const Lhs& lhs, const Rhs& rhs, Split split, MatrixT<T>* dst,
                  bool accumulate = false) {
  if (!accumulate) dst->resize(lhs.rows(), rhs.cols());
#ifdef EIGEN_DONT_PARALLELIZE
  const int threads = 1;
#else
  const Eigen::Index extent = split == Split::kRows ? dst->rows() : dst->cols();
  const int threads =
      omp_in_parallel() ? 1 : SplitThreads(lhs.rows(), lhs.cols(), rhs.cols(), extent);
#endif
  FixedOrderProduct<T>(ViewOf(lhs), ViewOf(rhs), dst->data(), dst->cols(), accumulate, split,
                       threads);
}


}  // namespace strata

#endif  // STRATA_CORE_NN_GEMM_H_

// Matrix products for the layer shapes of training and inference.
//
//   SplitProduct(x, w, Split::kCols, &y);            // y = x * w
//   SplitProduct(x.transpose(), d, Split::kRows, &g);  // g = x^T * d
//
// Each OpenMP thread of the caller computes one contiguous block of the
// result's rows or columns with a single-threaded Eigen GEMM. At training
// batch sizes (~128 rows) this runs 20-25% faster than Eigen's own parallel
// GEMM, whose threads share packed panels and wait on each other; which
// dimension to split is the caller's choice (bench/README.md has the
// measurements). Small results, a single thread, or a build without OpenMP
// parallelism (EIGEN_DONT_PARALLELIZE) use Eigen's product as is.
#ifndef STRATA_CORE_GEMM_H_
#define STRATA_CORE_GEMM_H_

#include <omp.h>

#include <algorithm>

#include "core/matrix.h"

namespace strata {

enum class Split { kRows, kCols };

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
template <typename Lhs, typename Rhs, typename T>
void SplitProduct(const Lhs& lhs, const Rhs& rhs, Split split, MatrixT<T>* dst,
                  bool accumulate = false) {
  if (!accumulate) dst->resize(lhs.rows(), rhs.cols());
  // Blocks are whole cache lines of floats and at least this wide.
  constexpr Eigen::Index kAlign = 16;
  const Eigen::Index extent = split == Split::kRows ? dst->rows() : dst->cols();
#ifdef EIGEN_DONT_PARALLELIZE
  const int threads = 1;
#else
  const int threads =
      omp_in_parallel() ? 1 : SplitThreads(lhs.rows(), lhs.cols(), rhs.cols(), extent);
#endif
  if (threads <= 1) {
#ifndef EIGEN_DONT_PARALLELIZE
    // Eigen's own GEMM would fork an OpenMP team of omp_get_max_threads()
    // for any product past its small threshold (a 256 x 64 by 64 x 32 layer
    // did, on every call); the bound above is the one that holds. The
    // count is the calling thread's own setting, restored after.
    const int max_threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    if (accumulate) {
      dst->noalias() += lhs * rhs;
    } else {
      dst->noalias() = lhs * rhs;
    }
#ifndef EIGEN_DONT_PARALLELIZE
    omp_set_num_threads(max_threads);
#endif
    return;
  }
  // Blocks of ceil(extent / threads) rounded up to whole cache lines, so
  // that `threads` blocks always cover the extent.
  const Eigen::Index per = ((extent + threads - 1) / threads + kAlign - 1) / kAlign * kAlign;
#pragma omp parallel num_threads(threads)
  {
    const Eigen::Index begin = std::min<Eigen::Index>(extent, omp_get_thread_num() * per);
    const Eigen::Index n = std::min(per, extent - begin);
    if (n > 0) {
      if (split == Split::kRows) {
        auto block = dst->middleRows(begin, n);
        if (accumulate) {
          block.noalias() += lhs.middleRows(begin, n) * rhs;
        } else {
          block.noalias() = lhs.middleRows(begin, n) * rhs;
        }
      } else {
        auto block = dst->middleCols(begin, n);
        if (accumulate) {
          block.noalias() += lhs * rhs.middleCols(begin, n);
        } else {
          block.noalias() = lhs * rhs.middleCols(begin, n);
        }
      }
    }
  }
}

// The split that measured fastest for a layer's product with `cols` outputs:
// across outputs when there are enough of them, else across rows.
inline Split SplitFor(Eigen::Index rows, Eigen::Index cols) {
  return cols >= 128 || cols >= rows ? Split::kCols : Split::kRows;
}

}  // namespace strata

#endif  // STRATA_CORE_GEMM_H_

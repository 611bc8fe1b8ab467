// A matrix product whose every element is reduced in one fixed order,
// whatever the shape of the product, the thread count or the CPU:
//
//   acc = +0; for p = 0 .. k-1: acc = fma(a(i, p), b(p, j), acc); c(i, j) = acc
//
// (c(i, j) += acc when accumulating; with k = 0 that leaves c as it is),
// that is, from p = 0 upwards, one correctly rounded fused multiply-add per
// term, each element its own accumulator. A row's outputs therefore depend
// on that row alone, never on how many rows share the call, where the row
// sits among them, how the work is split between threads, or whether a
// vector register holds 8 or 16 lanes (a fused multiply-add rounds once in
// every lane of every instruction set). Eigen's GEMM gives none of these: its
// kernels for the last rows of a block and for a single row sum in other
// orders, so a record scored alone and in a batch of 7 came out up to 2.4%
// apart through a badly conditioned score (issue 32).
//
//   FixedOrderProduct<float>(ViewOf(x), ViewOf(w), y.data(), y.cols(),
//                            /*accumulate=*/false, Split::kCols, threads);
//
// Two loop orders compute those chains, in kernels chosen for the CPU when
// the process starts (core/nn/fixed_order_kernels.h: AVX2 or AVX-512, the
// same bits). A product of up to 4 rows (a one-row request) streams `b` row
// by row, front to back, updating every output of the row in memory. Larger
// ones keep a block of up to 6 rows x 64 columns (AVX-512; 6 x 16 on AVX2)
// of outputs in registers and read `b` in column panels: in place when its
// rows are contiguous (the last, partial panel through masked loads), else
// packed, or, when that copies less, as the transposed product b' a'.
// Every path gives every element the same chain. bench/README.md ("Issue
// 32", "Issue 35") has their speed against Eigen's and the FMA peak.
#ifndef STRATA_CORE_NN_FIXED_ORDER_GEMM_H_
#define STRATA_CORE_NN_FIXED_ORDER_GEMM_H_

#include <Eigen/Core>

#include <type_traits>

#include "core/nn/strided_matrix.h"

namespace strata {

static_assert(std::is_same_v<Eigen::Index, std::ptrdiff_t>,
              "StridedMatrix's indices are Eigen's");

// The view of a dense Eigen expression with direct access (a matrix, a
// block of one, a Ref, or a transpose of any of these).
template <typename Derived>
StridedMatrix<typename Derived::Scalar> ViewOf(const Eigen::DenseBase<Derived>& x) {
  const Derived& d = x.derived();
  return {d.data(), d.rows(), d.cols(), d.rowStride(), d.colStride()};
}

// c (a.rows x b.cols, row i at c + i * ldc) = a * b, or c += a * b when
// `accumulate` (the product first, then added to c). `threads` > 1 runs
// on that many OpenMP threads, split as `split` says. REQUIRES: a.cols ==
// b.rows; c does not overlap a or b.
template <typename T>
void FixedOrderProduct(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Eigen::Index ldc,
                       bool accumulate, Split split, int threads);

// The instruction set the products of this process run: "avx2" or
// "avx512" (chosen at start; see core/nn/fixed_order_kernels.h).
const char* FixedOrderKernelIsa();

extern template void FixedOrderProduct<float>(const StridedMatrix<float>&,
                                              const StridedMatrix<float>&, float*, Eigen::Index,
                                              bool, Split, int);
extern template void FixedOrderProduct<double>(const StridedMatrix<double>&,
                                               const StridedMatrix<double>&, double*, Eigen::Index,
                                               bool, Split, int);

}  // namespace strata

#endif  // STRATA_CORE_NN_FIXED_ORDER_GEMM_H_

// The single-thread kernels of core/nn/fixed_order_gemm.h, one set per
// instruction set, chosen when the process starts (runtime dispatch). Each
// set is compiled in its own file with its own target flags (AVX2 + FMA;
// AVX-512), so that one binary, built portable or native, runs the widest
// vectors the CPU has. Every set computes the same chains, one correctly
// rounded fused multiply-add per term in the same order, so every set gives
// the same bits: tests/core/nn/fixed_order_gemm_test.cc checks it on a CPU
// that has both.
//
// STRATA_GEMM_ISA=avx2 (or avx512) in the environment forces a set, for
// tests and benchmarks; a set the CPU lacks, or another value, stops the
// process at start with a message.
//
// Internal to core/nn/.
#ifndef STRATA_CORE_NN_FIXED_ORDER_KERNELS_H_
#define STRATA_CORE_NN_FIXED_ORDER_KERNELS_H_

#include <cstddef>

#include "core/nn/strided_matrix.h"

namespace strata {
namespace fixed_order_internal {

using Index = std::ptrdiff_t;

// Rows of the result held in registers at once.
constexpr int kBlockRows = 6;

// Columns [j, j + widths * lanes) of b as k rows, row p at data + p * stride;
// `cols` of them are real, the rest padding.
template <typename T>
struct Panel {
  const T* data;
  Index stride;
  Index cols;
};

template <typename T>
struct Kernels {
  const char* isa;  // "avx2" or "avx512"
  int lanes;        // elements of T in one vector
  // Vectors of a panel for a block of kBlockRows rows: as many as the
  // registers hold beside the kBlockRows x block_widths accumulators (2 of
  // AVX2's 16 registers, 4 of AVX-512's 32: 6 x 64 floats).
  int block_widths;
  // Up to kBlockRows rows of c (a's rows at a, a + a_rs, ...; term p of row
  // r at a[r * a_rs + p * a_cs]) times one panel `widths` vectors wide
  // (1, 2, 4 or 8): each element one accumulator from 0, fused
  // multiply-adds from p = 0 upwards, then stored (or added, `accumulate`).
  void (*row_block)(int rows, int widths, Index k, const T* a, Index a_rs, Index a_cs,
                    const Panel<T>& b, T* c, Index ldc, bool accumulate);
  // Columns [j_begin, j_end) of a product of few rows, b (contiguous rows)
  // streamed row by row; the same chains, kept in `scratch` (a.rows *
  // (j_end - j_begin) elements) between terms.
  void (*streamed_rows)(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Index ldc,
                        bool accumulate, Index j_begin, Index j_end, T* scratch);
};

// The sets compiled into this binary (fixed_order_kernels_avx2.cc,
// fixed_order_kernels_avx512.cc).
const Kernels<float>& Avx2Float();
const Kernels<double>& Avx2Double();
const Kernels<float>& Avx512Float();
const Kernels<double>& Avx512Double();

// Whether the CPU has AVX-512 F, BW, DQ and VL (x86-64-v4), which the
// AVX-512 set needs.
bool CpuHasAvx512();

// The set this process runs (see the top of this file).
template <typename T>
const Kernels<T>& ActiveKernels();

// FixedOrderProduct with the given set.
template <typename T>
void ProductWith(const Kernels<T>& kernels, const StridedMatrix<T>& a, const StridedMatrix<T>& b,
                 T* c, Index ldc, bool accumulate, Split split, int threads);

}  // namespace fixed_order_internal
}  // namespace strata

#endif  // STRATA_CORE_NN_FIXED_ORDER_KERNELS_H_

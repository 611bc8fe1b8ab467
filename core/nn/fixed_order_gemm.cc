#include "core/nn/fixed_order_gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/nn/fixed_order_kernels.h"

namespace strata {
namespace fixed_order_internal {

template <typename T>
const Kernels<T>& KernelsFor(bool avx512);
template <>
const Kernels<float>& KernelsFor<float>(bool avx512) {
  return avx512 ? Avx512Float() : Avx2Float();
}
template <>
const Kernels<double>& KernelsFor<double>(bool avx512) {
  return avx512 ? Avx512Double() : Avx2Double();
}

// Whether this process runs the AVX-512 set: STRATA_GEMM_ISA when set (a set
// the CPU lacks ends the process here, with the reason, rather than at its
// first illegal instruction), else whether the CPU has AVX-512 F, BW, DQ
// and VL (x86-64-v4).
bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

bool UseAvx512() {
  static const bool use = [] {
    const bool has = CpuHasAvx512();
    const char* forced = std::getenv("STRATA_GEMM_ISA");
    if (forced == nullptr || forced[0] == '\0') return has;
    const std::string isa = forced;
    if (isa == "avx2") return false;
    if (isa == "avx512" && has) return true;
    std::fprintf(stderr, "STRATA_GEMM_ISA=%s: %s\n", forced,
                 isa == "avx512" ? "this CPU has no AVX-512 (F, BW, DQ, VL)"
                                 : "unknown; use avx2 or avx512");
    std::abort();
  }();
  return use;
}

template <typename T>
const Kernels<T>& ActiveKernels() {
  return KernelsFor<T>(UseAvx512());
}
template const Kernels<float>& ActiveKernels<float>();
template const Kernels<double>& ActiveKernels<double>();

}  // namespace fixed_order_internal

namespace {

using fixed_order_internal::ActiveKernels;
using fixed_order_internal::Index;
using fixed_order_internal::kBlockRows;
using fixed_order_internal::Kernels;
using fixed_order_internal::Panel;

// Products of at most this many rows stream b in order (StreamedRows).
constexpr Index kStreamedRows = 4;
// What one pass over a group of panels keeps in the L2 cache while every
// block of rows goes by.
constexpr Index kPanelGroupBytes = Index{256} << 10;

// The product with panels `widths` vectors wide.
template <typename T>
void Product(const Kernels<T>& kernels, int widths, const StridedMatrix<T>& a,
             const StridedMatrix<T>& b, T* c, Index ldc, bool accumulate, Split split,
             int threads) {
  const Index kWidth = Index{widths} * kernels.lanes;
  const Index m = a.rows, n = b.cols, k = a.cols;
  const Index panels = (n + kWidth - 1) / kWidth;
  // Whole panels of a b whose rows are contiguous are read in place; the
  // others (all of a transposed b, or the last, partial panel) are copied
  // into zero-padded panels first.
  const Index in_place = b.col_stride == 1 ? n / kWidth : 0;
  std::vector<T> packed(static_cast<size_t>((panels - in_place) * k * kWidth), T(0));
  for (Index t = in_place; t < panels; ++t) {
    T* out = packed.data() + (t - in_place) * k * kWidth;
    const Index j0 = t * kWidth, width = std::min(kWidth, n - j0);
    const T* in = b.data + j0 * b.col_stride;
    // Read along b's contiguous dimension: a transposed b (a tied decoder's
    // weights, backprop's W') along p, column by column.
    if (b.row_stride < b.col_stride) {
      for (Index j = 0; j < width; ++j) {
        for (Index p = 0; p < k; ++p) {
          out[p * kWidth + j] = in[p * b.row_stride + j * b.col_stride];
        }
      }
    } else {
      for (Index p = 0; p < k; ++p) {
        for (Index j = 0; j < width; ++j) {
          out[p * kWidth + j] = in[p * b.row_stride + j * b.col_stride];
        }
      }
    }
  }
  const auto panel = [&](Index t) -> Panel<T> {
    const Index j0 = t * kWidth, width = std::min(kWidth, n - j0);
    if (t < in_place) return {b.data + j0, b.row_stride, width};
    return {packed.data() + (t - in_place) * k * kWidth, kWidth, width};
  };
  const Index row_blocks = (m + kBlockRows - 1) / kBlockRows;
  const Index group = std::max<Index>(
      1, kPanelGroupBytes / std::max<Index>(1, k * kWidth * static_cast<Index>(sizeof(T))));
  const auto run = [&](Index rb_begin, Index rb_end, Index t_begin, Index t_end) {
    for (Index t0 = t_begin; t0 < t_end; t0 += group) {
      const Index t1 = std::min(t_end, t0 + group);
      for (Index rb = rb_begin; rb < rb_end; ++rb) {
        const Index i0 = rb * kBlockRows;
        const int rows = static_cast<int>(std::min<Index>(kBlockRows, m - i0));
        for (Index t = t0; t < t1; ++t) {
          kernels.row_block(rows, widths, k, a.data + i0 * a.row_stride, a.row_stride,
                            a.col_stride, panel(t), c + i0 * ldc + t * kWidth, ldc, accumulate);
        }
      }
    }
  };
  if (threads <= 1) {
    run(0, row_blocks, 0, panels);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const Index id = omp_get_thread_num(), count = omp_get_num_threads();
    const Index extent = split == Split::kRows ? row_blocks : panels;
    const Index per = (extent + count - 1) / count;
    const Index begin = std::min(extent, id * per), end = std::min(extent, begin + per);
    if (begin < end) {
      if (split == Split::kRows) {
        run(begin, end, 0, panels);
      } else {
        run(0, row_blocks, begin, end);
      }
    }
  }
}

}  // namespace

const char* FixedOrderKernelIsa() { return ActiveKernels<float>().isa; }

template <typename T>
void FixedOrderProduct(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Index ldc,
                       bool accumulate, Split split, int threads) {
  fixed_order_internal::ProductWith(ActiveKernels<T>(), a, b, c, ldc, accumulate, split, threads);
}

template <typename T>
void fixed_order_internal::ProductWith(const Kernels<T>& kernels, const StridedMatrix<T>& a,
                                       const StridedMatrix<T>& b, T* c, Index ldc, bool accumulate,
                                       Split split, int threads) {
  const Index m = a.rows, n = b.cols;
  if (m == 0 || n == 0) return;
  if (a.cols == 0) {
    if (!accumulate) {
      for (Index i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
    }
    return;
  }
  if (m <= kStreamedRows && b.col_stride == 1) {
    // Few rows of a b with contiguous rows (every layer's forward product):
    // b streamed in order, split between threads by whole vectors of columns.
    const Index kLanesT = kernels.lanes;
    if (threads <= 1) {
      std::vector<T> scratch(static_cast<size_t>(m * n));
      kernels.streamed_rows(a, b, c, ldc, accumulate, 0, n, scratch.data());
      return;
    }
#pragma omp parallel num_threads(threads)
    {
      const Index id = omp_get_thread_num(), count = omp_get_num_threads();
      const Index vectors = (n + kLanesT - 1) / kLanesT;
      const Index per = (vectors + count - 1) / count;
      const Index begin = std::min(n, id * per * kLanesT);
      const Index end = std::min(n, begin + per * kLanesT);
      if (begin < end) {
        std::vector<T> scratch(static_cast<size_t>(m * (end - begin)));
        kernels.streamed_rows(a, b, c, ldc, accumulate, begin, end, scratch.data());
      }
    }
    return;
  }
  // Independent chains: a block of up to 6 rows x 2 widths, or, with fewer
  // rows, more widths (4 for 2-3 rows, 8 for one), never wider than b.
  const Index needed = (n + kernels.lanes - 1) / kernels.lanes;
  Index widths = m >= 4 ? 2 : m >= 2 ? 4 : 8;
  widths = std::min<Index>(widths, needed <= 1 ? 1 : needed <= 2 ? 2 : needed <= 4 ? 4 : 8);
  Product<T>(kernels, static_cast<int>(widths), a, b, c, ldc, accumulate, split, threads);
}

template void fixed_order_internal::ProductWith<float>(const Kernels<float>&,
                                                      const StridedMatrix<float>&,
                                                      const StridedMatrix<float>&, float*, Index,
                                                      bool, Split, int);
template void fixed_order_internal::ProductWith<double>(const Kernels<double>&,
                                                       const StridedMatrix<double>&,
                                                       const StridedMatrix<double>&, double*,
                                                       Index, bool, Split, int);
template void FixedOrderProduct<float>(const StridedMatrix<float>&, const StridedMatrix<float>&,
                                       float*, Index, bool, Split, int);
template void FixedOrderProduct<double>(const StridedMatrix<double>&, const StridedMatrix<double>&,
                                        double*, Index, bool, Split, int);

}  // namespace strata

#include "core/nn/fixed_order_gemm.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
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
// first illegal instruction), else whether the CPU has the AVX-512 of
// x86-64-v4: F, BW, CD, DQ and VL. (The rest of v4 is x86-64-v3, which the
// whole build requires.)
bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
}

bool UseAvx512() {
  static const bool use = [] {
    const bool has = CpuHasAvx512();
    const char* forced = std::getenv("STRATA_GEMM_ISA");
    if (forced == nullptr || forced[0] == '\0') return has;
    std::string isa = forced;
    for (char& ch : isa) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (isa == "avx2") return false;
    if (isa == "avx512" && has) return true;
    std::fprintf(stderr, "STRATA_GEMM_ISA=%s: %s\n", forced,
                 isa == "avx512" ? "this CPU has no AVX-512 (F, BW, CD, DQ, VL)"
                                 : "unknown; use avx2 or avx512");
    std::abort();
  }();
  return use;
}

// Chosen when the process starts, so that a bad STRATA_GEMM_ISA stops a
// server before it serves, not at its first request.
[[maybe_unused]] const bool kChosenAtStart = UseAvx512();

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
  // A b whose rows are contiguous is read in place (the last, partial
  // panel through masked loads); a transposed one is first copied into
  // zero-padded panels, by the threads that then share them.
  const Index in_place = b.col_stride == 1 ? panels : 0;
  // (Nothing to allocate for a b read in place: every Encode's products.)
  std::unique_ptr<T[]> packed;
  if (panels > in_place) packed.reset(new T[static_cast<size_t>((panels - in_place) * k * kWidth)]);
  const auto pack = [&](Index t) {
    T* out = packed.get() + (t - in_place) * k * kWidth;
    const Index j0 = t * kWidth, width = std::min(kWidth, n - j0);
    const T* in = b.data + j0 * b.col_stride;
    if (width < kWidth) {
      for (Index p = 0; p < k; ++p) std::fill(out + p * kWidth + width, out + (p + 1) * kWidth, T(0));
    }
    if (b.row_stride < b.col_stride) {
      // A transposed b (a tied decoder's weights, backprop's W'): read along
      // p, its contiguous dimension, kPackDepth rows of the panel at a time,
      // so that the rows being written stay in the L1 cache.
      constexpr Index kPackDepth = 16;
      for (Index p0 = 0; p0 < k; p0 += kPackDepth) {
        const Index p1 = std::min(k, p0 + kPackDepth);
        for (Index j = 0; j < width; ++j) {
          const T* column = in + j * b.col_stride;
          for (Index p = p0; p < p1; ++p) out[p * kWidth + j] = column[p * b.row_stride];
        }
      }
    } else {
      for (Index p = 0; p < k; ++p) {
        for (Index j = 0; j < width; ++j) {
          out[p * kWidth + j] = in[p * b.row_stride + j * b.col_stride];
        }
      }
    }
  };
  const auto panel = [&](Index t) -> Panel<T> {
    const Index j0 = t * kWidth, width = std::min(kWidth, n - j0);
    if (t < in_place) return {b.data + j0, b.row_stride, width};
    return {packed.get() + (t - in_place) * k * kWidth, kWidth, width};
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
    for (Index t = in_place; t < panels; ++t) pack(t);
    run(0, row_blocks, 0, panels);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (Index t = in_place; t < panels; ++t) pack(t);
    // (the loop's end waits for every thread: all panels are packed)
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

// c (+)= a b computed as its transpose, c' = b' a', into a buffer, then
// written back transposed. For a b that must be packed whole (stored
// transposed: backprop's D W') when a' is smaller to pack: b' is then read
// in place, as the left operand, and only a' (m x k) and the result (m x n)
// are copied, against b's k x n. Each element is the same chain either way.
template <typename T>
void ProductAsTranspose(const Kernels<T>& kernels, const StridedMatrix<T>& a,
                        const StridedMatrix<T>& b, T* c, Index ldc, bool accumulate, int threads) {
  const Index m = a.rows, n = b.cols, k = a.cols;
  const StridedMatrix<T> bt{b.data, n, k, b.col_stride, b.row_stride};
  const StridedMatrix<T> at{a.data, k, m, a.col_stride, a.row_stride};
  std::unique_ptr<T[]> ct(new T[static_cast<size_t>(n * m)]);
  fixed_order_internal::ProductWith(kernels, bt, at, ct.get(), m, false, SplitFor(n, m),
                                    threads);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (Index i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    const T* column = ct.get() + i;
    if (accumulate) {
      for (Index j = 0; j < n; ++j) row[j] += column[j * m];
    } else {
      for (Index j = 0; j < n; ++j) row[j] = column[j * m];
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
  const Index m = a.rows, n = b.cols, k = a.cols;
  if (m == 0 || n == 0) return;
  if (k == 0) {
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
  if (b.col_stride != 1 && b.row_stride < b.col_stride && m * (k + n) < n * k) {
    ProductAsTranspose(kernels, a, b, c, ldc, accumulate, threads);
    return;
  }
  // Independent chains: a block of up to 6 rows x the set's block_widths,
  // or, with fewer rows, more widths (4 for 2-3 rows, 8 for one), never
  // wider than b.
  const Index needed = (n + kernels.lanes - 1) / kernels.lanes;
  Index widths = m >= 4 ? kernels.block_widths : m >= 2 ? 4 : 8;
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

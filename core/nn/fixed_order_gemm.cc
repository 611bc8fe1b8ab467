#include "core/nn/fixed_order_gemm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

// Every term must be one fused multiply-add: without FMA, Eigen's pmadd is
// a multiply and an add, two roundings, and the answers would change with
// the build. x86-64-v3 (the portable build) and every native target of the
// project have it.
#ifndef EIGEN_VECTORIZE_FMA
#error "fixed_order_gemm needs FMA (build with -march=x86-64-v3 or newer)"
#endif

namespace strata {
namespace {

using Eigen::Index;
namespace ei = Eigen::internal;

template <typename T>
using Packet = typename ei::packet_traits<T>::type;
template <typename T>
constexpr int kLanes = ei::unpacket_traits<Packet<T>>::size;

// Rows of the result held in registers at once.
constexpr int kBlockRows = 6;
// Products of at most this many rows stream b in order (StreamedRows).
constexpr Index kStreamedRows = 4;
// What one pass over a group of panels keeps in the L2 cache while every
// block of rows goes by.
constexpr Index kPanelGroupBytes = Index{256} << 10;

// Columns [j, j + NP * lanes) of b as k rows, row p at data + p * stride;
// `cols` of them are real, the rest padding.
template <typename T>
struct Panel {
  const T* data;
  Index stride;
  Index cols;
};

// MR rows x one panel of the result: each element one accumulator, summed
// from p = 0 upwards with fused multiply-adds.
template <typename T, int MR, int NP>
void Block(Index k, const T* a, Index a_rs, Index a_cs, const Panel<T>& b, T* c, Index ldc,
           bool accumulate) {
  using P = Packet<T>;
  constexpr int L = kLanes<T>;
  P acc[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) acc[r][q] = ei::pset1<P>(T(0));
  }
  for (Index p = 0; p < k; ++p) {
    const T* bp = b.data + p * b.stride;
    P bv[NP];
    for (int q = 0; q < NP; ++q) bv[q] = ei::ploadu<P>(bp + q * L);
    const T* ap = a + p * a_cs;
    for (int r = 0; r < MR; ++r) {
      const P av = ei::pset1<P>(ap[r * a_rs]);
      for (int q = 0; q < NP; ++q) acc[r][q] = ei::pmadd(av, bv[q], acc[r][q]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    T* cr = c + r * ldc;
    if (b.cols == NP * L) {
      for (int q = 0; q < NP; ++q) {
        P v = acc[r][q];
        if (accumulate) v = ei::padd(ei::ploadu<P>(cr + q * L), v);
        ei::pstoreu(cr + q * L, v);
      }
    } else {
      // The same additions, one element at a time, for the real columns.
      alignas(64) T out[NP * L];
      for (int q = 0; q < NP; ++q) ei::pstoreu(out + q * L, acc[r][q]);
      for (Index j = 0; j < b.cols; ++j) cr[j] = accumulate ? cr[j] + out[j] : out[j];
    }
  }
}

template <typename T, int NP>
void RowBlock(int rows, Index k, const T* a, Index a_rs, Index a_cs, const Panel<T>& b, T* c,
              Index ldc, bool accumulate) {
  switch (rows) {
    case 1:
      return Block<T, 1, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
    case 2:
      return Block<T, 2, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
    case 3:
      return Block<T, 3, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
    case 4:
      return Block<T, 4, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
    case 5:
      return Block<T, 5, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
    default:
      return Block<T, kBlockRows, NP>(k, a, a_rs, a_cs, b, c, ldc, accumulate);
  }
}

// Rows of c for a product of few rows, columns [j_begin, j_end): b read a
// row at a time, front to back, each of its rows used by every row of a
// before the next (the way a one-row request wants it: the weights stream
// in order, where column panels read them a stride apart). Each element is
// the same chain as in Block: accumulators start at 0, then one fused
// multiply-add per p upwards, kept in memory between p's (a float store and
// load change nothing). REQUIRES: b.col_stride == 1; m * (j_end - j_begin)
// floats fit the cache (few rows).
template <typename T>
void StreamedRows(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Index ldc,
                  bool accumulate, Index j_begin, Index j_end) {
  using P = Packet<T>;
  constexpr Index L = kLanes<T>;
  // Rows of b taken per pass over the outputs: four terms of each chain
  // per load and store of its accumulator, in the chain's order.
  constexpr Index kDepth = 4;
  const Index m = a.rows, k = a.cols, width = j_end - j_begin;
  std::vector<T> acc(static_cast<size_t>(m * width), T(0));
  const auto x = [&](Index r, Index p) { return a.data[r * a.row_stride + p * a.col_stride]; };
  Index p = 0;
  for (; p + kDepth <= k; p += kDepth) {
    const T* b0 = b.data + p * b.row_stride + j_begin;
    const T* b1 = b0 + b.row_stride;
    const T* b2 = b1 + b.row_stride;
    const T* b3 = b2 + b.row_stride;
    for (Index r = 0; r < m; ++r) {
      const T x0 = x(r, p), x1 = x(r, p + 1), x2 = x(r, p + 2), x3 = x(r, p + 3);
      const P v0 = ei::pset1<P>(x0), v1 = ei::pset1<P>(x1), v2 = ei::pset1<P>(x2),
              v3 = ei::pset1<P>(x3);
      T* y = acc.data() + r * width;
      Index j = 0;
      for (; j + L <= width; j += L) {
        P t = ei::ploadu<P>(y + j);
        t = ei::pmadd(v0, ei::ploadu<P>(b0 + j), t);
        t = ei::pmadd(v1, ei::ploadu<P>(b1 + j), t);
        t = ei::pmadd(v2, ei::ploadu<P>(b2 + j), t);
        t = ei::pmadd(v3, ei::ploadu<P>(b3 + j), t);
        ei::pstoreu(y + j, t);
      }
      for (; j < width; ++j) {
        y[j] = std::fma(x3, b3[j],
                        std::fma(x2, b2[j], std::fma(x1, b1[j], std::fma(x0, b0[j], y[j]))));
      }
    }
  }
  for (; p < k; ++p) {
    const T* bp = b.data + p * b.row_stride + j_begin;
    for (Index r = 0; r < m; ++r) {
      const T xr = x(r, p);
      const P xv = ei::pset1<P>(xr);
      T* y = acc.data() + r * width;
      Index j = 0;
      for (; j + L <= width; j += L) {
        ei::pstoreu(y + j, ei::pmadd(xv, ei::ploadu<P>(bp + j), ei::ploadu<P>(y + j)));
      }
      for (; j < width; ++j) y[j] = std::fma(xr, bp[j], y[j]);
    }
  }
  for (Index r = 0; r < m; ++r) {
    T* cr = c + r * ldc + j_begin;
    const T* y = acc.data() + r * width;
    for (Index j = 0; j < width; ++j) cr[j] = accumulate ? cr[j] + y[j] : y[j];
  }
}

// The product with panels NP vector widths wide.
template <typename T, int NP>
void Product(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Index ldc, bool accumulate,
             Split split, int threads) {
  constexpr Index kWidth = Index{NP} * kLanes<T>;
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
          RowBlock<T, NP>(rows, k, a.data + i0 * a.row_stride, a.row_stride, a.col_stride, panel(t),
                          c + i0 * ldc + t * kWidth, ldc, accumulate);
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

template <typename T>
void FixedOrderProduct(const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, Index ldc,
                       bool accumulate, Split split, int threads) {
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
    constexpr Index kLanesT = kLanes<T>;
    if (threads <= 1) {
      StreamedRows(a, b, c, ldc, accumulate, 0, n);
      return;
    }
#pragma omp parallel num_threads(threads)
    {
      const Index id = omp_get_thread_num(), count = omp_get_num_threads();
      const Index vectors = (n + kLanesT - 1) / kLanesT;
      const Index per = (vectors + count - 1) / count;
      const Index begin = std::min(n, id * per * kLanesT);
      const Index end = std::min(n, begin + per * kLanesT);
      if (begin < end) StreamedRows(a, b, c, ldc, accumulate, begin, end);
    }
    return;
  }
  // Independent chains: a block of up to 6 rows x 2 widths, or, with fewer
  // rows, more widths (4 for 2-3 rows, 8 for one), never wider than b.
  constexpr Index kLanesT = kLanes<T>;
  const Index needed = (n + kLanesT - 1) / kLanesT;
  Index widths = m >= 4 ? 2 : m >= 2 ? 4 : 8;
  widths = std::min<Index>(widths, needed <= 1 ? 1 : needed <= 2 ? 2 : needed <= 4 ? 4 : 8);
  switch (widths) {
    case 1:
      return Product<T, 1>(a, b, c, ldc, accumulate, split, threads);
    case 2:
      return Product<T, 2>(a, b, c, ldc, accumulate, split, threads);
    case 4:
      return Product<T, 4>(a, b, c, ldc, accumulate, split, threads);
    default:
      return Product<T, 8>(a, b, c, ldc, accumulate, split, threads);
  }
}

template void FixedOrderProduct<float>(const StridedMatrix<float>&, const StridedMatrix<float>&,
                                       float*, Index, bool, Split, int);
template void FixedOrderProduct<double>(const StridedMatrix<double>&, const StridedMatrix<double>&,
                                        double*, Index, bool, Split, int);

}  // namespace strata

#include "core/fixed_order_gemm.h"

#include <omp.h>

#include <algorithm>
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

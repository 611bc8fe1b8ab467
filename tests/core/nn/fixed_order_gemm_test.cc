#include "core/nn/fixed_order_gemm.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/nn/fixed_order_kernels.h"
#include "core/nn/matrix.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using Eigen::Index;

// The kernel's promise, element by element: acc = 0, then acc = fma(a(i,
// p), b(p, j), acc) for p = 0, 1, ..., k - 1. std::fma rounds once, as
// every vector FMA instruction does, so the two must agree to the bit.
template <typename T>
MatrixT<T> Reference(const MatrixT<T>& a, const MatrixT<T>& b) {
  MatrixT<T> c(a.rows(), b.cols());
  for (Index i = 0; i < a.rows(); ++i) {
    for (Index j = 0; j < b.cols(); ++j) {
      T acc = 0;
      for (Index p = 0; p < a.cols(); ++p) acc = std::fma(a(i, p), b(p, j), acc);
      c(i, j) = acc;
    }
  }
  return c;
}

template <typename T>
bool SameBits(const MatrixT<T>& x, const MatrixT<T>& y) {
  return x.rows() == y.rows() && x.cols() == y.cols() &&
         std::memcmp(x.data(), y.data(), sizeof(T) * x.size()) == 0;
}

template <typename T>
MatrixT<T> RandomMatrix(Index rows, Index cols, std::mt19937_64* rng) {
  std::normal_distribution<double> normal;
  MatrixT<T> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(normal(*rng));
  return m;
}

// Every instruction set's kernels this CPU can run: AVX2 always, AVX-512
// where the CPU has it. Each must give the reference's bits, so they give
// each other's: a model scores the same on Zen 3 as on Zen 5.
template <typename T>
std::vector<const fixed_order_internal::Kernels<T>*> KernelSetsHere();
template <>
std::vector<const fixed_order_internal::Kernels<float>*> KernelSetsHere<float>() {
  if (!fixed_order_internal::CpuHasAvx512()) return {&fixed_order_internal::Avx2Float()};
  return {&fixed_order_internal::Avx2Float(), &fixed_order_internal::Avx512Float()};
}
template <>
std::vector<const fixed_order_internal::Kernels<double>*> KernelSetsHere<double>() {
  if (!fixed_order_internal::CpuHasAvx512()) return {&fixed_order_internal::Avx2Double()};
  return {&fixed_order_internal::Avx2Double(), &fixed_order_internal::Avx512Double()};
}

// Starts from NaN, so that an element no block wrote shows.
template <typename T>
MatrixT<T> Product(const MatrixT<T>& a, const MatrixT<T>& b, Split split, int threads) {
  MatrixT<T> c = MatrixT<T>::Constant(a.rows(), b.cols(), std::numeric_limits<T>::quiet_NaN());
  FixedOrderProduct<T>(ViewOf(a), ViewOf(b), c.data(), c.cols(), false, split, threads);
  return c;
}

// The same through one set of kernels.
template <typename T>
MatrixT<T> ProductWith(const fixed_order_internal::Kernels<T>& kernels, const MatrixT<T>& a,
                       const MatrixT<T>& b, Split split, int threads) {
  MatrixT<T> c = MatrixT<T>::Constant(a.rows(), b.cols(), std::numeric_limits<T>::quiet_NaN());
  fixed_order_internal::ProductWith<T>(kernels, ViewOf(a), ViewOf(b), c.data(), c.cols(), false,
                                       split, threads);
  return c;
}

template <typename T>
void ExpectEveryShapeMatchesTheReference() {
  std::mt19937_64 rng(7);
  const auto sets = KernelSetsHere<T>();
  // Rows around the 6-row block and the one-row case; columns around one
  // and two vector widths (8 and 16 floats on AVX2, 16 and 32 on AVX-512);
  // depths from 1 to several hundred.
  for (const Index m : {1, 2, 3, 5, 6, 7, 13, 64}) {
    for (const Index n : {1, 3, 8, 15, 16, 17, 33, 70}) {
      for (const Index k : {1, 2, 9, 100, 300}) {
        const MatrixT<T> a = RandomMatrix<T>(m, k, &rng);
        const MatrixT<T> b = RandomMatrix<T>(k, n, &rng);
        const MatrixT<T> expected = Reference(a, b);
        // b also as the transpose of a stored matrix (strided: the packed
        // panels), as a tied decoder's weights are.
        const MatrixT<T> bt = b.transpose();
        for (const Split split : {Split::kRows, Split::kCols}) {
          for (const int threads : {1, 3}) {
            EXPECT_TRUE(SameBits(Product(a, b, split, threads), expected))
                << m << "x" << k << " by " << k << "x" << n << ", " << threads << " threads";
            for (const auto* set : sets) {
              EXPECT_TRUE(SameBits(ProductWith(*set, a, b, split, threads), expected))
                  << set->isa << ": " << m << "x" << k << " by " << k << "x" << n << ", "
                  << threads << " threads";
              MatrixT<T> strided =
                  MatrixT<T>::Constant(m, n, std::numeric_limits<T>::quiet_NaN());
              fixed_order_internal::ProductWith<T>(*set, ViewOf(a), ViewOf(bt.transpose()),
                                                   strided.data(), n, false, split, threads);
              EXPECT_TRUE(SameBits(strided, expected))
                  << set->isa << ": " << m << "x" << k << " by a transposed " << k << "x" << n
                  << ", " << threads << " threads";
            }
          }
        }
      }
    }
  }
}

TEST(FixedOrderProductTest, EveryElementIsTheFusedMultiplyAddChainInOrderFloat) {
  ExpectEveryShapeMatchesTheReference<float>();
}

TEST(FixedOrderProductTest, EveryElementIsTheFusedMultiplyAddChainInOrderDouble) {
  ExpectEveryShapeMatchesTheReference<double>();
}

// The property serving needs: a row's outputs are the same bits alone, in
// any batch, at any position.
TEST(FixedOrderProductTest, ARowsOutputsDoNotDependOnTheRowsBesideIt) {
  std::mt19937_64 rng(11);
  const Matrix w = RandomMatrix<float>(784, 250, &rng);
  const Matrix batch = RandomMatrix<float>(97, 784, &rng);
  const Matrix all = Product(batch, w, Split::kCols, 2);
  for (Index r = 0; r < batch.rows(); ++r) {
    const Matrix alone = Product<float>(batch.row(r), w, Split::kRows, 1);
    ASSERT_TRUE(SameBits<float>(alone, all.row(r))) << "row " << r;
  }
  // And in a batch of 7 starting anywhere.
  for (Index start = 0; start + 7 <= batch.rows(); start += 5) {
    const Matrix seven = Product<float>(batch.middleRows(start, 7), w, Split::kRows, 1);
    ASSERT_TRUE(SameBits<float>(seven, all.middleRows(start, 7))) << "rows from " << start;
  }
}

// Transposed operands (strided views) and accumulation, as backprop uses
// them: dW += X' D and dX = D W'.
TEST(FixedOrderProductTest, TransposedOperandsAndAccumulation) {
  std::mt19937_64 rng(3);
  const Matrix x = RandomMatrix<float>(37, 21, &rng);
  const Matrix d = RandomMatrix<float>(37, 18, &rng);
  const Matrix w = RandomMatrix<float>(21, 18, &rng);
  const Matrix xt = x.transpose();
  const Matrix wt = w.transpose();

  Matrix grad = RandomMatrix<float>(21, 18, &rng);
  Matrix expected = grad;
  const Matrix product = Reference<float>(xt, d);
  // c += a * b is the product first, then one addition per element.
  for (Index i = 0; i < expected.size(); ++i) expected.data()[i] += product.data()[i];
  FixedOrderProduct<float>(ViewOf(x.transpose()), ViewOf(d), grad.data(), grad.cols(), true,
                           Split::kRows, 2);
  EXPECT_TRUE(SameBits(grad, expected));

  Matrix back(37, 21);
  FixedOrderProduct<float>(ViewOf(d), ViewOf(w.transpose()), back.data(), back.cols(), false,
                           Split::kCols, 1);
  EXPECT_TRUE(SameBits(back, Reference<float>(d, wt)));
}

// Accumulation (c += a * b: the product first, then one addition per
// element) on every path and every set of kernels: a partial panel (its
// masked loads and stores), a packed transposed b, and a transposed b few
// rows wide enough that the product runs as its own transpose (b' a',
// written back transposed).
TEST(FixedOrderProductTest, AccumulationOnEveryPathAndKernelSet) {
  std::mt19937_64 rng(5);
  struct Shape {
    Index m, k, n;
    bool transposed_b;
  };
  // 3 x 300 by 300 x 70 transposed: 3 * (300 + 70) < 70 * 300, so the
  // product runs as its transpose; 40 x 30 by 30 x 50 transposed: packed.
  // 2 x 50 by 50 x 40: few rows, streamed.
  for (const Shape& shape : {Shape{21, 37, 18, false}, Shape{3, 300, 70, true},
                             Shape{40, 30, 50, true}, Shape{1, 200, 33, true},
                             Shape{2, 50, 40, false}}) {
    const Matrix a = RandomMatrix<float>(shape.m, shape.k, &rng);
    const Matrix b = RandomMatrix<float>(shape.k, shape.n, &rng);
    const Matrix bt = b.transpose();
    const Matrix start = RandomMatrix<float>(shape.m, shape.n, &rng);
    Matrix expected = start;
    const Matrix product = Reference<float>(a, b);
    for (Index i = 0; i < expected.size(); ++i) expected.data()[i] += product.data()[i];
    for (const auto* set : KernelSetsHere<float>()) {
      for (const int threads : {1, 2}) {
        Matrix c = start;
        const StridedMatrix<float> bv = shape.transposed_b ? ViewOf(bt.transpose()) : ViewOf(b);
        fixed_order_internal::ProductWith<float>(*set, ViewOf(a), bv, c.data(), c.cols(), true,
                                                 SplitFor(shape.m, shape.n), threads);
        EXPECT_TRUE(SameBits(c, expected))
            << set->isa << ": " << shape.m << "x" << shape.k << " by " << shape.k << "x"
            << shape.n << (shape.transposed_b ? " (transposed)" : "") << ", " << threads
            << " threads";
      }
    }
  }
}

// The result as a block of a wider matrix (ldc > n), on every path and set:
// the block gets the reference's bits, and the columns beside it (what a
// masked store or a transposed write-back must not touch) keep theirs.
template <typename T>
void ExpectABlockOfAWiderResultLeavesTheRestAlone() {
  std::mt19937_64 rng(9);
  constexpr Index kExtra = 7;
  // Blocks of 6 rows with a masked last panel; few rows (streamed); a
  // transposed b run as the transposed product; a packed transposed b.
  const std::vector<std::tuple<Index, Index, Index, bool>> shapes = {
      {13, 40, 70, false}, {3, 40, 70, false}, {2, 300, 70, true}, {30, 20, 33, true}};
  for (const auto& [m, k, n, transposed] : shapes) {
    const MatrixT<T> a = RandomMatrix<T>(m, k, &rng);
    const MatrixT<T> b = RandomMatrix<T>(k, n, &rng);
    const MatrixT<T> bt = b.transpose();
    const MatrixT<T> expected = Reference(a, b);
    for (const auto* set : KernelSetsHere<T>()) {
      MatrixT<T> wide = MatrixT<T>::Constant(m, n + kExtra, T(1234.5));
      const StridedMatrix<T> bv = transposed ? ViewOf(bt.transpose()) : ViewOf(b);
      fixed_order_internal::ProductWith<T>(*set, ViewOf(a), bv, wide.data(), n + kExtra, false,
                                           SplitFor(m, n), 2);
      EXPECT_TRUE(SameBits<T>(wide.leftCols(n), expected))
          << set->isa << ": " << m << "x" << k << " by " << k << "x" << n;
      EXPECT_TRUE((wide.rightCols(kExtra).array() == T(1234.5)).all())
          << set->isa << ": " << m << "x" << k << " by " << k << "x" << n
          << " wrote beside its block";
    }
  }
}

TEST(FixedOrderProductTest, ABlockOfAWiderResultLeavesTheRestAloneFloat) {
  ExpectABlockOfAWiderResultLeavesTheRestAlone<float>();
}

TEST(FixedOrderProductTest, ABlockOfAWiderResultLeavesTheRestAloneDouble) {
  ExpectABlockOfAWiderResultLeavesTheRestAlone<double>();
}

TEST(FixedOrderProductTest, AnEmptyInnerDimensionGivesZeros) {
  const Matrix a(3, 0), b(0, 4);
  Matrix c = Matrix::Constant(3, 4, std::numeric_limits<float>::quiet_NaN());
  FixedOrderProduct<float>(ViewOf(a), ViewOf(b), c.data(), c.cols(), false, Split::kRows, 1);
  EXPECT_TRUE(c.isZero(0));
}

}  // namespace
}  // namespace strata

// The operand and split types of core/nn/fixed_order_gemm.h, without Eigen:
// the per-instruction-set kernel files (core/nn/fixed_order_kernels.h)
// include only this, so that nothing compiled there for one target can
// stand in, at link time, for code of another's.
#ifndef STRATA_CORE_NN_STRIDED_MATRIX_H_
#define STRATA_CORE_NN_STRIDED_MATRIX_H_

#include <cstddef>

namespace strata {

// How a product's work is divided between threads: by blocks of the
// result's rows, or by blocks of its columns. Either gives the same bits.
enum class Split { kRows, kCols };

// The split that measured fastest for a layer's product with `cols` outputs:
// across outputs when there are enough of them, else across rows.
inline Split SplitFor(std::ptrdiff_t rows, std::ptrdiff_t cols) {
  return cols >= 128 || cols >= rows ? Split::kCols : Split::kRows;
}

// A read-only operand: element (i, j) is data[i * row_stride + j * col_stride].
// (std::ptrdiff_t is Eigen::Index.)
template <typename T>
struct StridedMatrix {
  const T* data = nullptr;
  std::ptrdiff_t rows = 0;
  std::ptrdiff_t cols = 0;
  std::ptrdiff_t row_stride = 0;
  std::ptrdiff_t col_stride = 0;
};

}  // namespace strata

#endif  // STRATA_CORE_NN_STRIDED_MATRIX_H_

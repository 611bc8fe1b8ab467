// core/nn/fixed_order_kernels.h's set for AVX2 + FMA (256-bit vectors),
// compiled with -march=x86-64-v3 whatever the build's target (see
// core/CMakeLists.txt).
#include <immintrin.h>

#include "core/nn/fixed_order_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "fixed_order_kernels_avx2.cc must be compiled with AVX2 and FMA"
#endif

namespace strata {
namespace fixed_order_internal {
namespace {

struct Avx2F {
  using T = float;
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kBlockWidths = 2;
  static Vec Zero() { return _mm256_setzero_ps(); }
  static Vec Load(const T* p) { return _mm256_loadu_ps(p); }
  static void Store(T* p, Vec v) { _mm256_storeu_ps(p, v); }
  using Mask = __m256i;
  static Mask MaskOf(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec LoadMasked(const T* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void StoreMasked(T* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static Vec Set1(T x) { return _mm256_set1_ps(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static T ScalarFma(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
};

struct Avx2D {
  using T = double;
  using Vec = __m256d;
  static constexpr int kLanes = 4;
  static constexpr int kBlockWidths = 2;
  static Vec Zero() { return _mm256_setzero_pd(); }
  static Vec Load(const T* p) { return _mm256_loadu_pd(p); }
  static void Store(T* p, Vec v) { _mm256_storeu_pd(p, v); }
  using Mask = __m256i;
  static Mask MaskOf(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static Vec LoadMasked(const T* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static void StoreMasked(T* p, Vec v, Mask m) { _mm256_maskstore_pd(p, m, v); }
  static Vec Set1(T x) { return _mm256_set1_pd(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm256_add_pd(a, b); }
  static T ScalarFma(T a, T b, T c) { return __builtin_fma(a, b, c); }
};

#include "core/nn/fixed_order_kernels.inc"

constexpr Kernels<float> kFloat = KernelsOf<Avx2F>("avx2");
constexpr Kernels<double> kDouble = KernelsOf<Avx2D>("avx2");

}  // namespace

const Kernels<float>& Avx2Float() { return kFloat; }
const Kernels<double>& Avx2Double() { return kDouble; }

}  // namespace fixed_order_internal
}  // namespace strata

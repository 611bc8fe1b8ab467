// core/nn/fixed_order_kernels.h's set for AVX-512 (512-bit vectors),
// compiled with -march=x86-64-v4 (AVX-512 F, BW, CD, DQ, VL) whatever the build's target (see
// core/CMakeLists.txt).
#include <immintrin.h>

#include "core/nn/fixed_order_kernels.h"

#if !defined(__AVX512F__) || !defined(__FMA__)
#error "fixed_order_kernels_avx512.cc must be compiled with AVX-512F"
#endif

namespace strata {
namespace fixed_order_internal {
namespace {

struct Avx512F {
  using T = float;
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kBlockWidths = 4;
  static Vec Zero() { return _mm512_setzero_ps(); }
  static Vec Load(const T* p) { return _mm512_loadu_ps(p); }
  static void Store(T* p, Vec v) { _mm512_storeu_ps(p, v); }
  using Mask = __mmask16;
  static Mask MaskOf(int n) { return static_cast<Mask>((1u << n) - 1); }
  static Vec LoadMasked(const T* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void StoreMasked(T* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec Set1(T x) { return _mm512_set1_ps(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static T ScalarFma(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
};

struct Avx512D {
  using T = double;
  using Vec = __m512d;
  static constexpr int kLanes = 8;
  static constexpr int kBlockWidths = 4;
  static Vec Zero() { return _mm512_setzero_pd(); }
  static Vec Load(const T* p) { return _mm512_loadu_pd(p); }
  static void Store(T* p, Vec v) { _mm512_storeu_pd(p, v); }
  using Mask = __mmask8;
  static Mask MaskOf(int n) { return static_cast<Mask>((1u << n) - 1); }
  static Vec LoadMasked(const T* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void StoreMasked(T* p, Vec v, Mask m) { _mm512_mask_storeu_pd(p, m, v); }
  static Vec Set1(T x) { return _mm512_set1_pd(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  static T ScalarFma(T a, T b, T c) { return __builtin_fma(a, b, c); }
};

#include "core/nn/fixed_order_kernels.inc"

constexpr Kernels<float> kFloat = KernelsOf<Avx512F>("avx512");
constexpr Kernels<double> kDouble = KernelsOf<Avx512D>("avx512");

}  // namespace

const Kernels<float>& Avx512Float() { return kFloat; }
const Kernels<double>& Avx512Double() { return kDouble; }

}  // namespace fixed_order_internal
}  // namespace strata

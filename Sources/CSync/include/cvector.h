#ifndef PATCHRNN_CVECTOR_H
#define PATCHRNN_CVECTOR_H
// Lane-wise clamp for Swift's SIMD8<Float>. Swift's generic pointwiseMin/pointwiseMax are not
// specialised across modules and end up as calls in the gate loop; these compile to one
// vmaxps + one vminps and inline into the Swift caller. A NaN lane stays NaN (x86 max/min
// return the second operand when either is NaN), so a numerical fault is not hidden.
typedef float prnn_float8 __attribute__((ext_vector_type(8)));

#if defined(__AVX__)
#include <immintrin.h>
static inline __attribute__((always_inline)) prnn_float8 prnn_clamp8(prnn_float8 x, float lo, float hi) {
    __m256 v = _mm256_max_ps(_mm256_set1_ps(lo), (__m256)x);
    return (prnn_float8)_mm256_min_ps(_mm256_set1_ps(hi), v);
}
#else
static inline __attribute__((always_inline)) prnn_float8 prnn_clamp8(prnn_float8 x, float lo, float hi) {
    return __builtin_elementwise_minimum(__builtin_elementwise_maximum(x, (prnn_float8)lo), (prnn_float8)hi);
}
#endif

// The same for SIMD16<Float>: one vmaxps + one vminps of zmm registers with AVX-512, two of
// each on ymm halves without it.
typedef float prnn_float16 __attribute__((ext_vector_type(16)));
static inline __attribute__((always_inline)) prnn_float16 prnn_clamp16(prnn_float16 x, float lo, float hi) {
#if defined(__AVX512F__)
    __m512 v = _mm512_max_ps(_mm512_set1_ps(lo), (__m512)x);
    return (prnn_float16)_mm512_min_ps(_mm512_set1_ps(hi), v);
#else
    prnn_float8 a = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    prnn_float8 b = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    a = prnn_clamp8(a, lo, hi);
    b = prnn_clamp8(b, lo, hi);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#endif
}
#endif

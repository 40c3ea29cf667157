#include "kiln/runtime/cpu/kernels/bf16.hpp"

#include <immintrin.h>

namespace kiln::cpu {

namespace {

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void convert_avx512(const float* s, uint16_t* d,
                                                                                      size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + i + 16), _mm512_loadu_ps(s + i));
        _mm512_storeu_si512(d + i, (__m512i)v);
    }
    if (i + 16 <= n) {
        __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(s + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), (__m256i)v);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + i));
        _mm256_mask_storeu_epi16(d + i, m, (__m256i)v);
    }
}

}  // namespace

void f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
    if (cpu_has_avx512_bf16()) return convert_avx512(src, dst, n);
    for (size_t i = 0; i < n; ++i) dst[i] = bf16_round(src[i]);
}

void f32_to_bf16_rows(const float* src, size_t src_stride, uint16_t* dst, size_t dst_stride, size_t rows,
                      size_t cols) {
    for (size_t r = 0; r < rows; ++r) f32_to_bf16(src + r * src_stride, dst + r * dst_stride, cols);
}

}  // namespace kiln::cpu

// f32 <-> bf16 conversion for kernels that compute in bf16 when the compiled model's inference
// precision is bf16 (KernelShapes::inference_precision). Round to nearest even, NaN kept NaN.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kiln/runtime/cpu/isa.hpp"  // cpu_has_avx512_bf16: whether the bf16 paths may run

namespace kiln::cpu {

// dst[i] = bf16(src[i]) for i < n. Uses vcvtne2ps2bf16 where the CPU has it, else a scalar loop
// with the same rounding.
void f32_to_bf16(const float* src, uint16_t* dst, size_t n);
// Rows of a strided matrix: `rows` rows of `cols` values, `src_stride` / `dst_stride` elements apart.
void f32_to_bf16_rows(const float* src, size_t src_stride, uint16_t* dst, size_t dst_stride, size_t rows,
                      size_t cols);

// The scalar rounding, shared by the reference paths and the tests.
inline uint16_t bf16_round(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

}  // namespace kiln::cpu

#include "kiln/runtime/cpu/kernels/eltwise.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"

namespace kiln::cpu {
namespace eltwise_detail {

enum class UOp : uint8_t {
    relu, sigmoid, tanh, exp, log, sqrt, abs, neg, floor, ceil, erf, sign, softplus, mish,
    hswish, hsigmoid, swish, elu, clamp, gelu_erf, gelu_tanh, round_even, round_away, pow
};
// a: Swish beta, Elu alpha, Clamp min, Power exponent; b: Clamp max.
struct UParams {
    float a = 0.f, b = 0.f;
};
enum class BOp : uint8_t { add, sub, mul, div, max, min, sqdiff, prelu };

// One instruction set's entry points. Each works serially on one contiguous run; the caller
// splits the work and runs the pieces on the OpenMP pool. Flags say whether an operand is
// contiguous (true) or a single value broadcast over the run (false).
struct IsaImpl {
    const char* name;
    void (*unary)(UOp op, const float* x, float* y, int64_t n, UParams p);
    void (*binary)(BOp op, const float* a, bool ca, const float* b, bool cb, float* y, int64_t n);
    void (*select)(const uint8_t* c, bool cc, const float* a, bool ca, const float* b, bool cb,
                   float* y, int64_t n);
    void (*convert)(const void* src, Type st, void* dst, Type dt, int64_t n);
};

// ---------------------------------------------------------------------------------------------
// Vector values never cross into baseline-target code (the entry points take pointers), so
// GCC's note that lambdas returning vectors have a target-dependent ABI does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {
constexpr int W = 8;
constexpr const char* kName = "avx2_eltwise";
using VF = __m256;
using VM = __m256;
inline VF vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF vset(float v) { return _mm256_set1_ps(v); }
inline VF vadd(VF a, VF b) { return _mm256_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm256_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF vdiv(VF a, VF b) { return _mm256_div_ps(a, b); }
inline VF vfma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
// a > b ? a : b (so a NaN in either gives b), as the x86 instruction defines it.
inline VF vmax(VF a, VF b) { return _mm256_max_ps(a, b); }
inline VF vmin(VF a, VF b) { return _mm256_min_ps(a, b); }
inline VF vsqrt(VF a) { return _mm256_sqrt_ps(a); }
inline VF vabs(VF a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
inline VF vneg(VF a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.f)); }
inline VF vcopysign(VF mag, VF sgn) {
    return _mm256_or_ps(vabs(mag), _mm256_and_ps(sgn, _mm256_set1_ps(-0.f)));
}
inline VF vfloor(VF a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline VF vceil(VF a) { return _mm256_round_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline VF vtrunc(VF a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
inline VF vrint(VF a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline VM vlt(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline VM vgt(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline VM vge(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline VM veq(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline VM visnan(VF a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
inline VM vand_m(VM a, VM b) { return _mm256_and_ps(a, b); }
inline bool vall(VM m) { return _mm256_movemask_ps(m) == 0xff; }
inline VF vsel(VM m, VF t, VF f) { return _mm256_blendv_ps(f, t, m); }
inline VM vmask_all(bool v) { return _mm256_castsi256_ps(_mm256_set1_epi32(v ? -1 : 0)); }
inline VM vmask_bytes(const uint8_t* p) {
    const __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(w, _mm256_setzero_si256()));
}
// 2^n for integer-valued n in [-126, 127].
inline VF vpow2i(VF n) {
    const __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
}
// Unbiased exponent and the mantissa in [1, 2) of a positive normal float.
inline VF vexponent(VF x) {
    const __m256i e = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(x), 23),
                                       _mm256_set1_epi32(0xff));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(e, _mm256_set1_epi32(127)));
}
inline VF vmantissa(VF x) {
    const __m256i m = _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x007fffff));
    return _mm256_castsi256_ps(_mm256_or_si256(m, _mm256_set1_epi32(0x3f800000)));
}
inline VF vload_i32(const int32_t* p) {
    return _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline VF vload_u8(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline VF vload_i8(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline VF vload_bool(const uint8_t* p) { return _mm256_and_ps(vmask_bytes(p), _mm256_set1_ps(1.f)); }
// AVX2 has no 64-bit integer <-> float conversion; lanes go one by one, as the scalar cast does.
inline VF vload_i64(const int64_t* p) {
    alignas(32) float f[W];
    for (int k = 0; k < W; ++k) f[k] = static_cast<float>(p[k]);
    return _mm256_load_ps(f);
}
inline void vstore_i32(int32_t* p, VF v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvttps_epi32(v));
}
inline void pack_bytes(uint8_t* p, __m256i i) {  // lanes hold 0..255
    const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w16, w16));
}
inline void vstore_low_bytes(uint8_t* p, VF v) {
    pack_bytes(p, _mm256_and_si256(_mm256_cvttps_epi32(v), _mm256_set1_epi32(0xff)));
}
inline void vstore_bool(uint8_t* p, VF v) {
    const VM nz = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    pack_bytes(p, _mm256_and_si256(_mm256_castps_si256(nz), _mm256_set1_epi32(1)));
}
// f16 through F16C, bf16 by shifting (round to nearest even; a NaN stays a quiet NaN), exactly
// as the reference conversions (core/tensor.cpp) do.
inline VF vload_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline void vstore_f16(uint16_t* p, VF v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline VF vload_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline void vstore_bf16(uint16_t* p, VF v) {
    const __m256i x = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i q = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    r = _mm256_blendv_epi8(r, q, _mm256_castps_si256(visnan(v)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}
inline void vstore_i64(int64_t* p, VF v) {
    // In int32 range the 32-bit truncation, sign-extended, is the 64-bit one.
    if (_mm256_movemask_ps(_mm256_cmp_ps(vabs(v), _mm256_set1_ps(2147483648.f), _CMP_NLT_UQ)) == 0) {
        const __m256i i = _mm256_cvttps_epi32(v);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(i)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4),
                            _mm256_cvtepi32_epi64(_mm256_extracti128_si256(i, 1)));
        return;
    }
    alignas(32) float f[W];
    _mm256_store_ps(f, v);
    for (int k = 0; k < W; ++k) p[k] = static_cast<int64_t>(f[k]);
}
#include "kiln/runtime/cpu/kernels/eltwise_simd.inc"
}  // namespace avx2
#pragma GCC pop_options

// ---------------------------------------------------------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
// GCC 12's AVX-512 headers trip this warning on their own _mm512_undefined_* (GCC PR105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {
constexpr int W = 16;
constexpr const char* kName = "avx512_eltwise";
using VF = __m512;
using VM = __mmask16;
inline VF vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF vset(float v) { return _mm512_set1_ps(v); }
inline VF vadd(VF a, VF b) { return _mm512_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm512_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF vdiv(VF a, VF b) { return _mm512_div_ps(a, b); }
inline VF vfma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VF vmax(VF a, VF b) { return _mm512_max_ps(a, b); }
inline VF vmin(VF a, VF b) { return _mm512_min_ps(a, b); }
inline VF vsqrt(VF a) { return _mm512_sqrt_ps(a); }
inline VF vabs(VF a) { return _mm512_andnot_ps(_mm512_set1_ps(-0.f), a); }
inline VF vneg(VF a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.f)); }
inline VF vcopysign(VF mag, VF sgn) {
    return _mm512_or_ps(vabs(mag), _mm512_and_ps(sgn, _mm512_set1_ps(-0.f)));
}
inline VF vfloor(VF a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline VF vceil(VF a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline VF vtrunc(VF a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
inline VF vrint(VF a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline VM vlt(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline VM vgt(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline VM vge(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline VM veq(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline VM visnan(VF a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
inline VM vand_m(VM a, VM b) { return static_cast<VM>(a & b); }
inline bool vall(VM m) { return m == 0xffff; }
inline VF vsel(VM m, VF t, VF f) { return _mm512_mask_blend_ps(m, f, t); }
inline VM vmask_all(bool v) { return v ? VM(0xffff) : VM(0); }
inline VM vmask_bytes(const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm_test_epi8_mask(b, b);
}
inline VF vpow2i(VF n) {
    const __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
}
inline VF vexponent(VF x) {
    const __m512i e = _mm512_and_si512(_mm512_srli_epi32(_mm512_castps_si512(x), 23),
                                       _mm512_set1_epi32(0xff));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(e, _mm512_set1_epi32(127)));
}
inline VF vmantissa(VF x) {
    const __m512i m = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x007fffff));
    return _mm512_castsi512_ps(_mm512_or_si512(m, _mm512_set1_epi32(0x3f800000)));
}
inline VF vload_i32(const int32_t* p) { return _mm512_cvtepi32_ps(_mm512_loadu_si512(p)); }
inline VF vload_u8(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline VF vload_i8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline VF vload_bool(const uint8_t* p) { return _mm512_maskz_mov_ps(vmask_bytes(p), _mm512_set1_ps(1.f)); }
inline VF vload_i64(const int64_t* p) {
    const __m256 lo = _mm512_cvtepi64_ps(_mm512_loadu_si512(p));
    const __m256 hi = _mm512_cvtepi64_ps(_mm512_loadu_si512(p + 8));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
inline void vstore_i32(int32_t* p, VF v) { _mm512_storeu_si512(p, _mm512_cvttps_epi32(v)); }
inline void vstore_low_bytes(uint8_t* p, VF v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
}
inline void vstore_bool(uint8_t* p, VF v) {
    const VM nz = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_maskz_mov_epi8(nz, _mm_set1_epi8(1)));
}
inline VF vload_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline void vstore_f16(uint16_t* p, VF v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline VF vload_bf16(const uint16_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline void vstore_bf16(uint16_t* p, VF v) {
    const __m512i x = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    const __m512i q = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    r = _mm512_mask_blend_epi32(visnan(v), r, q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
}
inline void vstore_i64(int64_t* p, VF v) {
    _mm512_storeu_si512(p, _mm512_cvttps_epi64(_mm512_castps512_ps256(v)));
    _mm512_storeu_si512(p + 8, _mm512_cvttps_epi64(_mm512_extractf32x8_ps(v, 1)));
}
#include "kiln/runtime/cpu/kernels/eltwise_simd.inc"
}  // namespace avx512
#pragma GCC diagnostic pop
#pragma GCC pop_options
#pragma GCC diagnostic pop

// ---------------------------------------------------------------------------------------------
// Work splitting (compiled for the baseline target).

constexpr int64_t kBlock = 8192;         // elements a task handles at once
constexpr int64_t kParallelMin = 32768;  // below this, threads cost more than they save

// Numpy broadcasting of up to three inputs to one output, reduced to rows of one inner run.
// Size-1 output axes are dropped and neighbouring axes that every input walks the same way are
// merged; the innermost remaining axis is the run, along which each input is contiguous or
// broadcast (stride 0).
struct BroadcastPlan {
    int64_t inner = 1;
    int64_t rows = 1;
    Shape outer;                                   // merged outer axes
    std::vector<std::vector<int64_t>> outer_step;  // [input][outer axis]
    std::vector<bool> contiguous;                  // [input] along the run

    BroadcastPlan(const Shape& out, const std::vector<Shape>& ins) {
        const size_t r = out.size(), k = ins.size();
        std::vector<int64_t> sizes;
        std::vector<std::vector<int64_t>> steps(k);
        std::vector<std::vector<int64_t>> full(k, std::vector<int64_t>(r, 0));
        for (size_t j = 0; j < k; ++j) {
            int64_t stride = 1;
            for (size_t d = 0; d < ins[j].size(); ++d) {
                const size_t ai = ins[j].size() - 1 - d, ao = r - 1 - d;
                full[j][ao] = ins[j][ai] == 1 ? 0 : stride;
                stride *= ins[j][ai];
            }
        }
        for (size_t d = 0; d < r; ++d) {
            if (out[d] == 1) continue;
            bool merge = !sizes.empty();
            for (size_t j = 0; j < k && merge; ++j) merge = steps[j].back() == full[j][d] * out[d];
            if (merge) {
                sizes.back() *= out[d];
                for (size_t j = 0; j < k; ++j) steps[j].back() = full[j][d];
            } else {
                sizes.push_back(out[d]);
                for (size_t j = 0; j < k; ++j) steps[j].push_back(full[j][d]);
            }
        }
        contiguous.assign(k, true);
        outer_step.assign(k, {});
        if (sizes.empty()) return;  // one element
        inner = sizes.back();
        outer.assign(sizes.begin(), sizes.end() - 1);
        for (auto s : outer) rows *= s;
        for (size_t j = 0; j < k; ++j) {
            contiguous[j] = steps[j].back() != 0;
            outer_step[j].assign(steps[j].begin(), steps[j].end() - 1);
        }
    }

    int64_t size() const { return rows * inner; }

    // Calls f(row, i0, len, offsets) for every row piece of the output, in parallel when the
    // work is large; offsets[j] is input j's element offset of the piece's first element.
    template <typename F>
    void run(F f) const {
        const int64_t total = size();
        if (total == 0) return;
        const int64_t pieces = inner >= kBlock ? (inner + kBlock - 1) / kBlock : 1;
        const int64_t rows_per_task = inner >= kBlock ? 1 : std::max<int64_t>(1, kBlock / inner);
        const int64_t tasks = inner >= kBlock ? rows * pieces : (rows + rows_per_task - 1) / rows_per_task;
        const size_t k = contiguous.size();
#pragma omp parallel for schedule(static) if (total >= kParallelMin && tasks > 1)
        for (int64_t t = 0; t < tasks; ++t) {
            const int64_t row0 = inner >= kBlock ? t / pieces : t * rows_per_task;
            const int64_t row1 = inner >= kBlock ? row0 + 1 : std::min(rows, row0 + rows_per_task);
            const int64_t i0 = inner >= kBlock ? (t % pieces) * kBlock : 0;
            const int64_t len = inner >= kBlock ? std::min(kBlock, inner - i0) : inner;
            // Odometer over the outer axes, started at row0 and stepped row by row.
            std::vector<int64_t> idx(outer.size());
            int64_t off[3] = {0, 0, 0};
            for (int64_t rem = row0, d = static_cast<int64_t>(outer.size()) - 1; d >= 0; --d) {
                idx[d] = rem % outer[d];
                rem /= outer[d];
                for (size_t j = 0; j < k; ++j) off[j] += idx[d] * outer_step[j][d];
            }
            for (int64_t row = row0; row < row1; ++row) {
                int64_t o[3];
                for (size_t j = 0; j < k; ++j) o[j] = off[j] + (contiguous[j] ? i0 : 0);
                f(row, i0, len, o);
                for (int64_t d = static_cast<int64_t>(outer.size()) - 1; d >= 0; --d) {
                    for (size_t j = 0; j < k; ++j) off[j] += outer_step[j][d];
                    if (++idx[d] < outer[d]) break;
                    for (size_t j = 0; j < k; ++j) off[j] -= outer_step[j][d] * outer[d];
                    idx[d] = 0;
                }
            }
        }
    }
};

// Calls f(begin, len) over [0, n) in blocks, in parallel when n is large.
template <typename F>
void run_blocks(int64_t n, F f) {
    const int64_t tasks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n >= kParallelMin && tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) f(t * kBlock, std::min(kBlock, n - t * kBlock));
}

// f16 / bf16 run the f32 kernels on chunks converted in registers (vcvtph2ps / a shift) into a
// small buffer that stays in L1, and rounded back the same way: the reference's "compute in
// f32, round each result" exactly.
constexpr int64_t kChunk = 512;

// One element of any type as f32 (a Swish beta or Power exponent of the input's type).
float first_as_f32(const Tensor& t) {
    float v = 0.f;
    convert_elements(t.data(), t.type(), &v, Type::f32, 1);
    return v;
}

class UnaryKernel : public Kernel {
public:
    // param_input >= 0: the op's parameter (Swish beta, Power exponent) is read from that
    // input's first element at each call, since it need not be a constant.
    UnaryKernel(const IsaImpl* isa, UOp op, UParams p, int param_input, Type t = Type::f32)
        : isa_(isa), op_(op), params_(p), param_input_(param_input), type_(t) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        UParams p = params_;
        if (param_input_ >= 0 && static_cast<size_t>(param_input_) < in.size())
            p.a = first_as_f32(in[static_cast<size_t>(param_input_)]);
        if (type_ != Type::f32) {
            const auto* x = static_cast<const uint16_t*>(in[0].data());
            auto* y = static_cast<uint16_t*>(out[0].data());
            run_blocks(out[0].size(), [&](int64_t b, int64_t n) {
                alignas(64) float buf[kChunk];
                for (int64_t c = 0; c < n; c += kChunk) {
                    const int64_t m = std::min(kChunk, n - c);
                    isa_->convert(x + b + c, type_, buf, Type::f32, m);
                    isa_->unary(op_, buf, buf, m, p);
                    isa_->convert(buf, Type::f32, y + b + c, type_, m);
                }
            });
            return;
        }
        const float* x = in[0].data<float>();
        float* y = out[0].data<float>();
        run_blocks(out[0].size(), [&](int64_t b, int64_t n) { isa_->unary(op_, x + b, y + b, n, p); });
    }
    const char* name() const override { return isa_->name; }

private:
    const IsaImpl* isa_;
    UOp op_;
    UParams params_;
    int param_input_;
    Type type_;
};

class BinaryKernel : public Kernel {
public:
    BinaryKernel(const IsaImpl* isa, BOp op, BroadcastPlan plan, Type t = Type::f32)
        : isa_(isa), op_(op), plan_(std::move(plan)), type_(t) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        if (type_ != Type::f32) return execute_half(in, out);
        const float* a = in[0].data<float>();
        const float* b = in[1].data<float>();
        float* y = out[0].data<float>();
        const int64_t inner = plan_.inner;
        const bool ca = plan_.contiguous[0], cb = plan_.contiguous[1];
        plan_.run([&](int64_t row, int64_t i0, int64_t len, const int64_t* o) {
            isa_->binary(op_, a + o[0], ca, b + o[1], cb, y + row * inner + i0, len);
        });
    }
    const char* name() const override { return isa_->name; }

private:
    void execute_half(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
        const auto* a = static_cast<const uint16_t*>(in[0].data());
        const auto* b = static_cast<const uint16_t*>(in[1].data());
        auto* y = static_cast<uint16_t*>(out[0].data());
        const int64_t inner = plan_.inner;
        const bool ca = plan_.contiguous[0], cb = plan_.contiguous[1];
        plan_.run([&](int64_t row, int64_t i0, int64_t len, const int64_t* o) {
            alignas(64) float fa[kChunk], fb[kChunk], fy[kChunk];
            for (int64_t c = 0; c < len; c += kChunk) {
                const int64_t m = std::min(kChunk, len - c);
                isa_->convert(a + o[0] + (ca ? c : 0), type_, fa, Type::f32, ca ? m : 1);
                isa_->convert(b + o[1] + (cb ? c : 0), type_, fb, Type::f32, cb ? m : 1);
                isa_->binary(op_, fa, ca, fb, cb, fy, m);
                isa_->convert(fy, Type::f32, y + row * inner + i0 + c, type_, m);
            }
        });
    }

    const IsaImpl* isa_;
    BOp op_;
    BroadcastPlan plan_;
    Type type_;
};

class SelectKernel : public Kernel {
public:
    SelectKernel(const IsaImpl* isa, BroadcastPlan plan) : isa_(isa), plan_(std::move(plan)) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const uint8_t* c = in[0].data<uint8_t>();
        const float* a = static_cast<const float*>(in[1].data());
        const float* b = static_cast<const float*>(in[2].data());
        float* y = static_cast<float*>(out[0].data());
        const int64_t inner = plan_.inner;
        const bool cc = plan_.contiguous[0], ca = plan_.contiguous[1], cb = plan_.contiguous[2];
        plan_.run([&](int64_t row, int64_t i0, int64_t len, const int64_t* o) {
            isa_->select(c + o[0], cc, a + o[1], ca, b + o[2], cb, y + row * inner + i0, len);
        });
    }
    const char* name() const override { return isa_->name; }

private:
    const IsaImpl* isa_;
    BroadcastPlan plan_;
};

class ConvertKernel : public Kernel {
public:
    ConvertKernel(const IsaImpl* isa, Type src, Type dst) : isa_(isa), src_(src), dst_(dst) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const auto* x = static_cast<const uint8_t*>(in[0].data());
        auto* y = static_cast<uint8_t*>(out[0].data());
        const size_t ss = type_size(src_), ds = type_size(dst_);
        run_blocks(out[0].size(), [&](int64_t b, int64_t n) {
            isa_->convert(x + b * ss, src_, y + b * ds, dst_, n);
        });
    }
    const char* name() const override { return isa_->name; }

private:
    const IsaImpl* isa_;
    Type src_, dst_;
};

bool cpu_has(EltwiseIsa isa) {
    return isa == EltwiseIsa::avx512 ? cpu_has_avx512() : cpu_has_avx2();
}

template <typename T>
bool is(const Node& n) {
    return dynamic_cast<const T*>(&n) != nullptr;
}

// The routine of an activation (every Activation kind has one).
void activation_op(const op::ActivationSpec& a, UOp& op, UParams& p) {
    using op::Activation;
    p.a = static_cast<float>(a.alpha);
    p.b = static_cast<float>(a.beta);
    switch (a.kind) {
        case Activation::relu: op = UOp::relu; break;
        case Activation::clamp: op = UOp::clamp; break;
        case Activation::sigmoid: op = UOp::sigmoid; break;
        case Activation::tanh: op = UOp::tanh; break;
        case Activation::swish: op = UOp::swish; break;
        case Activation::hswish: op = UOp::hswish; break;
        case Activation::hsigmoid: op = UOp::hsigmoid; break;
        case Activation::gelu_erf: op = UOp::gelu_erf; break;
        case Activation::gelu_tanh: op = UOp::gelu_tanh; break;
        case Activation::elu: op = UOp::elu; break;
        case Activation::mish: op = UOp::mish; break;
        case Activation::abs: op = UOp::abs; break;
        case Activation::exp: op = UOp::exp; break;
        case Activation::softplus: op = UOp::softplus; break;
    }
}

bool unary_op_of(const Node& node, UOp& op, UParams& p) {
    using namespace kiln::op;
    if (auto a = node.num_inputs() == 1 ? activation_of(node) : std::nullopt) {
        activation_op(*a, op, p);
        return true;
    }
    if (is<Log>(node)) op = UOp::log;
    else if (is<Sqrt>(node)) op = UOp::sqrt;
    else if (is<Negative>(node)) op = UOp::neg;
    else if (is<Floor>(node)) op = UOp::floor;
    else if (is<Ceiling>(node)) op = UOp::ceil;
    else if (is<Erf>(node)) op = UOp::erf;
    else if (is<Sign>(node)) op = UOp::sign;
    else if (auto* r = dynamic_cast<const Round*>(&node)) {
        op = r->mode == RoundMode::half_to_even ? UOp::round_even : UOp::round_away;
    } else {
        return false;
    }
    return true;
}

bool binary_op_of(const Node& node, BOp& op) {
    using namespace kiln::op;
    if (is<Add>(node)) op = BOp::add;
    else if (is<Subtract>(node)) op = BOp::sub;
    else if (is<Multiply>(node)) op = BOp::mul;
    else if (is<Divide>(node)) op = BOp::div;
    else if (is<Maximum>(node)) op = BOp::max;
    else if (is<Minimum>(node)) op = BOp::min;
    else if (is<SquaredDifference>(node)) op = BOp::sqdiff;
    else if (is<op::PRelu>(node)) op = BOp::prelu;
    else return false;
    return true;
}

bool convert_covered(Type src, Type dst) {
    auto other = [](Type t) {
        return t == Type::i64 || t == Type::i32 || t == Type::u8 || t == Type::i8 || t == Type::boolean;
    };
    return (src == Type::f32 && (other(dst) || is_half(dst))) || (dst == Type::f32 && (other(src) || is_half(src)));
}

}  // namespace eltwise_detail

bool eltwise_isa_supported(EltwiseIsa isa) { return eltwise_detail::cpu_has(isa); }

bool apply_activation(const op::ActivationSpec& a, float* x, int64_t n, EltwiseIsa isa) {
    using namespace eltwise_detail;
    if (!cpu_has(isa)) return false;
    UOp op;
    UParams p;
    activation_op(a, op, p);
    (isa == EltwiseIsa::avx512 ? avx512::kImpl : avx2::kImpl).unary(op, x, x, n, p);
    return true;
}

KernelPtr make_eltwise_kernel_for(const Node& node, const KernelShapes& shapes, EltwiseIsa isa) {
    using namespace eltwise_detail;
    if (!cpu_has(isa)) return nullptr;
    const IsaImpl* impl = isa == EltwiseIsa::avx512 ? &avx512::kImpl : &avx2::kImpl;
    if (shapes.outputs.size() != 1 || shapes.inputs.empty()) return nullptr;
    for (auto& d : shapes.inputs)
        if (!d.shape.is_static()) return nullptr;
    if (!shapes.outputs[0].shape.is_static()) return nullptr;
    const Type t0 = shapes.in_type(0), to = shapes.out_type(0);
    const size_t ni = shapes.inputs.size();

    // f32, or f16 / bf16 through f32 (the same type in and out).
    const bool fp = (t0 == Type::f32 || is_half(t0)) && to == t0;
    UOp uop = UOp::relu;
    UParams p;
    if (ni == 1 && fp && unary_op_of(node, uop, p))
        return std::make_unique<UnaryKernel>(impl, uop, p, -1, t0);
    if (dynamic_cast<const op::Swish*>(&node) && fp) {
        if (ni == 2 && (shapes.in_type(1) != t0 || shape_size(shapes.in(1)) != 1)) return nullptr;
        p.a = 1.f;
        return std::make_unique<UnaryKernel>(impl, UOp::swish, p, ni == 2 ? 1 : -1, t0);
    }
    if (dynamic_cast<const op::Power*>(&node) && ni == 2 && fp && shapes.in_type(1) == t0 &&
        shape_size(shapes.in(1)) == 1)
        return std::make_unique<UnaryKernel>(impl, UOp::pow, p, 1, t0);
    BOp bop = BOp::add;
    if (ni == 2 && fp && shapes.in_type(1) == t0 && binary_op_of(node, bop)) {
        Shape b = shapes.in(1);
        if (bop == BOp::prelu) b = op::prelu_slope_shape(shapes.in(0), b);
        return std::make_unique<BinaryKernel>(impl, bop, BroadcastPlan(shapes.out(0), {shapes.in(0), b}), t0);
    }
    if (dynamic_cast<const op::Select*>(&node) && ni == 3 && t0 == Type::boolean &&
        (to == Type::f32 || to == Type::i32) && shapes.in_type(1) == to && shapes.in_type(2) == to)
        return std::make_unique<SelectKernel>(
            impl, BroadcastPlan(shapes.out(0), {shapes.in(0), shapes.in(1), shapes.in(2)}));
    if (dynamic_cast<const op::Convert*>(&node) && ni == 1 && convert_covered(t0, to))
        return std::make_unique<ConvertKernel>(impl, t0, to);
    return nullptr;
}

KernelPtr make_eltwise_kernel(const Node& node, const KernelShapes& shapes) {
    if (eltwise_isa_supported(EltwiseIsa::avx512))
        return make_eltwise_kernel_for(node, shapes, EltwiseIsa::avx512);
    return make_eltwise_kernel_for(node, shapes, EltwiseIsa::avx2);
}

}  // namespace kiln::cpu

// The vector helpers of kiln's kernels written over GCC vector types (reduce_norm.cpp,
// attention.cpp): each kernel is written once and inlined (always_inline) into one function per
// instruction set that carries the target attribute, so the code is generated for that target.
// Helpers return vectors by value, which -Wpsabi flags as an ABI change although no helper is
// ever called out of line, so the warning is off from here to the end of the including file;
// helpers take vectors by reference.
#pragma once
#pragma GCC diagnostic ignored "-Wpsabi"
#include <cstdint>
#include <limits>
#include <type_traits>

#define KILN_INLINE inline __attribute__((always_inline))
#define KILN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define KILN_AVX2 __attribute__((target("avx2,fma")))

namespace kiln::cpu::vec {

typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

// I: the integer vector of the same shape; W: lanes.
template <class V> struct VT;
template <> struct VT<float> { using I = int32_t; static constexpr int64_t W = 1; };
template <> struct VT<f32x4> { using I = i32x4; static constexpr int64_t W = 4; };
template <> struct VT<f32x8> { using I = i32x8; static constexpr int64_t W = 8; };
template <> struct VT<f32x16> { using I = i32x16; static constexpr int64_t W = 16; };

constexpr float kInf = std::numeric_limits<float>::infinity();

template <class To, class From>
KILN_INLINE To bits(const From& f) {
    static_assert(sizeof(To) == sizeof(From));
    To t;
    __builtin_memcpy(&t, &f, sizeof t);
    return t;
}
template <class V> KILN_INLINE V splat(float s) {
    if constexpr (std::is_same_v<V, float>) return s;
    else return V{} + s;
}
template <class V> KILN_INLINE V load(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
template <class V> KILN_INLINE void store(float* p, const V& v) { __builtin_memcpy(p, &v, sizeof v); }
template <class V> KILN_INLINE V vmax(const V& a, const V& b) { return a > b ? a : b; }
template <class V> KILN_INLINE V vmin(const V& a, const V& b) { return a < b ? a : b; }
template <class V> KILN_INLINE V vabs(const V& a) {
    using I = typename VT<V>::I;
    return bits<V>(bits<I>(a) & 0x7fffffff);
}

// exp with a max relative error of about 2 ulp over [-87, 88]: 2^n * p(r), r = x - n ln2 in
// [-ln2/2, ln2/2], p a degree-7 minimax fit; below -87 the result is flushed to 0 (so
// exp(-inf) = 0).
template <class V> KILN_INLINE V vexp(const V& x) {
    using I = typename VT<V>::I;
    const V magic = splat<V>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
    V xc = vmin(vmax(x, splat<V>(-87.0f)), splat<V>(88.0f));
    V t = xc * 1.44269504088896341f + magic;
    V n = t - magic;
    I ni = bits<I>(t) - bits<I>(magic);
    V r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    V p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    V e = p * bits<V>((ni + 127) << 23);
    return x < -87.0f ? splat<V>(0.0f) : e;
}

template <class V> KILN_INLINE float hsum(const V& v) {
    float s = 0;
    for (int64_t i = 0; i < VT<V>::W; ++i) s += v[i];
    return s;
}

}  // namespace kiln::cpu::vec

#include "kiln/runtime/cpu/kernels/int8.hpp"
#include "kiln/runtime/cpu/isa.hpp"

// GCC 12 flags the intrinsics' own undefined-vector placeholders (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kiln/ops/internal/int8.hpp"
#include "kiln/runtime/cpu/onednn/int8.hpp"

namespace kiln::cpu {

namespace {

// One run of n elements with one multiplier and offset (inner > 1), or one of each per element
// (k_per, o_per).
struct QuantArgs {
    float k, zp, lo, hi;
    const float* k_per;  // nullptr: k and zp for all
    const float* o_per;
};

// The fp-contract=off: the formula's one fused multiply-add is written out, nothing else fuses.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
namespace avx512 {

template <bool U8>
void quantize(const float* x, void* y, int64_t n, const QuantArgs& a) {
    const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
    __m512 k = _mm512_set1_ps(a.k), zp = _mm512_set1_ps(a.zp);
    auto* out = static_cast<uint8_t*>(y);
    int64_t i = 0;
    auto one = [&](int64_t at, __mmask16 m) {
        if (a.k_per) {
            k = _mm512_maskz_loadu_ps(m, a.k_per + at);
            zp = _mm512_maskz_loadu_ps(m, a.o_per + at);
        }
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + at), k, zp);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        const __m512i q = _mm512_cvtps_epi32(v);  // round to nearest even (MXCSR default)
        if constexpr (U8) _mm512_mask_cvtusepi32_storeu_epi8(out + at, m, q);
        else _mm512_mask_cvtsepi32_storeu_epi8(out + at, m, q);
    };
    for (; i + 16 <= n; i += 16) one(i, 0xffff);
    if (i < n) one(i, static_cast<__mmask16>((1u << (n - i)) - 1));
}

template <bool U8>
void dequantize(const void* q, float* y, int64_t n, int32_t zero_point, float scale) {
    const __m512i zp = _mm512_set1_epi32(zero_point);
    const __m512 s = _mm512_set1_ps(scale);
    auto* in = static_cast<const uint8_t*>(q);
    int64_t i = 0;
    auto one = [&](int64_t at, __mmask16 m) {
        const __m128i b = _mm_maskz_loadu_epi8(m, in + at);
        const __m512i w = U8 ? _mm512_cvtepu8_epi32(b) : _mm512_cvtepi8_epi32(b);
        _mm512_mask_storeu_ps(y + at, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(w, zp)), s));
    };
    for (; i + 16 <= n; i += 16) one(i, 0xffff);
    if (i < n) one(i, static_cast<__mmask16>((1u << (n - i)) - 1));
}

}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

template <bool U8>
inline void store8(uint8_t* out, __m256i q) {
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i p8 = U8 ? _mm_packus_epi16(p16, p16) : _mm_packs_epi16(p16, p16);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), p8);
}

template <bool U8>
void quantize(const float* x, void* y, int64_t n, const QuantArgs& a) {
    const __m256 lo = _mm256_set1_ps(a.lo), hi = _mm256_set1_ps(a.hi);
    __m256 k = _mm256_set1_ps(a.k), zp = _mm256_set1_ps(a.zp);
    auto* out = static_cast<uint8_t*>(y);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (a.k_per) {
            k = _mm256_loadu_ps(a.k_per + i);
            zp = _mm256_loadu_ps(a.o_per + i);
        }
        __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), k, zp);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        store8<U8>(out + i, _mm256_cvtps_epi32(v));
    }
    for (; i < n; ++i) {
        const float q = a.k_per ? op::quantize_level(x[i], a.k_per[i], a.o_per[i], a.lo, a.hi)
                                : op::quantize_level(x[i], a.k, a.zp, a.lo, a.hi);
        if constexpr (U8) out[i] = static_cast<uint8_t>(q);
        else reinterpret_cast<int8_t*>(out)[i] = static_cast<int8_t>(q);
    }
}

template <bool U8>
void dequantize(const void* q, float* y, int64_t n, int32_t zero_point, float scale) {
    const __m256i zp = _mm256_set1_epi32(zero_point);
    const __m256 s = _mm256_set1_ps(scale);
    auto* in = static_cast<const uint8_t*>(q);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i));
        const __m256i w = U8 ? _mm256_cvtepu8_epi32(b) : _mm256_cvtepi8_epi32(b);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(w, zp)), s));
    }
    for (; i < n; ++i) {
        const int32_t v = U8 ? in[i] : reinterpret_cast<const int8_t*>(in)[i];
        y[i] = static_cast<float>(v - zero_point) * scale;
    }
}

}  // namespace avx2
#pragma GCC pop_options
#pragma GCC pop_options

using QuantizeFn = void (*)(const float*, void*, int64_t, const QuantArgs&);
using DequantizeFn = void (*)(const void*, float*, int64_t, int32_t, float);

// Splits [0, n) into chunks of at least 16K elements over the threads.
template <typename F>
void parallel_chunks(int64_t n, F&& f) {
    const int64_t min_chunk = 1 << 14;
    const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n / min_chunk)));
    if (threads == 1) return f(int64_t{0}, n);
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t per = (n + nt - 1) / nt / 64 * 64 + 64;
        const int64_t b = std::min<int64_t>(n, t * per), e = std::min<int64_t>(n, b + per);
        if (b < e) f(b, e);
    }
}

class QuantizeKernel : public Kernel {
public:
    QuantizeKernel(const op::Quantize& q, const KernelShapes& sh, Int8Isa isa, Layout layout)
        : isa_(isa), layout_(layout) {
        const Shape x = sh.in(0);
        const bool u8 = q.destination_type == Type::u8;
        fn_ = isa == Int8Isa::avx512 ? (u8 ? avx512::quantize<true> : avx512::quantize<false>)
                                     : (u8 ? avx2::quantize<true> : avx2::quantize<false>);
        if (sh.inputs.size() >= 2) {
            const int64_t r = static_cast<int64_t>(x.size());
            const int64_t ax = q.axis < 0 ? q.axis + r : q.axis;
            channels_ = x[ax];
            // nhwc puts the channel axis innermost.
            if (layout.kind != Layout::Kind::channels_last)
                for (int64_t i = ax + 1; i < r; ++i) inner_ *= x[i];
        }
        l_ = op::quantize_levels(q, sh.inputs.size() >= 2 ? sh.constants[1] : nullptr,
                                 sh.inputs.size() >= 3 ? sh.constants[2] : nullptr, channels_);
        args_ = QuantArgs{l_.k[0], l_.offset[0], l_.lo, l_.hi, nullptr, nullptr};
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const float* x = in[0].data<float>();
        auto* y = static_cast<uint8_t*>(out[0].data());
        const int64_t n = in[0].size();
        if (channels_ == 1) {
            parallel_chunks(n, [&](int64_t b, int64_t e) { fn_(x + b, y + b, e - b, args_); });
        } else if (inner_ == 1) {  // the multiplier runs along the innermost axis
            const int64_t rows = n / channels_;
            QuantArgs a = args_;
            a.k_per = l_.k.data();
            a.o_per = l_.offset.data();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
            for (int64_t r = 0; r < rows; ++r) fn_(x + r * channels_, y + r * channels_, channels_, a);
        } else {
            const int64_t runs = n / inner_;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
            for (int64_t r = 0; r < runs; ++r) {
                QuantArgs a = args_;
                a.k = l_.k[r % channels_];
                a.zp = l_.offset[r % channels_];
                fn_(x + r * inner_, y + r * inner_, inner_, a);
            }
        }
    }
    const char* name() const override { return isa_ == Int8Isa::avx512 ? "avx512_quantize" : "avx2_quantize"; }
    Layout input_layout(size_t i) const override { return i == 0 ? layout_ : Layout{}; }  // constants plain
    Layout output_layout(size_t) const override { return layout_; }

private:
    Int8Isa isa_;
    Layout layout_;
    QuantizeFn fn_;
    int64_t channels_ = 1, inner_ = 1;
    op::QuantizeLevels l_;
    QuantArgs args_;
};

class DequantizeKernel : public Kernel {
public:
    DequantizeKernel(const op::Dequantize& d, const KernelShapes& sh, bool u8, Int8Isa isa, Layout layout)
        : isa_(isa), layout_(layout), zp_(static_cast<int32_t>(d.zero_point)), scale_(static_cast<float>(d.scale)) {
        fn_ = isa == Int8Isa::avx512 ? (u8 ? avx512::dequantize<true> : avx512::dequantize<false>)
                                     : (u8 ? avx2::dequantize<true> : avx2::dequantize<false>);
        u8_ = u8;
        if (sh.inputs.size() == 2) {  // per channel: runs of `inner_` elements share one scale
            const Shape x = sh.in(0);
            const int64_t r = static_cast<int64_t>(x.size());
            const int64_t ax = d.axis < 0 ? d.axis + r : d.axis;
            channels_ = x[ax];
            if (layout.kind != Layout::Kind::channels_last)
                for (int64_t i = ax + 1; i < r; ++i) inner_ *= x[i];
            const Tensor& s = *sh.constants[1];
            for (int64_t c = 0; c < channels_; ++c) scales_.push_back(s.data<float>()[s.size() == 1 ? 0 : c]);
        }
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto* q = static_cast<const uint8_t*>(in[0].data());
        float* y = out[0].data<float>();
        const int64_t n = in[0].size();
        if (channels_ == 1)
            return parallel_chunks(n, [&](int64_t b, int64_t e) { fn_(q + b, y + b, e - b, zp_, scale_); });
        // One scale per run (a channel of inner_ elements; with nhwc, one element).
        const int64_t runs = n / inner_;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
        for (int64_t r = 0; r < runs; ++r) {
            if (inner_ > 1) {
                fn_(q + r * inner_, y + r * inner_, inner_, zp_, scales_[r % channels_]);
            } else {
                const int64_t c = r % channels_;
                const int32_t v = q_at(q, r);
                y[r] = static_cast<float>(v - zp_) * scales_[c];
            }
        }
    }
    const char* name() const override { return isa_ == Int8Isa::avx512 ? "avx512_dequantize" : "avx2_dequantize"; }
    Layout input_layout(size_t i) const override { return i == 0 ? layout_ : Layout{}; }  // constants plain
    Layout output_layout(size_t) const override { return layout_; }

private:
    int32_t q_at(const uint8_t* q, int64_t i) const {
        return u8_ ? q[i] : reinterpret_cast<const int8_t*>(q)[i];
    }
    Int8Isa isa_;
    Layout layout_;
    DequantizeFn fn_;
    int32_t zp_;
    float scale_;
    int64_t channels_ = 1, inner_ = 1;
    std::vector<float> scales_;
    bool u8_ = true;
};

// The producer's layout, which an element-wise kernel with one scale can keep; with scales per
// channel along axis 1, nhwc (channels innermost) too.
Layout kept_layout(const KernelShapes& sh, bool per_channel, int64_t axis) {
    if (!sh.negotiate_layouts || sh.input_layouts.empty()) return {};
    const Layout l = sh.input_layouts[0];
    if (!layout_fits(sh.in(0), l)) return {};
    if (per_channel) {
        const int64_t r = static_cast<int64_t>(sh.in(0).size());
        return l.kind == Layout::Kind::channels_last && (axis == 1 || axis == 1 - r) ? l : Layout{};
    }
    return l;
}

}  // namespace

bool int8_isa_supported(Int8Isa isa) {
    return isa == Int8Isa::avx512 ? cpu_has_avx512() : cpu_has_avx2();
}

KernelPtr make_quantize_kernel_for(const Node& node, const KernelShapes& sh, Int8Isa isa) {
    if (!int8_isa_supported(isa)) return nullptr;
    if (auto* q = dynamic_cast<const op::Quantize*>(&node)) {
        if (sh.in_type(0) != Type::f32) return nullptr;
        const bool pc = sh.inputs.size() >= 2;
        for (size_t i = 1; i < sh.inputs.size(); ++i)
            if (!sh.constants[i]) return nullptr;
        return std::make_unique<QuantizeKernel>(*q, sh, isa, kept_layout(sh, pc, q->axis));
    }
    if (auto* d = dynamic_cast<const op::Dequantize*>(&node)) {
        const Type t = sh.in_type(0);
        if (t != Type::u8 && t != Type::i8) return nullptr;
        const bool pc = sh.inputs.size() == 2;
        if (pc && !sh.constants[1]) return nullptr;
        return std::make_unique<DequantizeKernel>(*d, sh, t == Type::u8, isa, kept_layout(sh, pc, d->axis));
    }
    return nullptr;
}

KernelPtr make_int8_kernel(const Node& node, const KernelShapes& sh) {
    if (dynamic_cast<const op::Quantize*>(&node) || dynamic_cast<const op::Dequantize*>(&node)) {
        for (auto isa : {Int8Isa::avx512, Int8Isa::avx2})
            if (auto k = make_quantize_kernel_for(node, sh, isa)) return k;
        return nullptr;
    }
    return onednn::make_int8_onednn_kernel(node, sh);
}

}  // namespace kiln::cpu

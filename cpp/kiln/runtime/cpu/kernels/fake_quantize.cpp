#include "kiln/runtime/cpu/kernels/fake_quantize.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kiln/ops/fake_quantize.hpp"

namespace kiln::cpu {

namespace {

struct Range {
    float il, ih, ol, oh;
};

void fq_scalar(const float* x, float* y, int64_t n, Range r, int64_t levels) {
    for (int64_t k = 0; k < n; ++k) y[k] = op::fake_quantize_value<float>(x[k], r.il, r.ih, r.ol, r.oh, levels);
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("fp-contract=off")
namespace avx2 {

inline __m256 fq8(__m256 x, Range r, float levels1) {
    const __m256 il = _mm256_set1_ps(r.il), ih = _mm256_set1_ps(r.ih), ol = _mm256_set1_ps(r.ol),
                 oh = _mm256_set1_ps(r.oh), n = _mm256_set1_ps(levels1);
    const __m256 lo = _mm256_set1_ps(std::min(r.il, r.ih)), hi = _mm256_set1_ps(std::max(r.il, r.ih));
    __m256 q = _mm256_mul_ps(_mm256_div_ps(_mm256_sub_ps(x, il), _mm256_sub_ps(ih, il)), n);
    q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(q, n), _mm256_sub_ps(oh, ol)), ol);
    v = _mm256_blendv_ps(v, ol, _mm256_cmp_ps(x, lo, _CMP_LE_OQ));
    v = _mm256_blendv_ps(v, oh, _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return v;
}

void fq(const float* x, float* y, int64_t n, Range r, int64_t levels) {
    const float l1 = static_cast<float>(levels - 1);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(y + k, fq8(_mm256_loadu_ps(x + k), r, l1));
    if (k < n) {
        alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(buf, x + k, static_cast<size_t>(n - k) * sizeof(float));
        _mm256_store_ps(buf, fq8(_mm256_load_ps(buf), r, l1));
        std::memcpy(y + k, buf, static_cast<size_t>(n - k) * sizeof(float));
    }
}

}  // namespace avx2
#pragma GCC pop_options


class FakeQuantizeKernel : public Kernel {
public:
    FakeQuantizeKernel(int64_t levels, int64_t outer, int64_t channels, int64_t inner, std::vector<bool> per_channel,
                       bool vec)
        : levels_(levels), outer_(outer), c_(channels), inner_(inner), per_channel_(std::move(per_channel)), vec_(vec) {}
    const char* name() const override { return vec_ ? "avx2_fake_quantize" : "fake_quantize"; }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const float* x = in[0].data<float>();
        float* y = out[0].data<float>();
        const float* r[4];
        for (size_t i = 0; i < 4; ++i) r[i] = in[i + 1].data<float>();
        const int64_t rows = outer_ * c_;
#pragma omp parallel for schedule(static)
        for (int64_t row = 0; row < rows; ++row) {
            const int64_t c = row % c_;
            auto at = [&](size_t i) { return per_channel_[i] ? r[i][c] : r[i][0]; };
            Range rg{at(0), at(1), at(2), at(3)};
            if (vec_) avx2::fq(x + row * inner_, y + row * inner_, inner_, rg, levels_);
            else fq_scalar(x + row * inner_, y + row * inner_, inner_, rg, levels_);
        }
    }

private:
    int64_t levels_, outer_, c_, inner_;
    std::vector<bool> per_channel_;
    bool vec_;
};

}  // namespace

bool fake_quantize_vector_supported() { return cpu_has_avx2(); }

KernelPtr make_fake_quantize_kernel_for(const Node& node, const KernelShapes& shapes, bool vectorized) {
    auto* op = dynamic_cast<const op::FakeQuantize*>(&node);
    if (!op || (vectorized && !cpu_has_avx2())) return nullptr;
    for (size_t i = 0; i < 5; ++i)
        if (shapes.in_type(i) != Type::f32) return nullptr;
    const Shape xs = shapes.in(0), ys = shapes.out(0);
    if (xs != ys) return nullptr;
    const int64_t r = static_cast<int64_t>(ys.size());
    int64_t axis = -1;
    std::vector<bool> per_channel(4, false);
    for (size_t i = 0; i < 4; ++i) {
        const Shape s = shapes.in(i + 1);
        if (shape_size(s) == 1) continue;
        if (static_cast<int64_t>(s.size()) > r) return nullptr;
        const int64_t off = r - static_cast<int64_t>(s.size());
        int64_t a = -1;
        for (int64_t k = 0; k < static_cast<int64_t>(s.size()); ++k) {
            if (s[k] == 1) continue;
            if (a >= 0 || s[k] != ys[off + k]) return nullptr;
            a = off + k;
        }
        if (axis >= 0 && a != axis) return nullptr;
        axis = a;
        per_channel[i] = true;
    }
    int64_t outer = 1, c = 1, inner = 1;
    for (int64_t k = 0; k < r; ++k) {
        if (axis < 0 || k > axis) inner *= ys[k];
        else if (k == axis) c = ys[k];
        else outer *= ys[k];
    }
    return std::make_unique<FakeQuantizeKernel>(op->levels, outer, c, inner, per_channel, vectorized);
}

KernelPtr make_fake_quantize_kernel(const Node& node, const KernelShapes& shapes) {
    return make_fake_quantize_kernel_for(node, shapes, fake_quantize_vector_supported());
}

}  // namespace kiln::cpu

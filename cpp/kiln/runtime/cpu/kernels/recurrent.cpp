#include "kiln/runtime/cpu/kernels/recurrent.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <dnnl.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <vector>

#include "kiln/ops/recurrent.hpp"

namespace kiln::cpu {

namespace {

using op::RecurrentActivation;
using op::RecurrentKind;
using op::RecurrentSpec;

void sgemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, 0.f);
        return;
    }
    dnnl_status_t st = dnnl_sgemm('N', 'T', M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc);
    if (st != dnnl_success) throw Error(str_cat("recurrent kernel: dnnl_sgemm failed (status ", static_cast<int>(st), ")"));
}

// ---------------------------------------------------------------------------------------------
// Activations on a run of floats, in place: scalar, and AVX2+FMA (8 lanes, the tail through a
// padded buffer so an element's result does not depend on its position).

float act1(RecurrentActivation a, float v) {
    switch (a) {
        case RecurrentActivation::sigmoid: return 1.f / (1.f + std::exp(-v));
        case RecurrentActivation::tanh: return std::tanh(v);
        case RecurrentActivation::relu: return v > 0.f ? v : 0.f;
    }
    return v;
}

void act_scalar(RecurrentActivation a, float clip, float* v, int64_t n) {
    for (int64_t k = 0; k < n; ++k) {
        float x = clip > 0 ? std::min(clip, std::max(-clip, v[k])) : v[k];
        v[k] = act1(a, x);
    }
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

// e^x, |relative error| about 2e-7: x = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to r^7.
inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.f / 5040.f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 act8(RecurrentActivation a, __m256 x) {
    const __m256 one = _mm256_set1_ps(1.f);
    switch (a) {
        case RecurrentActivation::sigmoid:
            return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        case RecurrentActivation::tanh: {
            // tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); below |x| = 0.3 the odd series to x^9
            // (the other form loses relative accuracy there).
            const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
            const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
            const __m256 e = exp8(_mm256_min_ps(_mm256_add_ps(ax, ax), _mm256_set1_ps(40.f)));
            const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(e, one)));
            const __m256 x2 = _mm256_mul_ps(ax, ax);
            __m256 s = _mm256_set1_ps(62.f / 2835.f);
            s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(-17.f / 315.f));
            s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(2.f / 15.f));
            s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(-1.f / 3.f));
            s = _mm256_mul_ps(_mm256_fmadd_ps(s, x2, one), ax);
            const __m256 small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.3f), _CMP_LT_OQ);
            return _mm256_or_ps(_mm256_blendv_ps(big, s, small), sign);
        }
        case RecurrentActivation::relu: return _mm256_max_ps(x, _mm256_setzero_ps());
    }
    return x;
}

void act(RecurrentActivation a, float clip, float* v, int64_t n) {
    const bool clipped = clip > 0;
    const __m256 hi = _mm256_set1_ps(clip), lo = _mm256_set1_ps(-clip);
    auto one = [&](__m256 x) {
        if (clipped) x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
        return act8(a, x);
    };
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(v + k, one(_mm256_loadu_ps(v + k)));
    if (k < n) {
        alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(buf, v + k, static_cast<size_t>(n - k) * sizeof(float));
        _mm256_store_ps(buf, one(_mm256_load_ps(buf)));
        std::memcpy(v + k, buf, static_cast<size_t>(n - k) * sizeof(float));
    }
}

}  // namespace avx2
#pragma GCC pop_options


// ---------------------------------------------------------------------------------------------

class RecurrentKernel : public Kernel {
public:
    RecurrentKernel(RecurrentSpec s, bool seq, bool vec) : s_(s), seq_(seq), vec_(vec) {}
    const char* name() const override { return vec_ ? "avx2_recurrent" : "recurrent"; }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const bool lstm = s_.kind == RecurrentKind::lstm, gru = s_.kind == RecurrentKind::gru;
        const bool lbr = gru && s_.linear_before_reset;
        const int64_t H = s_.hidden_size, G = s_.gates(), D = s_.directions(), GH = G * H;
        const int64_t BG = lbr ? 4 * H : GH;
        const Tensor& X = in[0];
        const int64_t B = X.shape()[0], T = seq_ ? X.shape()[1] : 1, I = X.shape().back();
        const size_t n_in = in.size();
        std::vector<int64_t> lens(static_cast<size_t>(B), T);
        if (seq_) {
            auto l = in[lstm ? 3 : 2].as_i64_vector();
            for (int64_t b = 0; b < B; ++b) lens[b] = std::clamp<int64_t>(l.at(b), 0, T);
        }
        const float* x = X.data<float>();
        const float* h0 = in[1].data<float>();
        const float* c0 = lstm ? in[2].data<float>() : nullptr;
        const float* W = in[n_in - 3].data<float>();
        const float* R = in[n_in - 2].data<float>();
        const float* Bv = in[n_in - 1].data<float>();
        float* y = seq_ ? out[0].data<float>() : nullptr;
        float* ho = out[seq_ ? 1 : 0].data<float>();
        float* co = lstm ? out[seq_ ? 2 : 1].data<float>() : nullptr;
        if (y) std::fill(y, y + B * D * T * H, 0.f);
        const int64_t maxlen = B ? *std::max_element(lens.begin(), lens.end()) : 0;
        const float clip = static_cast<float>(s_.clip);
        auto A = [&](RecurrentActivation a, float* v, int64_t n) {
            if (vec_) avx2::act(a, clip, v, n);
            else act_scalar(a, clip, v, n);
        };
        auto A3 = [&](RecurrentActivation a, float* v, int64_t n) {  // the LSTM cell state's: no clip
            if (vec_) avx2::act(a, 0.f, v, n);
            else act_scalar(a, 0.f, v, n);
        };

        const int64_t GHr = gru && !lbr ? 2 * H : GH;  // rows of R in the state GEMM
        // One direction's recurrence. The two directions of a bidirectional op are independent:
        // with two threads or more they run side by side (each GEMM then on one thread, which
        // suits these thin state GEMMs better than splitting each one).
        auto run_direction = [&](int64_t d) {
        std::vector<float> xw(static_cast<size_t>(B * T * GH)), hr(static_cast<size_t>(B * GH));
        std::vector<float> h(static_cast<size_t>(B * H)), c(static_cast<size_t>(B * H)), rh, hn;
        if (gru && !lbr) {
            rh.resize(static_cast<size_t>(B * H));
            hn.resize(static_cast<size_t>(B * H));
        }
        {
            const bool reverse = s_.direction == op::RecurrentDirection::reverse || d == 1;
            const float* Wd = W + d * GH * I;
            const float* Rd = R + d * GH * H;
            const float* bd = Bv + d * BG;
            sgemm_nt(B * T, GH, I, x, I, Wd, I, xw.data(), GH);
            for (int64_t row = 0; row < B * T; ++row) {
                float* p = xw.data() + row * GH;
                for (int64_t j = 0; j < GH; ++j) p[j] += bd[j];
            }
            for (int64_t b = 0; b < B; ++b) {
                std::memcpy(h.data() + b * H, h0 + (b * D + d) * H, static_cast<size_t>(H) * sizeof(float));
                if (lstm) std::memcpy(c.data() + b * H, c0 + (b * D + d) * H, static_cast<size_t>(H) * sizeof(float));
            }
            for (int64_t step = 0; step < maxlen; ++step) {
                sgemm_nt(B, GHr, H, h.data(), H, Rd, H, hr.data(), GHr);
                if (gru && !lbr) {
                    // z and r first; the candidate needs (r * h) R_h^T.
                    for (int64_t b = 0; b < B; ++b) {
                        if (step >= lens[b]) continue;
                        const int64_t t = reverse ? lens[b] - 1 - step : step;
                        float* g = hr.data() + b * GHr;
                        const float* xr = xw.data() + (b * T + t) * GH;
                        for (int64_t j = 0; j < 2 * H; ++j) g[j] += xr[j];
                        A(s_.f1, g, 2 * H);
                        for (int64_t k = 0; k < H; ++k) rh[b * H + k] = g[H + k] * h[b * H + k];
                    }
                    sgemm_nt(B, H, H, rh.data(), H, Rd + 2 * H * H, H, hn.data(), H);
                }
                for (int64_t b = 0; b < B; ++b) {
                    if (step >= lens[b]) continue;
                    const int64_t t = reverse ? lens[b] - 1 - step : step;
                    const float* xr = xw.data() + (b * T + t) * GH;
                    float* g = hr.data() + b * GHr;
                    float* hb = h.data() + b * H;
                    if (lstm) {
                        for (int64_t j = 0; j < GH; ++j) g[j] += xr[j];
                        A(s_.f1, g, 2 * H);  // f, i
                        A(s_.f2, g + 2 * H, H);
                        A(s_.f1, g + 3 * H, H);
                        float* cb = c.data() + b * H;
                        for (int64_t k = 0; k < H; ++k) cb[k] = g[k] * cb[k] + g[H + k] * g[2 * H + k];
                        std::memcpy(hb, cb, static_cast<size_t>(H) * sizeof(float));
                        A3(s_.f3, hb, H);
                        for (int64_t k = 0; k < H; ++k) hb[k] *= g[3 * H + k];
                    } else if (lbr) {
                        for (int64_t j = 0; j < 2 * H; ++j) g[j] += xr[j];
                        A(s_.f1, g, 2 * H);
                        float* n = g + 2 * H;
                        for (int64_t k = 0; k < H; ++k) n[k] = xr[2 * H + k] + g[H + k] * (n[k] + bd[3 * H + k]);
                        A(s_.f2, n, H);
                        for (int64_t k = 0; k < H; ++k) hb[k] = (1.f - g[k]) * n[k] + g[k] * hb[k];
                    } else if (gru) {
                        float* n = hn.data() + b * H;
                        for (int64_t k = 0; k < H; ++k) n[k] += xr[2 * H + k];
                        A(s_.f2, n, H);
                        for (int64_t k = 0; k < H; ++k) hb[k] = (1.f - g[k]) * n[k] + g[k] * hb[k];
                    } else {
                        for (int64_t j = 0; j < H; ++j) g[j] += xr[j];
                        A(s_.f1, g, H);
                        std::memcpy(hb, g, static_cast<size_t>(H) * sizeof(float));
                    }
                    if (y) std::memcpy(y + ((b * D + d) * T + t) * H, hb, static_cast<size_t>(H) * sizeof(float));
                }
            }
            for (int64_t b = 0; b < B; ++b) {
                std::memcpy(ho + (b * D + d) * H, h.data() + b * H, static_cast<size_t>(H) * sizeof(float));
                if (lstm) std::memcpy(co + (b * D + d) * H, c.data() + b * H, static_cast<size_t>(H) * sizeof(float));
            }
        }
        };
        if (D == 2 && num_threads() >= 2) {
            std::exception_ptr err;
#pragma omp parallel for num_threads(2) schedule(static, 1)
            for (int64_t d = 0; d < 2; ++d) {
                try {
                    run_direction(d);
                } catch (...) {
#pragma omp critical
                    err = std::current_exception();
                }
            }
            if (err) std::rethrow_exception(err);
        } else {
            for (int64_t d = 0; d < D; ++d) run_direction(d);
        }
    }

private:
    RecurrentSpec s_;
    bool seq_;
    bool vec_;
};

}  // namespace

bool recurrent_vector_supported() { return cpu_has_avx2(); }

KernelPtr make_recurrent_kernel_for(const Node& node, const KernelShapes& shapes, bool vectorized) {
    auto* op = dynamic_cast<const op::RecurrentBase*>(&node);
    if (!op) return nullptr;
    if (vectorized && !cpu_has_avx2()) return nullptr;
    for (size_t i = 0; i < shapes.inputs.size(); ++i) {
        const bool lengths = op->is_sequence() && i == (op->spec().kind == RecurrentKind::lstm ? 3u : 2u);
        if (!lengths && shapes.in_type(i) != Type::f32) return nullptr;
    }
    return std::make_unique<RecurrentKernel>(op->spec(), op->is_sequence(), vectorized);
}

KernelPtr make_recurrent_kernel(const Node& node, const KernelShapes& shapes) {
    return make_recurrent_kernel_for(node, shapes, recurrent_vector_supported());
}

}  // namespace kiln::cpu

#include "kiln/runtime/cpu/kernels/reduce_norm.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "kiln/ops/internal/layer_norm.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/runtime/cpu/kernels/vec.hpp"

// The kernels are written once over GCC vector types and inlined into one function per
// instruction set (vec.hpp).

namespace kiln::cpu {

namespace {

using op::ReduceKind;

using namespace vec;

// Splits `tasks` independent pieces over the OpenMP team when the work is worth it.
template <class F>
void parallel_for(int64_t tasks, int64_t work, const F& f) {
    if (tasks <= 1 || work < (int64_t{1} << 15) || omp_in_parallel()) {
        if (tasks > 0) f(0, tasks);
        return;
    }
#pragma omp parallel
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t b = tasks * t / nt, e = tasks * (t + 1) / nt;
        if (b < e) f(b, e);
    }
}

// ------------------------------------------------------------------------------------------
// Row plan shared by the reductions and MVN: after dropping size-1 dims and merging neighbours
// that are both reduced or both kept, the innermost group (length L) is contiguous; every other
// group becomes a list of element offsets. An output row k with reduced combination r reads
// x[kept_off[k] + red_off[r] + j] for j < L.
struct RowPlan {
    int64_t L = 1;
    bool inner_reduced = false;
    std::vector<int64_t> kept_off, red_off;
    int64_t count = 1;  // input elements folded into each output element
};

RowPlan make_row_plan(const Shape& s, const std::vector<bool>& mask) {
    struct G { int64_t len; bool red; };
    std::vector<G> gs;
    RowPlan p;
    for (size_t d = 0; d < s.size(); ++d) {
        if (mask[d]) p.count *= s[d];
        if (s[d] == 1) continue;
        if (!gs.empty() && gs.back().red == mask[d]) gs.back().len *= s[d];
        else gs.push_back({s[d], static_cast<bool>(mask[d])});
    }
    if (gs.empty()) gs.push_back({1, false});
    std::vector<int64_t> stride(gs.size());
    int64_t st = 1;
    for (size_t i = gs.size(); i-- > 0;) {
        stride[i] = st;
        st *= gs[i].len;
    }
    p.L = gs.back().len;
    p.inner_reduced = gs.back().red;
    auto offsets = [&](bool red) {
        std::vector<size_t> ids;
        for (size_t i = 0; i + 1 < gs.size(); ++i)
            if (gs[i].red == red) ids.push_back(i);
        int64_t n = 1;
        for (size_t i : ids) n *= gs[i].len;
        std::vector<int64_t> off(static_cast<size_t>(n));
        std::vector<int64_t> idx(ids.size(), 0);
        int64_t cur = 0;
        for (int64_t k = 0; k < n; ++k) {
            off[static_cast<size_t>(k)] = cur;
            for (size_t q = ids.size(); q-- > 0;) {
                const size_t g = ids[q];
                cur += stride[g];
                if (++idx[q] < gs[g].len) break;
                cur -= stride[g] * gs[g].len;
                idx[q] = 0;
            }
        }
        return off;
    };
    p.kept_off = offsets(false);
    p.red_off = offsets(true);
    return p;
}

constexpr int64_t kColBlock = 256;  // columns per task when the innermost group is kept

// ---- reductions ----

struct ReduceArgs {
    const float* x;
    float* y;
    const RowPlan* plan;
    float scale;  // 1 / count, for Mean
};

template <ReduceKind K> constexpr float reduce_init() {
    if constexpr (K == ReduceKind::Max) return -kInf;
    else if constexpr (K == ReduceKind::Min) return kInf;
    else if constexpr (K == ReduceKind::Prod) return 1.0f;
    else return 0.0f;
}
template <ReduceKind K, class V> KILN_INLINE V reduce_pre(const V& v) {
    if constexpr (K == ReduceKind::L1) return vabs(v);
    else if constexpr (K == ReduceKind::L2) return v * v;
    else return v;
}
template <ReduceKind K, class V> KILN_INLINE V reduce_comb(const V& a, const V& b) {
    if constexpr (K == ReduceKind::Max) return vmax(a, b);
    else if constexpr (K == ReduceKind::Min) return vmin(a, b);
    else if constexpr (K == ReduceKind::Prod) return a * b;
    else return a + b;
}
template <ReduceKind K> KILN_INLINE float reduce_fin(float s, float scale) {
    if constexpr (K == ReduceKind::Mean) return s * scale;
    else if constexpr (K == ReduceKind::L2) return std::sqrt(s);
    else return s;
}
template <ReduceKind K, class V> KILN_INLINE float reduce_lanes(const V& v) {
    float r = v[0];
    for (int64_t i = 1; i < VT<V>::W; ++i) r = reduce_comb<K>(r, static_cast<float>(v[i]));
    return r;
}

template <class V, ReduceKind K>
KILN_INLINE void reduce_tasks(const ReduceArgs& a, int64_t b, int64_t e) {
    constexpr int64_t W = VT<V>::W;
    const RowPlan& p = *a.plan;
    const int64_t L = p.L;
    const float init = reduce_init<K>();
    if (p.inner_reduced) {
        for (int64_t k = b; k < e; ++k) {
            V acc0 = splat<V>(init), acc1 = acc0;
            float accs = init;
            for (int64_t r : p.red_off) {
                const float* x = a.x + p.kept_off[static_cast<size_t>(k)] + r;
                int64_t i = 0;
                for (; i + 2 * W <= L; i += 2 * W) {
                    acc0 = reduce_comb<K>(acc0, reduce_pre<K>(load<V>(x + i)));
                    acc1 = reduce_comb<K>(acc1, reduce_pre<K>(load<V>(x + i + W)));
                }
                for (; i + W <= L; i += W) acc0 = reduce_comb<K>(acc0, reduce_pre<K>(load<V>(x + i)));
                for (; i < L; ++i) accs = reduce_comb<K>(accs, reduce_pre<K>(x[i]));
            }
            const float s = reduce_comb<K>(reduce_lanes<K>(reduce_comb<K>(acc0, acc1)), accs);
            a.y[k] = reduce_fin<K>(s, a.scale);
        }
        return;
    }
    const int64_t nblk = (L + kColBlock - 1) / kColBlock;
    alignas(64) float buf[kColBlock];
    for (int64_t t = b; t < e; ++t) {
        const int64_t k = t / nblk, c0 = (t % nblk) * kColBlock, cb = std::min(kColBlock, L - c0);
        for (int64_t c = 0; c < cb; ++c) buf[c] = init;
        for (int64_t r : p.red_off) {
            const float* x = a.x + p.kept_off[static_cast<size_t>(k)] + r + c0;
            int64_t c = 0;
            for (; c + W <= cb; c += W)
                store(buf + c, reduce_comb<K>(load<V>(buf + c), reduce_pre<K>(load<V>(x + c))));
            for (; c < cb; ++c) buf[c] = reduce_comb<K>(buf[c], reduce_pre<K>(x[c]));
        }
        float* y = a.y + k * L + c0;
        for (int64_t c = 0; c < cb; ++c) y[c] = reduce_fin<K>(buf[c], a.scale);
    }
}

template <class V>
KILN_INLINE void reduce_any(ReduceKind kind, const ReduceArgs& a, int64_t b, int64_t e) {
    switch (kind) {
        case ReduceKind::Sum: return reduce_tasks<V, ReduceKind::Sum>(a, b, e);
        case ReduceKind::Mean: return reduce_tasks<V, ReduceKind::Mean>(a, b, e);
        case ReduceKind::Max: return reduce_tasks<V, ReduceKind::Max>(a, b, e);
        case ReduceKind::Min: return reduce_tasks<V, ReduceKind::Min>(a, b, e);
        case ReduceKind::Prod: return reduce_tasks<V, ReduceKind::Prod>(a, b, e);
        case ReduceKind::L1: return reduce_tasks<V, ReduceKind::L1>(a, b, e);
        case ReduceKind::L2: return reduce_tasks<V, ReduceKind::L2>(a, b, e);
    }
}

// ---- softmax ----

struct SoftmaxArgs {
    const float* x;
    float* y;
    int64_t outer, len, inner;
    bool log;
};
constexpr int64_t kSoftmaxBlock = 64;  // strided case: columns handled together

template <class V>
KILN_INLINE void softmax_row(const float* x, float* y, int64_t n, bool log) {
    constexpr int64_t W = VT<V>::W;
    V m0 = splat<V>(-kInf), m1 = m0;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        m0 = vmax(m0, load<V>(x + i));
        m1 = vmax(m1, load<V>(x + i + W));
    }
    for (; i + W <= n; i += W) m0 = vmax(m0, load<V>(x + i));
    m0 = vmax(m0, m1);
    float mx = -kInf;
    for (int64_t l = 0; l < W; ++l) mx = vmax(mx, static_cast<float>(m0[l]));
    for (; i < n; ++i) mx = vmax(mx, x[i]);

    const V vmx = splat<V>(mx);
    V s0 = splat<V>(0.0f);
    float ss = 0;
    for (i = 0; i + W <= n; i += W) {
        V ev = vexp(load<V>(x + i) - vmx);
        if (!log) store(y + i, ev);
        s0 += ev;
    }
    for (; i < n; ++i) {
        float ev = vexp(x[i] - mx);
        if (!log) y[i] = ev;
        ss += ev;
    }
    const float sum = hsum(s0) + ss;
    if (log) {
        const float lse = mx + std::log(sum);
        for (i = 0; i + W <= n; i += W) store(y + i, load<V>(x + i) - lse);
        for (; i < n; ++i) y[i] = x[i] - lse;
    } else {
        const float inv = 1.0f / sum;
        for (i = 0; i + W <= n; i += W) store(y + i, load<V>(y + i) * inv);
        for (; i < n; ++i) y[i] *= inv;
    }
}

// Softmax down `len` rows of stride `inner` for the columns [0, cb) starting at x / y.
template <class V>
KILN_INLINE void softmax_cols(const float* x, float* y, int64_t len, int64_t inner, int64_t cb, bool log) {
    constexpr int64_t W = VT<V>::W;
    alignas(64) float mx[kSoftmaxBlock], sm[kSoftmaxBlock];
    for (int64_t c = 0; c < cb; ++c) {
        mx[c] = -kInf;
        sm[c] = 0;
    }
    for (int64_t j = 0; j < len; ++j) {
        const float* p = x + j * inner;
        int64_t c = 0;
        for (; c + W <= cb; c += W) store(mx + c, vmax(load<V>(mx + c), load<V>(p + c)));
        for (; c < cb; ++c) mx[c] = vmax(mx[c], p[c]);
    }
    for (int64_t j = 0; j < len; ++j) {
        const float* p = x + j * inner;
        float* q = y + j * inner;
        int64_t c = 0;
        for (; c + W <= cb; c += W) {
            V ev = vexp(load<V>(p + c) - load<V>(mx + c));
            if (!log) store(q + c, ev);
            store(sm + c, load<V>(sm + c) + ev);
        }
        for (; c < cb; ++c) {
            float ev = vexp(p[c] - mx[c]);
            if (!log) q[c] = ev;
            sm[c] += ev;
        }
    }
    // sm becomes what each column is scaled by (softmax) or shifted by (log-softmax).
    for (int64_t c = 0; c < cb; ++c) sm[c] = log ? mx[c] + std::log(sm[c]) : 1.0f / sm[c];
    for (int64_t j = 0; j < len; ++j) {
        const float* p = x + j * inner;
        float* q = y + j * inner;
        int64_t c = 0;
        if (log) {
            for (; c + W <= cb; c += W) store(q + c, load<V>(p + c) - load<V>(sm + c));
            for (; c < cb; ++c) q[c] = p[c] - sm[c];
        } else {
            for (; c + W <= cb; c += W) store(q + c, load<V>(q + c) * load<V>(sm + c));
            for (; c < cb; ++c) q[c] *= sm[c];
        }
    }
}

template <class V>
KILN_INLINE void softmax_tasks(const SoftmaxArgs& a, int64_t b, int64_t e) {
    if (a.inner == 1) {
        for (int64_t o = b; o < e; ++o) softmax_row<V>(a.x + o * a.len, a.y + o * a.len, a.len, a.log);
        return;
    }
    const int64_t nblk = (a.inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
    for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / nblk, c0 = (t % nblk) * kSoftmaxBlock;
        const int64_t off = o * a.len * a.inner + c0;
        softmax_cols<V>(a.x + off, a.y + off, a.len, a.inner, std::min(kSoftmaxBlock, a.inner - c0), a.log);
    }
}

// ---- MVN ----

struct MvnArgs {
    const float* x;
    float* y;
    const RowPlan* plan;
    bool normalize_variance, inside_sqrt;
    float eps;
    // FusedMVN (layer norm): y = MVN(x) * gamma + beta along the row (the inner reduced axis).
    const float* gamma = nullptr;
    const float* beta = nullptr;
    bool rms = false;  // FusedRMSNorm: no mean taken out (x / sqrt(mean(x^2) + eps))
};

KILN_INLINE float mvn_inv_std(double var, const MvnArgs& a) {
    if (!a.normalize_variance) return 1.0f;
    return static_cast<float>(a.inside_sqrt ? 1.0 / std::sqrt(var + a.eps) : 1.0 / (std::sqrt(var) + a.eps));
}

template <class V>
KILN_INLINE void mvn_tasks(const MvnArgs& a, int64_t b, int64_t e) {
    // The mean is held as pivot + delta, the pivot being one element of the slice: x - pivot is
    // exact for nearby values, so neither the sums nor x - mean lose digits when |mean| >> std
    // (after a ReLU, or on an unnormalized input).
    constexpr int64_t W = VT<V>::W;
    const RowPlan& p = *a.plan;
    const int64_t L = p.L;
    const double inv_count = 1.0 / static_cast<double>(p.count);
    if (p.inner_reduced) {
        for (int64_t k = b; k < e; ++k) {
            const int64_t base = p.kept_off[static_cast<size_t>(k)];
            const float pivot = a.rms ? 0.0f : a.x[base + p.red_off[0]];
            const V vp = splat<V>(pivot);
            V s0 = splat<V>(0.0f);
            float ss = 0;
            if (!a.rms)
                for (int64_t r : p.red_off) {
                    const float* x = a.x + base + r;
                    int64_t i = 0;
                    for (; i + W <= L; i += W) s0 += load<V>(x + i) - vp;
                    for (; i < L; ++i) ss += x[i] - pivot;
                }
            const float delta = a.rms ? 0.0f : static_cast<float>((hsum(s0) + ss) * inv_count);
            const V vd = splat<V>(delta);
            double var = 0;
            if (a.normalize_variance) {
                V q0 = splat<V>(0.0f);
                float qs = 0;
                for (int64_t r : p.red_off) {
                    const float* x = a.x + base + r;
                    int64_t i = 0;
                    for (; i + W <= L; i += W) {
                        V d = (load<V>(x + i) - vp) - vd;
                        q0 += d * d;
                    }
                    for (; i < L; ++i) {
                        const float d = (x[i] - pivot) - delta;
                        qs += d * d;
                    }
                }
                var = (hsum(q0) + qs) * inv_count;
            }
            const float inv = mvn_inv_std(var, a);
            const V vi = splat<V>(inv);
            if (a.gamma) {  // one row of L = C channels
                const float* x = a.x + base;
                float* y = a.y + base;
                int64_t i = 0;
                for (; i + W <= L; i += W)
                    store(y + i, ((load<V>(x + i) - vp) - vd) * vi * load<V>(a.gamma + i) + load<V>(a.beta + i));
                for (; i < L; ++i) y[i] = ((x[i] - pivot) - delta) * inv * a.gamma[i] + a.beta[i];
                continue;
            }
            for (int64_t r : p.red_off) {
                const float* x = a.x + base + r;
                float* y = a.y + base + r;
                int64_t i = 0;
                for (; i + W <= L; i += W) store(y + i, ((load<V>(x + i) - vp) - vd) * vi);
                for (; i < L; ++i) y[i] = ((x[i] - pivot) - delta) * inv;
            }
        }
        return;
    }
    const int64_t nblk = (L + kColBlock - 1) / kColBlock;
    alignas(64) float delta[kColBlock], scale[kColBlock], pivot[kColBlock];
    for (int64_t t = b; t < e; ++t) {
        const int64_t k = t / nblk, c0 = (t % nblk) * kColBlock, cb = std::min(kColBlock, L - c0);
        const int64_t base = p.kept_off[static_cast<size_t>(k)] + c0;
        for (int64_t c = 0; c < cb; ++c) {
            delta[c] = scale[c] = 0;
            pivot[c] = a.x[base + p.red_off[0] + c];
        }
        for (int64_t r : p.red_off) {
            const float* x = a.x + base + r;
            int64_t c = 0;
            for (; c + W <= cb; c += W) store(delta + c, load<V>(delta + c) + (load<V>(x + c) - load<V>(pivot + c)));
            for (; c < cb; ++c) delta[c] += x[c] - pivot[c];
        }
        for (int64_t c = 0; c < cb; ++c) delta[c] = static_cast<float>(delta[c] * inv_count);
        if (a.normalize_variance) {
            for (int64_t r : p.red_off) {
                const float* x = a.x + base + r;
                int64_t c = 0;
                for (; c + W <= cb; c += W) {
                    V d = (load<V>(x + c) - load<V>(pivot + c)) - load<V>(delta + c);
                    store(scale + c, load<V>(scale + c) + d * d);
                }
                for (; c < cb; ++c) {
                    const float d = (x[c] - pivot[c]) - delta[c];
                    scale[c] += d * d;
                }
            }
        }
        for (int64_t c = 0; c < cb; ++c) scale[c] = mvn_inv_std(scale[c] * inv_count, a);
        for (int64_t r : p.red_off) {
            const float* x = a.x + base + r;
            float* y = a.y + base + r;
            int64_t c = 0;
            for (; c + W <= cb; c += W)
                store(y + c, ((load<V>(x + c) - load<V>(pivot + c)) - load<V>(delta + c)) * load<V>(scale + c));
            for (; c < cb; ++c) y[c] = ((x[c] - pivot[c]) - delta[c]) * scale[c];
        }
    }
}

// ---- BatchNormInference ----

struct BnArgs {
    const float* x;
    float* y;
    const float* scale;
    const float* shift;
    int64_t n, c, inner;
};

template <class V>
KILN_INLINE void bn_tasks(const BnArgs& a, int64_t b, int64_t e) {
    constexpr int64_t W = VT<V>::W;
    if (a.inner == 1) {  // rank 2: a row is all channels
        for (int64_t r = b; r < e; ++r) {
            const float* x = a.x + r * a.c;
            float* y = a.y + r * a.c;
            int64_t i = 0;
            for (; i + W <= a.c; i += W)
                store(y + i, load<V>(x + i) * load<V>(a.scale + i) + load<V>(a.shift + i));
            for (; i < a.c; ++i) y[i] = x[i] * a.scale[i] + a.shift[i];
        }
        return;
    }
    for (int64_t r = b; r < e; ++r) {
        const float sc = a.scale[r % a.c], sh = a.shift[r % a.c];
        const V vsc = splat<V>(sc), vsh = splat<V>(sh);
        const float* x = a.x + r * a.inner;
        float* y = a.y + r * a.inner;
        int64_t i = 0;
        for (; i + W <= a.inner; i += W) store(y + i, load<V>(x + i) * vsc + vsh);
        for (; i < a.inner; ++i) y[i] = x[i] * sc + sh;
    }
}

// ---- one entry point per instruction set ----

struct Fns {
    void (*reduce)(ReduceKind, const ReduceArgs&, int64_t, int64_t);
    void (*softmax)(const SoftmaxArgs&, int64_t, int64_t);
    void (*mvn)(const MvnArgs&, int64_t, int64_t);
    void (*bn)(const BnArgs&, int64_t, int64_t);
    const char* prefix;
};

KILN_AVX512 void reduce_avx512(ReduceKind k, const ReduceArgs& a, int64_t b, int64_t e) { reduce_any<f32x16>(k, a, b, e); }
KILN_AVX512 void softmax_avx512(const SoftmaxArgs& a, int64_t b, int64_t e) { softmax_tasks<f32x16>(a, b, e); }
KILN_AVX512 void mvn_avx512(const MvnArgs& a, int64_t b, int64_t e) { mvn_tasks<f32x16>(a, b, e); }
KILN_AVX512 void bn_avx512(const BnArgs& a, int64_t b, int64_t e) { bn_tasks<f32x16>(a, b, e); }

KILN_AVX2 void reduce_avx2(ReduceKind k, const ReduceArgs& a, int64_t b, int64_t e) { reduce_any<f32x8>(k, a, b, e); }
KILN_AVX2 void softmax_avx2(const SoftmaxArgs& a, int64_t b, int64_t e) { softmax_tasks<f32x8>(a, b, e); }
KILN_AVX2 void mvn_avx2(const MvnArgs& a, int64_t b, int64_t e) { mvn_tasks<f32x8>(a, b, e); }
KILN_AVX2 void bn_avx2(const BnArgs& a, int64_t b, int64_t e) { bn_tasks<f32x8>(a, b, e); }

KILN_AVX2 void reduce_avx2w(ReduceKind k, const ReduceArgs& a, int64_t b, int64_t e) { reduce_any<f32x16>(k, a, b, e); }
KILN_AVX2 void softmax_avx2w(const SoftmaxArgs& a, int64_t b, int64_t e) { softmax_tasks<f32x16>(a, b, e); }
KILN_AVX2 void mvn_avx2w(const MvnArgs& a, int64_t b, int64_t e) { mvn_tasks<f32x16>(a, b, e); }
KILN_AVX2 void bn_avx2w(const BnArgs& a, int64_t b, int64_t e) { bn_tasks<f32x16>(a, b, e); }

void reduce_sse2(ReduceKind k, const ReduceArgs& a, int64_t b, int64_t e) { reduce_any<f32x4>(k, a, b, e); }
void softmax_sse2(const SoftmaxArgs& a, int64_t b, int64_t e) { softmax_tasks<f32x4>(a, b, e); }
void mvn_sse2(const MvnArgs& a, int64_t b, int64_t e) { mvn_tasks<f32x4>(a, b, e); }
void bn_sse2(const BnArgs& a, int64_t b, int64_t e) { bn_tasks<f32x4>(a, b, e); }


ReduceNormIsa resolve(ReduceNormIsa isa) {
    if (isa != ReduceNormIsa::best) return isa;
    if (cpu_has_avx512()) return ReduceNormIsa::avx512;
    if (cpu_has_avx2()) return ReduceNormIsa::avx2;
    return ReduceNormIsa::sse2;
}

Fns fns_for(ReduceNormIsa isa) {
    switch (isa) {
        case ReduceNormIsa::avx512: return {reduce_avx512, softmax_avx512, mvn_avx512, bn_avx512, "avx512"};
        case ReduceNormIsa::avx2: return {reduce_avx2, softmax_avx2, mvn_avx2, bn_avx2, "avx2"};
        case ReduceNormIsa::avx2_w16: return {reduce_avx2w, softmax_avx2w, mvn_avx2w, bn_avx2w, "avx2w16"};
        default: return {reduce_sse2, softmax_sse2, mvn_sse2, bn_sse2, "sse2"};
    }
}

// ------------------------------------------------------------------------------------------
// Kernels

class ReduceKernel : public Kernel {
public:
    ReduceKernel(Fns f, ReduceKind kind, RowPlan plan, int64_t in_size)
        : f_(f), kind_(kind), plan_(std::move(plan)), in_size_(in_size),
          name_(std::string(f.prefix) + "_reduce") {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        if (out[0].size() == 0) return;
        ReduceArgs a{in[0].data<float>(), out[0].data<float>(), &plan_,
                     1.0f / static_cast<float>(plan_.count)};
        const int64_t rows = static_cast<int64_t>(plan_.kept_off.size());
        const int64_t tasks = plan_.inner_reduced ? rows : rows * ((plan_.L + kColBlock - 1) / kColBlock);
        parallel_for(tasks, in_size_, [&](int64_t b, int64_t e) { f_.reduce(kind_, a, b, e); });
    }
    const char* name() const override { return name_.c_str(); }

private:
    Fns f_;
    ReduceKind kind_;
    RowPlan plan_;
    int64_t in_size_;
    std::string name_;
};

class SoftmaxKernel : public Kernel {
public:
    SoftmaxKernel(Fns f, const Shape& s, int64_t axis, bool log) : f_(f), log_(log) {
        for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
            const int64_t v = s[static_cast<size_t>(d)];
            if (d < axis) outer_ *= v;
            else if (d == axis) len_ = v;
            else inner_ *= v;
        }
        name_ = std::string(f.prefix) + (log ? "_log_softmax" : "_softmax");
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        SoftmaxArgs a{in[0].data<float>(), out[0].data<float>(), outer_, len_, inner_, log_};
        const int64_t tasks =
            inner_ == 1 ? outer_ : outer_ * ((inner_ + kSoftmaxBlock - 1) / kSoftmaxBlock);
        parallel_for(tasks, in[0].size() * 8, [&](int64_t b, int64_t e) { f_.softmax(a, b, e); });
    }
    const char* name() const override { return name_.c_str(); }

private:
    Fns f_;
    bool log_;
    int64_t outer_ = 1, len_ = 1, inner_ = 1;
    std::string name_;
};

class MvnKernel : public Kernel {
public:
    template <class N>
    MvnKernel(Fns f, const N& n, RowPlan plan, const Tensor* gamma = nullptr, const Tensor* beta = nullptr)
        : f_(f), plan_(std::move(plan)), normalize_variance_(n.normalize_variance),
          inside_sqrt_(n.eps_mode == op::MVNEpsMode::inside_sqrt), eps_(static_cast<float>(n.eps)),
          name_(std::string(f.prefix) + (gamma ? "_layer_norm" : "_mvn")) {
        if (gamma) {
            gamma_.assign(gamma->data<float>(), gamma->data<float>() + gamma->size());
            beta_.assign(beta->data<float>(), beta->data<float>() + beta->size());
        }
    }
    // RMS norm: the layer norm's row path without the mean, a zero shift.
    MvnKernel(Fns f, const op::FusedRMSNorm& n, RowPlan plan, const Tensor& gamma)
        : f_(f), plan_(std::move(plan)), normalize_variance_(true), inside_sqrt_(true),
          eps_(static_cast<float>(n.eps)), name_(std::string(f.prefix) + "_rms_norm"), rms_(true) {
        gamma_.assign(gamma.data<float>(), gamma.data<float>() + gamma.size());
        beta_.assign(gamma_.size(), 0.0f);
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        if (out[0].size() == 0) return;
        MvnArgs a{in[0].data<float>(), out[0].data<float>(), &plan_, normalize_variance_, inside_sqrt_, eps_};
        if (!gamma_.empty()) {
            a.gamma = gamma_.data();
            a.beta = beta_.data();
        }
        a.rms = rms_;
        const int64_t rows = static_cast<int64_t>(plan_.kept_off.size());
        const int64_t tasks = plan_.inner_reduced ? rows : rows * ((plan_.L + kColBlock - 1) / kColBlock);
        parallel_for(tasks, in[0].size() * 3, [&](int64_t b, int64_t e) { f_.mvn(a, b, e); });
    }
    const char* name() const override { return name_.c_str(); }

private:
    Fns f_;
    RowPlan plan_;
    bool normalize_variance_, inside_sqrt_;
    float eps_;
    std::string name_;
    std::vector<float> gamma_, beta_;
    bool rms_ = false;
};

class BatchNormKernel : public Kernel {
public:
    BatchNormKernel(Fns f, const Shape& s, double eps, const KernelShapes& ks)
        : f_(f), n_(s[0]), c_(s[1]), inner_(shape_size(Shape(s.begin() + 2, s.end()))), eps_(eps),
          name_(std::string(f.prefix) + "_batch_norm") {
        bool all_const = true;
        for (size_t i = 1; i < 5; ++i) all_const = all_const && i < ks.constants.size() && ks.constants[i];
        if (all_const) {
            fold(*ks.constants[1], *ks.constants[2], *ks.constants[3], *ks.constants[4], scale_, shift_);
            folded_ = true;
        }
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        std::vector<float> sc, sh;
        if (!folded_) fold(in[1], in[2], in[3], in[4], sc, sh);
        const std::vector<float>& scale = folded_ ? scale_ : sc;
        const std::vector<float>& shift = folded_ ? shift_ : sh;
        BnArgs a{in[0].data<float>(), out[0].data<float>(), scale.data(), shift.data(), n_, c_, inner_};
        const int64_t tasks = inner_ == 1 ? n_ : n_ * c_;
        parallel_for(tasks, in[0].size(), [&](int64_t b, int64_t e) { f_.bn(a, b, e); });
    }
    const char* name() const override { return name_.c_str(); }

private:
    // y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
    void fold(const Tensor& g, const Tensor& b, const Tensor& m, const Tensor& v, std::vector<float>& scale,
              std::vector<float>& shift) const {
        auto gv = g.as_f64_vector(), bv = b.as_f64_vector(), mv = m.as_f64_vector(), vv = v.as_f64_vector();
        scale.resize(static_cast<size_t>(c_));
        shift.resize(static_cast<size_t>(c_));
        for (size_t i = 0; i < static_cast<size_t>(c_); ++i) {
            const double s = gv[i] / std::sqrt(vv[i] + eps_);
            scale[i] = static_cast<float>(s);
            shift[i] = static_cast<float>(bv[i] - mv[i] * s);
        }
    }

    Fns f_;
    int64_t n_, c_, inner_;
    double eps_;
    bool folded_ = false;
    std::vector<float> scale_, shift_;
    std::string name_;
};

bool all_f32(const KernelShapes& s, size_t n_inputs) {
    for (size_t i = 0; i < n_inputs; ++i)
        if (s.in_type(i) != Type::f32 || !s.inputs[i].shape.is_static()) return false;
    return s.out_type(0) == Type::f32 && s.outputs[0].shape.is_static();
}

}  // namespace

bool reduce_norm_isa_supported(ReduceNormIsa isa) {
    switch (isa) {
        case ReduceNormIsa::avx512: return cpu_has_avx512();
        case ReduceNormIsa::avx2:
        case ReduceNormIsa::avx2_w16: return cpu_has_avx2();
        default: return true;
    }
}

KernelPtr make_reduce_norm_kernel_for_isa(const Node& node, const KernelShapes& shapes, ReduceNormIsa isa) {
    if (!reduce_norm_isa_supported(isa) || shapes.inputs.empty() || shapes.outputs.empty()) return nullptr;
    const Fns f = fns_for(resolve(isa));
    auto constant = [&](size_t i) { return i < shapes.constants.size() ? shapes.constants[i] : nullptr; };

    if (auto info = op::reduce_info(node)) {
        if (!all_f32(shapes, 1) || !constant(1)) return nullptr;
        const Shape s = shapes.in(0);
        auto mask = op::detail::axes_mask(node, constant(1)->as_i64_vector(), static_cast<int64_t>(s.size()));
        return std::make_unique<ReduceKernel>(f, info->kind, make_row_plan(s, mask), shape_size(s));
    }
    if (auto sm = dynamic_cast<const op::Softmax*>(&node)) {
        if (!all_f32(shapes, 1) || shapes.in(0).empty()) return nullptr;
        const int64_t r = static_cast<int64_t>(shapes.in(0).size());
        if (sm->axis < -r || sm->axis >= r) return nullptr;
        return std::make_unique<SoftmaxKernel>(f, shapes.in(0), sm->axis < 0 ? sm->axis + r : sm->axis, false);
    }
    if (auto sm = dynamic_cast<const op::LogSoftmax*>(&node)) {
        if (!all_f32(shapes, 1) || shapes.in(0).empty()) return nullptr;
        const int64_t r = static_cast<int64_t>(shapes.in(0).size());
        if (sm->axis < -r || sm->axis >= r) return nullptr;
        return std::make_unique<SoftmaxKernel>(f, shapes.in(0), sm->axis < 0 ? sm->axis + r : sm->axis, true);
    }
    if (auto mvn = dynamic_cast<const op::MVN*>(&node)) {
        if (!all_f32(shapes, 1) || !constant(1)) return nullptr;
        const Shape s = shapes.in(0);
        auto mask = op::detail::axes_mask(node, constant(1)->as_i64_vector(), static_cast<int64_t>(s.size()));
        return std::make_unique<MvnKernel>(f, *mvn, make_row_plan(s, mask));
    }
    if (auto ln = dynamic_cast<const op::FusedMVN*>(&node)) {
        if (!all_f32(shapes, 1) || !constant(1) || !constant(2) || !constant(3) || shapes.in(0).empty()) return nullptr;
        const Shape s = shapes.in(0);
        const int64_t c = s.back();
        auto mask = op::detail::axes_mask(node, constant(1)->as_i64_vector(), static_cast<int64_t>(s.size()));
        RowPlan plan = make_row_plan(s, mask);
        // The kernel's affine path needs rows of exactly the C channels.
        if (!plan.inner_reduced || plan.red_off.size() != 1 || plan.red_off[0] != 0 || plan.L != c || constant(2)->size() != c ||
            constant(3)->size() != c || constant(2)->type() != Type::f32 || constant(3)->type() != Type::f32)
            return nullptr;
        return std::make_unique<MvnKernel>(f, *ln, std::move(plan), constant(2), constant(3));
    }
    if (auto rn = dynamic_cast<const op::FusedRMSNorm*>(&node)) {
        if (!all_f32(shapes, 1) || !constant(1) || shapes.in(0).empty()) return nullptr;
        const Shape s = shapes.in(0);
        const int64_t r = static_cast<int64_t>(s.size()), c = s.back();
        if (constant(1)->size() != c || constant(1)->type() != Type::f32) return nullptr;
        RowPlan plan = make_row_plan(s, op::detail::axes_mask(node, {r - 1}, r));
        if (!plan.inner_reduced || plan.red_off.size() != 1 || plan.red_off[0] != 0 || plan.L != c) return nullptr;
        return std::make_unique<MvnKernel>(f, *rn, std::move(plan), *constant(1));
    }
    if (auto bn = dynamic_cast<const op::BatchNormInference*>(&node)) {
        if (shapes.inputs.size() != 5 || !all_f32(shapes, 5) || shapes.in(0).size() < 2) return nullptr;
        return std::make_unique<BatchNormKernel>(f, shapes.in(0), bn->epsilon, shapes);
    }
    return nullptr;
}

KernelPtr make_reduce_norm_kernel(const Node& node, const KernelShapes& shapes) {
    return make_reduce_norm_kernel_for_isa(node, shapes, ReduceNormIsa::best);
}

}  // namespace kiln::cpu

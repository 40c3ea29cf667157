#include "kiln/runtime/cpu/kernels/attention.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/ops/attention.hpp"
#include "kiln/runtime/cpu/kernels/vec.hpp"

// Written once over GCC vector types and inlined into one function per instruction set (vec.hpp).

namespace kiln::cpu {

namespace {

using namespace vec;

// Vectors per register tile row (4 rows): 4 x 2 accumulators + loads fit 16 ymm; 4 x 4
// accumulators + 4 loads + 1 broadcast of 32 zmm.
template <class V> constexpr int kTileCols = VT<V>::W == 16 ? 4 : 2;

constexpr int kTileRows = 4;
constexpr int64_t kRows = 64;   // query rows per task
constexpr int64_t kKeys = 256;  // keys per block (a multiple of every vector width)

template <class V> KILN_INLINE float hmax(const V& v) {
    float s = v[0];
    for (int i = 1; i < VT<V>::W; ++i) s = v[i] > s ? v[i] : s;
    return s;
}

// s[r][c*W..] = sum_e q[r][e] * kt[e][c*W..]: R query rows against C vectors of transposed keys.
template <class V, int R, int C>
KILN_INLINE void score_tile(const float* q, int64_t qs, const float* kt, int64_t kts, int64_t E, float* s,
                            int64_t ss) {
    constexpr int W = VT<V>::W;
    V acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = splat<V>(0.0f);
    for (int64_t e = 0; e < E; ++e) {
        V kv[C];
        for (int c = 0; c < C; ++c) kv[c] = load<V>(kt + e * kts + c * W);
        for (int r = 0; r < R; ++r) {
            const V qv = splat<V>(q[r * qs + e]);
            for (int c = 0; c < C; ++c) acc[r][c] += qv * kv[c];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) store(s + r * ss + c * W, acc[r][c]);
}

// acc[r][c*W..] += sum_j p[r][j] * v[j][c*W..] over n keys.
template <class V, int R, int C>
KILN_INLINE void pv_tile(const float* p, int64_t ps, const float* v, int64_t vs, int64_t n, float* acc, int64_t as) {
    constexpr int W = VT<V>::W;
    V a[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) a[r][c] = load<V>(acc + r * as + c * W);
    for (int64_t j = 0; j < n; ++j) {
        V vv[C];
        for (int c = 0; c < C; ++c) vv[c] = load<V>(v + j * vs + c * W);
        for (int r = 0; r < R; ++r) {
            const V pj = splat<V>(p[r * ps + j]);
            for (int c = 0; c < C; ++c) a[r][c] += pj * vv[c];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) store(acc + r * as + c * W, a[r][c]);
}

// Runtime row count R (1..4) and vector count C (1..VT::C) to the templates. Plain functions,
// not lambdas: a lambda's body would be compiled for the baseline target, not the caller's.
template <class V, int R>
KILN_INLINE void score_c(int c, const float* q, int64_t qs, const float* kt, int64_t kts, int64_t E, float* s,
                         int64_t ss) {
    if constexpr (kTileCols<V> >= 4)
        if (c == 4) return score_tile<V, R, 4>(q, qs, kt, kts, E, s, ss);
    if constexpr (kTileCols<V> >= 3)
        if (c == 3) return score_tile<V, R, 3>(q, qs, kt, kts, E, s, ss);
    if (c == 2) return score_tile<V, R, 2>(q, qs, kt, kts, E, s, ss);
    score_tile<V, R, 1>(q, qs, kt, kts, E, s, ss);
}
template <class V>
KILN_INLINE void score_rc(int r, int c, const float* q, int64_t qs, const float* kt, int64_t kts, int64_t E, float* s,
                          int64_t ss) {
    switch (r) {
        case 4: return score_c<V, 4>(c, q, qs, kt, kts, E, s, ss);
        case 3: return score_c<V, 3>(c, q, qs, kt, kts, E, s, ss);
        case 2: return score_c<V, 2>(c, q, qs, kt, kts, E, s, ss);
        default: return score_c<V, 1>(c, q, qs, kt, kts, E, s, ss);
    }
}
template <class V, int R>
KILN_INLINE void pv_c(int c, const float* p, int64_t ps, const float* v, int64_t vs, int64_t n, float* acc,
                      int64_t as) {
    if constexpr (kTileCols<V> >= 4)
        if (c == 4) return pv_tile<V, R, 4>(p, ps, v, vs, n, acc, as);
    if constexpr (kTileCols<V> >= 3)
        if (c == 3) return pv_tile<V, R, 3>(p, ps, v, vs, n, acc, as);
    if (c == 2) return pv_tile<V, R, 2>(p, ps, v, vs, n, acc, as);
    pv_tile<V, R, 1>(p, ps, v, vs, n, acc, as);
}
template <class V>
KILN_INLINE void pv_rc(int r, int c, const float* p, int64_t ps, const float* v, int64_t vs, int64_t n, float* acc,
                       int64_t as) {
    switch (r) {
        case 4: return pv_c<V, 4>(c, p, ps, v, vs, n, acc, as);
        case 3: return pv_c<V, 3>(c, p, ps, v, vs, n, acc, as);
        case 2: return pv_c<V, 2>(c, p, ps, v, vs, n, acc, as);
        default: return pv_c<V, 1>(c, p, ps, v, vs, n, acc, as);
    }
}


// ---- bf16 (inference precision bf16 on AVX512_BF16): Q K^T and P V with vdpbf16ps ------------
// Operands are packed as pairs along the reduction axis, one 32-bit word per pair (the element
// with the even index in the low half), the layout vdpbf16ps multiplies: Q and P rows are simply
// their bf16 rows; K^T and V are repacked per key block. Accumulation, softmax and the output
// stay f32.
#define KILN_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define KILN_BF16_INLINE inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// rows x cols f32 -> bf16, each output row padded with zeros to dst_stride (even) elements.
KILN_BF16 void rows_to_bf16(const float* src, int64_t src_stride, int64_t rows, int64_t cols, uint16_t* dst,
                            int64_t dst_stride) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* sr = src + r * src_stride;
        uint16_t* dr = dst + r * dst_stride;
        for (int64_t c = 0; c < dst_stride; c += 16) {
            const int64_t n = std::max<int64_t>(0, std::min<int64_t>(16, cols - c));
            const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
            const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, sr + c));
            const int64_t w = std::min<int64_t>(16, dst_stride - c);
            _mm256_mask_storeu_epi16(dr + c, static_cast<__mmask16>((1u << w) - 1), (__m256i)h);
        }
    }
}

// V rows [n, Ev] (stride vs) -> words vw[j2 * evp + e] = (v[2 j2 + 1][e], v[2 j2][e]), zero padded
// to np (even) keys and evp (a multiple of 16) columns.
KILN_BF16 void pack_v_bf16(const float* v, int64_t vs, int64_t n, int64_t np, int64_t Ev, int64_t evp, uint32_t* vw) {
    alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                         8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_load_si512(kInterleave);
    for (int64_t j2 = 0; j2 < np / 2; ++j2) {
        const int64_t ja = 2 * j2, jb = ja + 1;
        for (int64_t e = 0; e < evp; e += 16) {
            const int64_t cnt = std::max<int64_t>(0, std::min<int64_t>(16, Ev - e));
            const __mmask16 m = static_cast<__mmask16>((1u << cnt) - 1);
            const __m512 a = ja < n ? _mm512_maskz_loadu_ps(m, v + ja * vs + e) : _mm512_setzero_ps();
            const __m512 b = jb < n ? _mm512_maskz_loadu_ps(m, v + jb * vs + e) : _mm512_setzero_ps();
            const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(b, a);  // a in the low 256 bits
            _mm512_storeu_si512(vw + j2 * evp + e, _mm512_permutexvar_epi16(idx, h));
        }
    }
}

template <int R, int C>
KILN_BF16_INLINE void score_tile_bf16(const uint32_t* qw, int64_t qws, const uint32_t* kt, int64_t kts, int64_t e2n,
                                      float* s, int64_t ss) {
    __m512 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    for (int64_t e2 = 0; e2 < e2n; ++e2) {
        __m512bh kv[C];
        for (int c = 0; c < C; ++c) kv[c] = (__m512bh)_mm512_loadu_si512(kt + e2 * kts + c * 16);
        for (int r = 0; r < R; ++r) {
            const __m512bh qv = (__m512bh)_mm512_set1_epi32(static_cast<int>(qw[r * qws + e2]));
            for (int c = 0; c < C; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], qv, kv[c]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) _mm512_storeu_ps(s + r * ss + c * 16, acc[r][c]);
}

template <int R, int C>
KILN_BF16_INLINE void pv_tile_bf16(const uint32_t* pw, int64_t pws, const uint32_t* vw, int64_t vws, int64_t n2,
                                   float* acc, int64_t as) {
    __m512 a[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) a[r][c] = _mm512_loadu_ps(acc + r * as + c * 16);
    for (int64_t j2 = 0; j2 < n2; ++j2) {
        __m512bh vv[C];
        for (int c = 0; c < C; ++c) vv[c] = (__m512bh)_mm512_loadu_si512(vw + j2 * vws + c * 16);
        for (int r = 0; r < R; ++r) {
            const __m512bh pv = (__m512bh)_mm512_set1_epi32(static_cast<int>(pw[r * pws + j2]));
            for (int c = 0; c < C; ++c) a[r][c] = _mm512_dpbf16_ps(a[r][c], pv, vv[c]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) _mm512_storeu_ps(acc + r * as + c * 16, a[r][c]);
}

template <int R>
KILN_BF16_INLINE void score_c_bf16(int c, const uint32_t* qw, int64_t qws, const uint32_t* kt, int64_t kts,
                                   int64_t e2n, float* s, int64_t ss) {
    switch (c) {
        case 4: return score_tile_bf16<R, 4>(qw, qws, kt, kts, e2n, s, ss);
        case 3: return score_tile_bf16<R, 3>(qw, qws, kt, kts, e2n, s, ss);
        case 2: return score_tile_bf16<R, 2>(qw, qws, kt, kts, e2n, s, ss);
        default: return score_tile_bf16<R, 1>(qw, qws, kt, kts, e2n, s, ss);
    }
}
template <int R>
KILN_BF16_INLINE void pv_c_bf16(int c, const uint32_t* pw, int64_t pws, const uint32_t* vw, int64_t vws, int64_t n2,
                                float* acc, int64_t as) {
    switch (c) {
        case 4: return pv_tile_bf16<R, 4>(pw, pws, vw, vws, n2, acc, as);
        case 3: return pv_tile_bf16<R, 3>(pw, pws, vw, vws, n2, acc, as);
        case 2: return pv_tile_bf16<R, 2>(pw, pws, vw, vws, n2, acc, as);
        default: return pv_tile_bf16<R, 1>(pw, pws, vw, vws, n2, acc, as);
    }
}

// s[nr][nkp] (stride ss) = Q K^T for packed Q words qw [nr][e2n] and K^T words kt [e2n][nkp].
KILN_BF16 void scores_bf16(const uint32_t* qw, int64_t e2n, int64_t nr, const uint32_t* kt, int64_t nkp, float* s,
                           int64_t ss) {
    for (int64_t r0 = 0; r0 < nr; r0 += kTileRows) {
        const int R = static_cast<int>(std::min<int64_t>(kTileRows, nr - r0));
        for (int64_t c0 = 0; c0 < nkp; c0 += 64) {
            const int C = static_cast<int>(std::min<int64_t>(4, (nkp - c0) / 16));
            const uint32_t* q = qw + r0 * e2n;
            float* so = s + r0 * ss + c0;
            switch (R) {
                case 4: score_c_bf16<4>(C, q, e2n, kt + c0, nkp, e2n, so, ss); break;
                case 3: score_c_bf16<3>(C, q, e2n, kt + c0, nkp, e2n, so, ss); break;
                case 2: score_c_bf16<2>(C, q, e2n, kt + c0, nkp, e2n, so, ss); break;
                default: score_c_bf16<1>(C, q, e2n, kt + c0, nkp, e2n, so, ss); break;
            }
        }
    }
}

// acc[nr][evp] += P V for P words pw [nr][n2] and V words vw [n2][evp].
KILN_BF16 void pv_bf16(const uint32_t* pw, int64_t n2, int64_t nr, const uint32_t* vw, int64_t evp, float* acc) {
    for (int64_t r0 = 0; r0 < nr; r0 += kTileRows) {
        const int R = static_cast<int>(std::min<int64_t>(kTileRows, nr - r0));
        for (int64_t c0 = 0; c0 < evp; c0 += 64) {
            const int C = static_cast<int>(std::min<int64_t>(4, (evp - c0) / 16));
            const uint32_t* p = pw + r0 * n2;
            float* ao = acc + r0 * evp + c0;
            switch (R) {
                case 4: pv_c_bf16<4>(C, p, n2, vw + c0, evp, n2, ao, evp); break;
                case 3: pv_c_bf16<3>(C, p, n2, vw + c0, evp, n2, ao, evp); break;
                case 2: pv_c_bf16<2>(C, p, n2, vw + c0, evp, n2, ao, evp); break;
                default: pv_c_bf16<1>(C, p, n2, vw + c0, evp, n2, ao, evp); break;
            }
        }
    }
}

struct Args {
    const float *q, *k, *v;
    float* y;
    const float* mask_f = nullptr;    // additive mask
    const uint8_t* mask_b = nullptr;  // boolean mask
    const op::SdpaGeometry* g;
    bool causal;
    float scale;
    int64_t row_blocks;
};

// Per-thread scratch, grown on demand and kept (kernels run on the OpenMP team's threads).
float* scratch(size_t floats) {
    thread_local std::vector<float> buf;
    if (buf.size() < floats) buf.resize(floats);
    return buf.data();
}

template <class V, bool BF16 = false> KILN_INLINE void task(const Args& a, int64_t t) {
    constexpr int W = VT<V>::W;
    constexpr int CM = kTileCols<V>;
    const op::SdpaGeometry& g = *a.g;
    const int64_t L = g.L, S = g.S, E = g.E, Ev = g.Ev;
    const int64_t b = t / a.row_blocks, i0 = (t % a.row_blocks) * kRows;
    const int64_t nr = std::min(kRows, L - i0);
    const int64_t evp = (Ev + W - 1) / W * W;
    const bool transpose_k = L >= kTileRows;
    const bool pad_v = Ev % W != 0;
    // bf16: Q words [kRows][e2n], K rows in bf16 [kKeys][2 e2n], K^T words [e2n][kKeys], P in
    // bf16 [kRows][kKeys], V words [kKeys / 2][evp]; the f32 K^T and padded V are then unused.
    const int64_t e2n = (E + 1) / 2;
    const int64_t bf16_floats = BF16 ? kRows * e2n + kKeys * e2n + e2n * kKeys + kRows * kKeys / 2 + kKeys / 2 * evp : 0;
    const int64_t kt_floats = transpose_k && !BF16 ? E * kKeys : 0, vp_floats = pad_v && !BF16 ? kKeys * evp : 0;
    float* s = scratch(static_cast<size_t>(kRows * kKeys + kt_floats + kRows * evp + vp_floats + 2 * kRows + bf16_floats));
    float* kt = s + kRows * kKeys;
    float* acc = kt + kt_floats;
    float* vp = acc + kRows * evp;
    float* m = vp + vp_floats;
    float* l = m + kRows;
    uint32_t* qw = reinterpret_cast<uint32_t*>(l + kRows);
    uint32_t* kh = qw + kRows * e2n;
    uint32_t* ktw = kh + kKeys * e2n;
    uint32_t* pw = ktw + e2n * kKeys;
    uint32_t* vw = pw + kRows * kKeys / 2;
    std::fill(acc, acc + nr * evp, 0.0f);
    std::fill(m, m + nr, -kInf);
    std::fill(l, l + nr, 0.0f);
    const int64_t qr_ = g.q_row, kr_ = g.k_row, vr_ = g.v_row;
    const float* qb = a.q + g.q[static_cast<size_t>(b)] + i0 * qr_;
    const float* kb = a.k + g.k[static_cast<size_t>(b)];
    const float* vb = a.v + g.v[static_cast<size_t>(b)];
    if constexpr (BF16) rows_to_bf16(qb, qr_, nr, E, reinterpret_cast<uint16_t*>(qw), 2 * e2n);
    // Causal: keys after the block's last row are masked for every row of it.
    const int64_t s_end = a.causal ? std::min(S, i0 + nr) : S;
    for (int64_t j0 = 0; j0 < s_end; j0 += kKeys) {
        const int64_t nk = std::min(kKeys, s_end - j0), nkp = (nk + W - 1) / W * W;
        // Scores of the block.
        if constexpr (BF16) {
            rows_to_bf16(kb + j0 * kr_, kr_, nk, E, reinterpret_cast<uint16_t*>(kh), 2 * e2n);
            for (int64_t e2 = 0; e2 < e2n; ++e2) {
                uint32_t* kte = ktw + e2 * nkp;
                for (int64_t jj = 0; jj < nk; ++jj) kte[jj] = kh[jj * e2n + e2];
                for (int64_t jj = nk; jj < nkp; ++jj) kte[jj] = 0;
            }
            scores_bf16(qw, e2n, nr, ktw, nkp, s, kKeys);
        } else if (transpose_k) {
            // Strided reads, contiguous writes: far cheaper than the other way round (stores
            // a power-of-two apart alias in the store buffer).
            const float* kr = kb + j0 * kr_;
            for (int64_t e = 0; e < E; ++e) {
                float* kte = kt + e * kKeys;
                for (int64_t jj = 0; jj < nk; ++jj) kte[jj] = kr[jj * kr_ + e];
                for (int64_t jj = nk; jj < nkp; ++jj) kte[jj] = 0.0f;
            }
            for (int64_t r0 = 0; r0 < nr; r0 += kTileRows) {
                const int R = static_cast<int>(std::min<int64_t>(kTileRows, nr - r0));
                for (int64_t c0 = 0; c0 < nkp; c0 += CM * W) {
                    const int C = static_cast<int>(std::min<int64_t>(CM, (nkp - c0) / W));
                    score_rc<V>(R, C, qb + r0 * qr_, qr_, kt + c0, kKeys, E, s + r0 * kKeys + c0, kKeys);
                }
            }
        } else {
            for (int64_t r = 0; r < nr; ++r) {
                const float* qr = qb + r * qr_;
                for (int64_t jj = 0; jj < nk; ++jj) {
                    const float* kr = kb + (j0 + jj) * kr_;
                    V av = splat<V>(0.0f);
                    int64_t e = 0;
                    for (; e + W <= E; e += W) av += load<V>(qr + e) * load<V>(kr + e);
                    float x = hsum(av);
                    for (; e < E; ++e) x += qr[e] * kr[e];
                    s[r * kKeys + jj] = x;
                }
            }
        }
        // Scale, bias, running max and sum; s becomes the block's unnormalized probabilities.
        for (int64_t r = 0; r < nr; ++r) {
            float* sr = s + r * kKeys;
            const int64_t i = i0 + r;
            for (int64_t jj = 0; jj < nkp; jj += W) store(sr + jj, load<V>(sr + jj) * a.scale);
            if (a.mask_f || a.mask_b) {
                const int64_t off = g.mask[static_cast<size_t>(b)] + i * g.mask_row;
                if (a.mask_f) {
                    const float* mr = a.mask_f + off;
                    if (g.mask_col == 0) {
                        const V mv = splat<V>(mr[0]);
                        for (int64_t jj = 0; jj < nkp; jj += W) store(sr + jj, load<V>(sr + jj) + mv);
                    } else {
                        int64_t jj = 0;
                        for (; jj + W <= nk; jj += W) store(sr + jj, load<V>(sr + jj) + load<V>(mr + j0 + jj));
                        for (; jj < nk; ++jj) sr[jj] += mr[j0 + jj];
                    }
                } else {
                    const uint8_t* mr = a.mask_b + off;
                    for (int64_t jj = 0; jj < nk; ++jj)
                        if (!mr[(j0 + jj) * g.mask_col]) sr[jj] = -kInf;
                }
            }
            if (a.causal)
                for (int64_t jj = std::max<int64_t>(0, i + 1 - j0); jj < nk; ++jj) sr[jj] = -kInf;
            for (int64_t jj = nk; jj < nkp; ++jj) sr[jj] = -kInf;
            V mv = splat<V>(-kInf);
            for (int64_t jj = 0; jj < nkp; jj += W) mv = vmax(mv, load<V>(sr + jj));
            const float m_new = std::max(m[r], hmax(mv));
            if (m_new == -kInf) {  // nothing to attend so far: the block adds nothing
                std::fill(sr, sr + nkp, 0.0f);
                continue;
            }
            const float alpha = std::exp(m[r] - m_new);  // 0 for the first finite block
            const V mn = splat<V>(m_new);
            V sum = splat<V>(0.0f);
            for (int64_t jj = 0; jj < nkp; jj += W) {
                V p = vexp(load<V>(sr + jj) - mn);
                sum += p;
                store(sr + jj, p);
            }
            l[r] = l[r] * alpha + hsum(sum);
            m[r] = m_new;
            if (alpha != 1.0f) {
                float* ar = acc + r * evp;
                const V av = splat<V>(alpha);
                for (int64_t e = 0; e < evp; e += W) store(ar + e, load<V>(ar + e) * av);
            }
        }
        // acc += P V.
        if constexpr (BF16) {
            rows_to_bf16(s, kKeys, nr, nkp, reinterpret_cast<uint16_t*>(pw), nkp);
            pack_v_bf16(vb + j0 * vr_, vr_, nk, nkp, Ev, evp, vw);
            pv_bf16(pw, nkp / 2, nr, vw, evp, acc);
            continue;
        }
        const float* vsrc = vb + j0 * vr_;
        int64_t vs = vr_;
        if (pad_v) {
            for (int64_t jj = 0; jj < nk; ++jj) {
                std::memcpy(vp + jj * evp, vsrc + jj * vr_, static_cast<size_t>(Ev) * sizeof(float));
                std::fill(vp + jj * evp + Ev, vp + (jj + 1) * evp, 0.0f);
            }
            vsrc = vp;
            vs = evp;
        }
        for (int64_t r0 = 0; r0 < nr; r0 += kTileRows) {
            const int R = static_cast<int>(std::min<int64_t>(kTileRows, nr - r0));
            for (int64_t c0 = 0; c0 < evp; c0 += CM * W) {
                const int C = static_cast<int>(std::min<int64_t>(CM, (evp - c0) / W));
                pv_rc<V>(R, C, s + r0 * kKeys, kKeys, vsrc + c0, vs, nk, acc + r0 * evp + c0, evp);
            }
        }
    }
    // A row with every score -inf has l = 0 and gives NaN (0 * inf), as the specification's softmax.
    float* yb = a.y + g.y[static_cast<size_t>(b)] + i0 * g.y_row;
    for (int64_t r = 0; r < nr; ++r) {
        const float inv = 1.0f / l[r];
        const float* ar = acc + r * evp;
        float* yr = yb + r * g.y_row;
        for (int64_t e = 0; e < Ev; ++e) yr[e] = ar[e] * inv;
    }
}

KILN_AVX512 void tasks_avx512(const Args& a, int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) task<f32x16>(a, t);
}
KILN_BF16 void tasks_avx512_bf16(const Args& a, int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) task<f32x16, true>(a, t);
}
KILN_AVX2 void tasks_avx2(const Args& a, int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) task<f32x8>(a, t);
}


using TasksFn = void (*)(const Args&, int64_t, int64_t);

class AttentionKernel : public Kernel {
public:
    AttentionKernel(TasksFn fn, const char* name, bool causal, op::SdpaGeometry::Layout layout, const KernelShapes& sh)
        : fn_(fn), name_(name), causal_(causal) {
        has_mask_ = !causal_ && sh.inputs.size() > 3;
        mask_bool_ = has_mask_ && sh.in_type(3) == Type::boolean;
        Shape ms;
        if (has_mask_) ms = sh.in(3);
        auto seen = [](Shape s, bool blhe) {
            if (blhe) std::swap(s[1], s[2]);
            return s;
        };
        g_ = op::SdpaGeometry::of(seen(sh.in(0), layout.q), seen(sh.in(1), layout.k), seen(sh.in(2), layout.v),
                                  has_mask_ ? &ms : nullptr, seen(sh.out(0), layout.y), layout);
        if (sh.inputs.size() > 4) {
            if (sh.constants.size() > 4 && sh.constants[4]) scale_ = sh.constants[4]->data<float>()[0];
            else scale_input_ = true;
        } else {
            scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(g_.E)));
        }
        row_blocks_ = (g_.L + kRows - 1) / kRows;
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        Args a{in[0].data<float>(), in[1].data<float>(), in[2].data<float>(), out[0].data<float>()};
        if (has_mask_) {
            if (mask_bool_) a.mask_b = static_cast<const uint8_t*>(in[3].data());
            else a.mask_f = in[3].data<float>();
        }
        a.g = &g_;
        a.causal = causal_;
        a.scale = scale_input_ ? in[4].data<float>()[0] : scale_;
        a.row_blocks = row_blocks_;
        const int64_t tasks = static_cast<int64_t>(g_.q.size()) * row_blocks_;
        const int64_t work = g_.L * g_.S * (g_.E + g_.Ev) * static_cast<int64_t>(g_.q.size());
        if (tasks <= 1 || work < (int64_t{1} << 16) || omp_in_parallel()) {
            fn_(a, 0, tasks);
            return;
        }
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; ++t) fn_(a, t, t + 1);
    }
    const char* name() const override { return name_; }

private:
    TasksFn fn_;
    const char* name_;
    op::SdpaGeometry g_;
    bool causal_, has_mask_ = false, mask_bool_ = false, scale_input_ = false;
    float scale_ = 1.0f;
    int64_t row_blocks_ = 1;
};

}  // namespace

bool attention_isa_supported(AttentionIsa isa) {
    switch (isa) {
        case AttentionIsa::avx512: return cpu_has_avx512();
        case AttentionIsa::avx2: return cpu_has_avx2();
        case AttentionIsa::avx512_bf16: return cpu_has_avx512_bf16();
        case AttentionIsa::best: return cpu_has_avx512() || cpu_has_avx2();
    }
    return false;
}

KernelPtr make_attention_kernel_for_isa(const Node& node, const KernelShapes& sh, AttentionIsa isa) {
    auto* op = dynamic_cast<const op::ScaledDotProductAttention*>(&node);
    auto* fused = dynamic_cast<const op::FusedScaledDotProductAttention*>(&node);
    if ((!op && !fused) || !attention_isa_supported(isa)) return nullptr;
    const bool causal = op ? op->causal : fused->causal;
    const op::SdpaGeometry::Layout layout = op ? op::SdpaGeometry::Layout{} : fused->layout;
    // The query's L as the op sees it.
    const int64_t rows = sh.in(0).size() >= 2 ? sh.in(0)[sh.in(0).size() - (layout.q ? 3 : 2)] : 0;
    if (isa == AttentionIsa::best) {
        // bf16 where the compiled model allows it and the block kernel runs (L >= 4 rows; a
        // decoding step's single row stays f32, where it is bound by reading K and V anyway).
        const bool bf16 = sh.inference_precision == Type::bf16 && cpu_has_avx512_bf16() &&
                          rows >= kTileRows;
        isa = bf16 ? AttentionIsa::avx512_bf16 : cpu_has_avx512() ? AttentionIsa::avx512 : AttentionIsa::avx2;
    }
    for (size_t i = 0; i < 3; ++i)
        if (sh.in_type(i) != Type::f32) return nullptr;
    if (sh.out_type(0) != Type::f32) return nullptr;
    if (sh.inputs.size() > 3 && sh.in_type(3) != Type::f32 && sh.in_type(3) != Type::boolean) return nullptr;
    if (sh.inputs.size() > 4 && sh.in_type(4) != Type::f32) return nullptr;
    // Empty tensors (and S = 0, whose output is zeros) are left to the reference.
    if (shape_size(sh.out(0)) == 0 || shape_size(sh.in(1)) == 0 || shape_size(sh.in(2)) == 0) return nullptr;
    if (isa == AttentionIsa::avx512_bf16)
        return std::make_unique<AttentionKernel>(tasks_avx512_bf16, "avx512_bf16_attention", causal, layout, sh);
    if (isa == AttentionIsa::avx512)
        return std::make_unique<AttentionKernel>(tasks_avx512, "avx512_attention", causal, layout, sh);
    return std::make_unique<AttentionKernel>(tasks_avx2, "avx2_attention", causal, layout, sh);
}

KernelPtr make_attention_kernel(const Node& node, const KernelShapes& sh) {
    return make_attention_kernel_for_isa(node, sh, AttentionIsa::best);
}

}  // namespace kiln::cpu

#include "kiln/runtime/cpu/kernels/gemm.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/runtime/cpu/isa.hpp"
#include "kiln/runtime/cpu/kernels/eltwise.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu {

namespace {

// A panel's slice of one pass (KC x NR floats) is 16 KiB: it stays in L1 beside A's rows.
constexpr int64_t kSliceFloats = 4096;

// C tile [R x NR] (ldc apart) = A rows [R x kc] times a packed panel slice [kc x NR], added to
// what C holds when `acc`, plus bias[0, NR) when `bias` is given (the last pass). A is packed too,
// per pass: row r's value k at a[k * MR + r], so that the broadcasts walk one contiguous run
// (rows of A read in place sit K floats apart, and for K a multiple of 1024 all of them fall in
// one L1 set: packing is what keeps that case at speed).
using TileFn = void (*)(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, bool acc,
                        const float* bias);

template <int R>
__attribute__((target("avx2,fma"))) void tile_avx2(const float* a, int64_t lda, const float* b, int64_t kc, float* c,
                                                    int64_t ldc, bool acc, const float* bias) {
    __m256 x0[R], x1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) x0[r] = x1[r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_load_ps(b + k * 16), b1 = _mm256_load_ps(b + k * 16 + 8);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m256 av = _mm256_broadcast_ss(a + k * lda + r);
            x0[r] = _mm256_fmadd_ps(av, b0, x0[r]);
            x1[r] = _mm256_fmadd_ps(av, b1, x1[r]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        if (acc) {
            x0[r] = _mm256_add_ps(x0[r], _mm256_loadu_ps(cr));
            x1[r] = _mm256_add_ps(x1[r], _mm256_loadu_ps(cr + 8));
        }
        if (bias) {
            x0[r] = _mm256_add_ps(x0[r], _mm256_loadu_ps(bias));
            x1[r] = _mm256_add_ps(x1[r], _mm256_loadu_ps(bias + 8));
        }
        _mm256_storeu_ps(cr, x0[r]);
        _mm256_storeu_ps(cr + 8, x1[r]);
    }
}

template <int R>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) void tile_avx512(const float* a, int64_t lda,
                                                                                         const float* b, int64_t kc,
                                                                                         float* c, int64_t ldc, bool acc,
                                                                                         const float* bias) {
    __m512 x0[R], x1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) x0[r] = x1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b + k * 32), b1 = _mm512_load_ps(b + k * 32 + 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512 av = _mm512_set1_ps(a[k * lda + r]);
            x0[r] = _mm512_fmadd_ps(av, b0, x0[r]);
            x1[r] = _mm512_fmadd_ps(av, b1, x1[r]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        if (acc) {
            x0[r] = _mm512_add_ps(x0[r], _mm512_loadu_ps(cr));
            x1[r] = _mm512_add_ps(x1[r], _mm512_loadu_ps(cr + 16));
        }
        if (bias) {
            x0[r] = _mm512_add_ps(x0[r], _mm512_loadu_ps(bias));
            x1[r] = _mm512_add_ps(x1[r], _mm512_loadu_ps(bias + 16));
        }
        _mm512_storeu_ps(cr, x0[r]);
        _mm512_storeu_ps(cr + 16, x1[r]);
    }
}

// One instruction set: tile sizes, the tile for each row count 1..MR, and the activations' routines.
struct Isa {
    int64_t mr, nr;
    std::array<TileFn, 13> tiles;  // [rows]
    EltwiseIsa elt;
    const char* name;
};

const Isa kAvx2{6, 16,
                {nullptr, tile_avx2<1>, tile_avx2<2>, tile_avx2<3>, tile_avx2<4>, tile_avx2<5>, tile_avx2<6>},
                EltwiseIsa::avx2, "avx2_gemm"};
const Isa kAvx512{12, 32,
                  {nullptr, tile_avx512<1>, tile_avx512<2>, tile_avx512<3>, tile_avx512<4>, tile_avx512<5>, tile_avx512<6>,
                   tile_avx512<7>, tile_avx512<8>, tile_avx512<9>, tile_avx512<10>, tile_avx512<11>, tile_avx512<12>},
                  EltwiseIsa::avx512, "avx512_gemm"};

// B in panels of nr columns: panel p holds columns [p nr, p nr + nr) as K rows of nr floats, zeros
// past N; 64-byte aligned, so that every row of a panel is too.
struct PackedB {
    float* data = nullptr;
    explicit PackedB(size_t floats) : data(static_cast<float*>(std::aligned_alloc(64, (floats * 4 + 63) / 64 * 64))) {
        if (!data) throw std::bad_alloc();
    }
    ~PackedB() { std::free(data); }
    PackedB(const PackedB&) = delete;
    PackedB& operator=(const PackedB&) = delete;
};

std::shared_ptr<const PackedB> pack(const float* b, int64_t K, int64_t N, bool tb, int64_t nr) {
    const int64_t panels = (N + nr - 1) / nr;
    auto p = std::make_shared<PackedB>(static_cast<size_t>(panels * K * nr));
    float* d = p->data;
    for (int64_t pn = 0; pn < panels; ++pn)
        for (int64_t j = 0; j < nr; ++j) {
            const int64_t col = pn * nr + j;
            float* dst = d + pn * K * nr + j;
            if (col >= N) {
                for (int64_t k = 0; k < K; ++k) dst[k * nr] = 0.f;
            } else if (tb) {
                const float* src = b + col * K;
                for (int64_t k = 0; k < K; ++k) dst[k * nr] = src[k];
            } else {
                for (int64_t k = 0; k < K; ++k) dst[k * nr] = b[k * N + col];
            }
        }
    return p;
}

// The packing of these weights, shared by every kernel (every plan) that asks for it while one
// holds it; the bytes' fingerprint keeps weights changed in place from getting an old packing.
std::shared_ptr<const PackedB> packed_b(const float* b, int64_t K, int64_t N, bool tb, int64_t nr) {
    struct Entry {
        const float* data;
        uint64_t print;
        int64_t k, n, nr;
        bool tb;
        std::weak_ptr<const PackedB> packed;
    };
    static std::mutex mutex;
    static std::vector<Entry> cache;
    const uint64_t print = onednn::fingerprint(b, static_cast<size_t>(K * N) * sizeof(float));
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& e : cache)
        if (e.data == b && e.print == print && e.k == K && e.n == N && e.nr == nr && e.tb == tb)
            if (auto p = e.packed.lock()) return p;
    auto p = pack(b, K, N, tb, nr);
    std::erase_if(cache, [](const Entry& e) { return e.packed.expired(); });
    cache.push_back(Entry{b, print, K, N, nr, tb, p});
    return p;
}

class GemmKernel : public Kernel {
public:
    GemmKernel(const Isa& isa, const KernelShapes& sh, int64_t rows, int64_t K, int64_t N, bool tb, bool with_bias,
               std::vector<op::PostOp> post_ops)
        : isa_(isa), m_(rows), k_(K), n_(N), post_ops_(std::move(post_ops)) {
        b_ = packed_b(sh.constants[1]->data<float>(), K, N, tb, isa.nr);
        if (with_bias) {
            if (sh.constants.size() > 2 && sh.constants[2]) {
                // Padded with zeros to whole panels: the tiles add a full panel's width.
                const float* bias = sh.constants[2]->data<float>();
                bias_.assign(static_cast<size_t>((N + isa.nr - 1) / isa.nr * isa.nr), 0.f);
                std::copy(bias, bias + N, bias_.begin());
            } else {
                bias_input_ = 2;
            }
        }
        if (op::has_sum(post_ops_)) residual_input_ = static_cast<int>(sh.inputs.size()) - 1;
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const float* bias = bias_input_ >= 0 ? in[bias_input_].data<float>() : nullptr;  // a run-time bias
        const float* res = residual_input_ >= 0 ? in[residual_input_].data<float>() : nullptr;
        run(in[0].data<float>(), out[0].data<float>(), bias, res);
    }
    const char* name() const override { return isa_.name; }
    std::string detail() const override {
        return str_cat("packed B, ", isa_.mr, "x", isa_.nr, " tiles, K passes of ", kSliceFloats / isa_.nr);
    }

private:
    void run(const float* a, float* c, const float* bias, const float* res) const {
        const int64_t M = m_, N = n_, K = k_, mr = isa_.mr, nr = isa_.nr, kKC = kSliceFloats / nr;
        const int64_t panels = (N + nr - 1) / nr;
        // Rows of A per block: its KC-deep slice (mc x KC floats, up to 192 KiB) stays in L2 across
        // the panels, so that each pass streams B once for the usual row counts.
        const int64_t mc = std::min<int64_t>((M + mr - 1) / mr * mr, std::max<int64_t>(mr, 49152 / kKC / mr * mr));
        const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
        const int threads = flops < 2e5 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
        {
            const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
            // Panels per thread where there are enough, else rows (in whole tiles).
            int64_t p0 = 0, p1 = panels, r0 = 0, r1 = M;
            if (panels >= T) {
                p0 = t * panels / T;
                p1 = (t + 1) * panels / T;
            } else {
                const int64_t tiles = (M + mr - 1) / mr;
                r0 = std::min(M, t * tiles / T * mr);
                r1 = std::min(M, (t + 1) * tiles / T * mr);
            }
            alignas(64) float scratch[12 * 32];
            thread_local std::vector<float> packed_a;
            if (packed_a.size() < static_cast<size_t>(mc * kKC)) packed_a.resize(static_cast<size_t>(mc * kKC));
            for (int64_t k0 = 0; k0 < K; k0 += kKC) {
                const int64_t kc = std::min(kKC, K - k0);
                const bool acc = k0 > 0, last = k0 + kc == K;
                for (int64_t m0 = r0; m0 < r1; m0 += mc) {
                    const int64_t m1 = std::min(m0 + mc, r1);
                    for (int64_t m = m0; m < m1; m += mr) {
                        float* dst = packed_a.data() + (m - m0) * kc;
                        const int64_t rows = std::min(mr, m1 - m);
                        for (int64_t r = 0; r < rows; ++r) {
                            const float* src = a + (m + r) * K + k0;
                            for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
                        }
                    }
                    for (int64_t p = p0; p < p1; ++p) {
                        const int64_t col0 = p * nr, cols = std::min(nr, N - col0);
                        const float* bp = b_->data + (p * K + k0) * nr;
                        for (int64_t m = m0; m < m1; m += mr) {
                            const int64_t rows = std::min(mr, m1 - m);
                            float* ct = c + m * N + col0;
                            TileFn tile = isa_.tiles[rows];
                            // The bias goes in with the tile when it is padded to whole panels.
                            const float* tb = last && !bias_.empty() ? bias_.data() + col0 : nullptr;
                            if (cols == nr) {
                                tile(packed_a.data() + (m - m0) * kc, mr, bp, kc, ct, N, acc, tb);
                            } else {  // the last panel: through a full-width tile
                                if (acc)
                                    for (int64_t r = 0; r < rows; ++r) std::memcpy(scratch + r * nr, ct + r * N, cols * 4);
                                tile(packed_a.data() + (m - m0) * kc, mr, bp, kc, scratch, nr, acc, tb);
                                for (int64_t r = 0; r < rows; ++r) std::memcpy(ct + r * N, scratch + r * nr, cols * 4);
                            }
                            if (last) finish(ct, m, rows, col0, cols, bias_.empty() ? bias : nullptr, res);
                        }
                    }
                }
            }
        }
    }

    // The epilogue of a finished tile (rows x cols at row m, column col0): bias, then the chain.
    // (bias: a run-time bias, which the tiles do not add; a constant one they added already.)
    void finish(float* ct, int64_t m, int64_t rows, int64_t col0, int64_t cols, const float* bias, const float* res) const {
        if (!bias && post_ops_.empty()) return;
        for (int64_t r = 0; r < rows; ++r) {
            float* row = ct + r * n_;
            if (bias)
                for (int64_t j = 0; j < cols; ++j) row[j] += bias[col0 + j];
            for (auto& op : post_ops_) {
                if (op.sum) {
                    const float* rr = res + (m + r) * n_ + col0;
                    for (int64_t j = 0; j < cols; ++j) row[j] += rr[j];
                } else {
                    apply_activation(op.act, row, cols, isa_.elt);
                }
            }
        }
    }

    const Isa& isa_;
    int64_t m_, k_, n_;
    std::vector<op::PostOp> post_ops_;
    std::shared_ptr<const PackedB> b_;
    std::vector<float> bias_;
    int bias_input_ = -1, residual_input_ = -1;
};

enum class Choice { automatic, kiln, onednn };

// Read at each kernel's creation (once per plan), so that one process can compare both.
Choice choice() {
    const char* v = std::getenv("KILN_GEMM");
    if (v && std::strcmp(v, "kiln") == 0) return Choice::kiln;
    if (v && std::strcmp(v, "onednn") == 0) return Choice::onednn;
    return Choice::automatic;
}

}  // namespace

bool gemm_isa_supported(GemmIsa isa) { return isa == GemmIsa::avx512 ? cpu_has_avx512() : cpu_has_avx2(); }

KernelPtr make_gemm_kernel_for(const Node& node, const KernelShapes& sh, GemmIsa isa) {
    if (!gemm_isa_supported(isa)) return nullptr;
    bool ta = false, tb = false, with_bias = false;
    std::vector<op::PostOp> post_ops;
    if (auto* m = dynamic_cast<const op::MatMul*>(&node)) {
        ta = m->transpose_a;
        tb = m->transpose_b;
    } else if (auto* f = dynamic_cast<const op::FusedMatMul*>(&node)) {
        ta = f->transpose_a;
        tb = f->transpose_b;
        with_bias = f->with_bias;
        post_ops = f->post_ops;
    } else {
        return nullptr;
    }
    if (ta || sh.inputs.size() < 2 || sh.constants.size() < 2 || !sh.constants[1]) return nullptr;
    for (auto& d : sh.inputs)
        if (d.type != Type::f32 || !d.shape.is_static()) return nullptr;
    if (sh.outputs.size() != 1 || sh.out_type(0) != Type::f32 || !sh.outputs[0].shape.is_static()) return nullptr;
    const Shape a = sh.in(0), b = sh.in(1);
    if (a.empty() || b.size() != 2) return nullptr;
    const int64_t K = a.back(), N = tb ? b[0] : b[1];
    if ((tb ? b[1] : b[0]) != K || K == 0 || N == 0) return nullptr;
    const int64_t rows = static_cast<int64_t>(shape_size(a)) / K;
    if (rows == 0 || static_cast<int64_t>(shape_size(sh.out(0))) != rows * N) return nullptr;
    if (with_bias && (sh.inputs.size() < 3 || static_cast<int64_t>(shape_size(sh.in(2))) != N)) return nullptr;
    if (op::has_sum(post_ops) && static_cast<int64_t>(shape_size(sh.inputs.back().shape.to_shape())) != rows * N)
        return nullptr;
    return std::make_unique<GemmKernel>(isa == GemmIsa::avx512 ? kAvx512 : kAvx2, sh, rows, K, N, tb, with_bias,
                                        std::move(post_ops));
}

KernelPtr make_gemm_kernel(const Node& node, const KernelShapes& sh) {
    const Choice c = choice();
    if (c == Choice::onednn) return nullptr;
    // bf16 precision: oneDNN's bf16 matmul (kiln's GEMM computes in f32).
    if (sh.inference_precision == Type::bf16 && cpu_has_avx512_bf16() && c != Choice::kiln) return nullptr;
    if (c == Choice::automatic && cpu_has_avx512()) return nullptr;  // oneDNN's brgemm matmul
    return make_gemm_kernel_for(node, sh, cpu_has_avx512() ? GemmIsa::avx512 : GemmIsa::avx2);
}

}  // namespace kiln::cpu

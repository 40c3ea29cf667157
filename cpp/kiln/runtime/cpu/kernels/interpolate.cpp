#include "kiln/runtime/cpu/kernels/interpolate.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kiln/ops/interpolate.hpp"

namespace kiln::cpu {
namespace interpolate_detail {

struct IsaImpl {
    const char* name;
    void (*resample_row)(const float* x, const int32_t* idx, const float* w, int64_t taps, float* y, int64_t n);
    void (*gather_row)(const float* x, const int32_t* idx, float* y, int64_t n);
    void (*scale_add_row)(float w, const float* x, float* y, int64_t n, bool first);
};

// Vector values never cross into baseline-target code (the entry points take pointers).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
constexpr int64_t W = 8;
constexpr const char* kName = "avx2_interpolate";
using VF = __m256;
inline VF vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF vset(float v) { return _mm256_set1_ps(v); }
inline VF vmul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF vfma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline VF vgather(const float* x, const int32_t* idx) {
    return _mm256_i32gather_ps(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)), 4);
}
#include "kiln/runtime/cpu/kernels/interpolate_simd.inc"
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
// GCC 12's AVX-512 headers trip this warning on their own _mm512_undefined_* (GCC PR105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {
constexpr int64_t W = 16;
constexpr const char* kName = "avx512_interpolate";
using VF = __m512;
inline VF vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF vset(float v) { return _mm512_set1_ps(v); }
inline VF vmul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF vfma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VF vgather(const float* x, const int32_t* idx) {
    return _mm512_i32gather_ps(_mm512_loadu_si512(idx), x, 4);
}
#include "kiln/runtime/cpu/kernels/interpolate_simd.inc"
}  // namespace avx512
#pragma GCC diagnostic pop
#pragma GCC pop_options
#pragma GCC diagnostic pop

bool cpu_has(InterpolateIsa isa) {
    return isa == InterpolateIsa::avx512 ? cpu_has_avx512() : cpu_has_avx2();
}

// Below this many output elements the kernel stays on one thread.
constexpr int64_t kParallelElements = int64_t{1} << 14;

// The image seen as [planes, D, H, W] (D and H are 1 when the rank is lower): planes are never
// resampled, W by gathering taps, each output (d, h) row by a weighted sum of input rows.
struct Plan {
    int64_t planes = 1, rows_in = 1, rows_out = 1, w_in = 1, w_out = 1;
    // Taps of the last axis, tap-major: [k * w_out + j]. w_taps == 0: the axis is unchanged.
    int64_t w_taps = 0;
    bool w_nearest = false;  // one tap of weight 1
    std::vector<int32_t> w_index;
    std::vector<float> w_weight;
    // Input rows of each output row (CSR), weights the products of the D and H taps.
    std::vector<int64_t> row_begin;
    std::vector<int64_t> row_src;
    std::vector<float> row_weight;
    int64_t max_row_taps = 1;
    bool rows_copy = true;  // every output row is one input row of weight 1
};

// Nullopt when the tables are not in the covered form (an axis before the last three moves).
std::optional<Plan> make_plan(const std::vector<op::AxisTaps>& taps) {
    const size_t r = taps.size();
    Plan p;
    const size_t first = r > 3 ? r - 3 : 0;
    for (size_t a = 0; a < first; ++a) {
        if (!taps[a].identity()) return std::nullopt;
        p.planes *= taps[a].out;
    }
    op::AxisTaps one = op::AxisTaps::identity(1);
    const op::AxisTaps& wt = r >= 1 ? taps[r - 1] : one;
    const op::AxisTaps& ht = r >= 2 && r - 2 >= first ? taps[r - 2] : one;
    const op::AxisTaps& dt = r >= 3 && r - 3 >= first ? taps[r - 3] : one;
    p.w_in = wt.in;
    p.w_out = wt.out;
    if (p.w_in > std::numeric_limits<int32_t>::max()) return std::nullopt;
    p.rows_in = dt.in * ht.in;
    p.rows_out = dt.out * ht.out;
    if (!wt.identity()) {
        p.w_taps = wt.taps;
        p.w_nearest = wt.taps == 1;
        p.w_index.resize(static_cast<size_t>(wt.taps * wt.out));
        p.w_weight.resize(p.w_index.size());
        for (int64_t j = 0; j < wt.out; ++j)
            for (int64_t k = 0; k < wt.taps; ++k) {
                size_t src = static_cast<size_t>(j * wt.taps + k), dst = static_cast<size_t>(k * wt.out + j);
                p.w_index[dst] = static_cast<int32_t>(wt.index[src]);
                p.w_weight[dst] = static_cast<float>(wt.weight[src]);
                if (wt.weight[src] != 1.0) p.w_nearest = false;
            }
    }
    p.row_begin.push_back(0);
    for (int64_t od = 0; od < dt.out; ++od)
        for (int64_t oh = 0; oh < ht.out; ++oh) {
            int64_t n = 0;
            for (int64_t kd = 0; kd < dt.taps; ++kd) {
                size_t ed = static_cast<size_t>(od * dt.taps + kd);
                if (dt.weight[ed] == 0) continue;
                for (int64_t kh = 0; kh < ht.taps; ++kh) {
                    size_t eh = static_cast<size_t>(oh * ht.taps + kh);
                    if (ht.weight[eh] == 0) continue;
                    p.row_src.push_back(dt.index[ed] * ht.in + ht.index[eh]);
                    p.row_weight.push_back(static_cast<float>(dt.weight[ed] * ht.weight[eh]));
                    ++n;
                }
            }
            if (n == 0) {  // every weight 0 (an empty input window): a zero row
                p.row_src.push_back(0);
                p.row_weight.push_back(0.f);
                n = 1;
            }
            if (n != 1 || p.row_weight.back() != 1.f) p.rows_copy = false;
            p.max_row_taps = std::max(p.max_row_taps, n);
            p.row_begin.push_back(static_cast<int64_t>(p.row_src.size()));
        }
    return p;
}

class InterpolateKernel : public Kernel {
public:
    InterpolateKernel(const IsaImpl* isa, Plan plan) : isa_(isa), plan_(std::move(plan)) {}

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        if (out[0].size() != 0) run(plan_, in[0].data<float>(), out[0].data<float>());
    }
    const char* name() const override { return isa_->name; }

private:
    void run(const Plan& p, const float* x, float* y) const {
        const int64_t wo = p.w_out, total = p.planes * p.rows_out * wo;
        const int nt = total >= kParallelElements ? std::max(1, omp_get_max_threads()) : 1;
        // Bands of output rows: enough jobs to share out, long enough to reuse cached rows.
        int64_t band = p.rows_out;
        while (band > 1 && p.planes * ((p.rows_out + band - 1) / band) < 4 * nt) band = (band + 1) / 2;
        const int64_t bands = (p.rows_out + band - 1) / band, jobs = p.planes * bands;
        const int64_t slots = p.max_row_taps + 2;
#pragma omp parallel num_threads(nt)
        {
            // A small cache of resampled input rows, reused by neighbouring output rows.
            std::vector<float> cache(static_cast<size_t>(p.w_taps ? slots * wo : 0));
            std::vector<int64_t> cached(static_cast<size_t>(slots), -1);
            int64_t next = 0;
#pragma omp for schedule(static)
            for (int64_t job = 0; job < jobs; ++job) {
                const int64_t plane = job / bands, r0 = (job % bands) * band, r1 = std::min(p.rows_out, r0 + band);
                const float* xp = x + plane * p.rows_in * p.w_in;
                float* yp = y + plane * p.rows_out * wo;
                std::fill(cached.begin(), cached.end(), -1);
                auto row = [&](int64_t ri) -> const float* {
                    const float* src = xp + ri * p.w_in;
                    if (!p.w_taps) return src;
                    for (int64_t s = 0; s < slots; ++s)
                        if (cached[static_cast<size_t>(s)] == ri) return cache.data() + s * wo;
                    int64_t s = next;
                    next = (next + 1) % slots;
                    cached[static_cast<size_t>(s)] = ri;
                    float* dst = cache.data() + s * wo;
                    if (p.w_nearest) isa_->gather_row(src, p.w_index.data(), dst, wo);
                    else isa_->resample_row(src, p.w_index.data(), p.w_weight.data(), p.w_taps, dst, wo);
                    return dst;
                };
                for (int64_t ro = r0; ro < r1; ++ro) {
                    float* dst = yp + ro * wo;
                    const int64_t b = p.row_begin[static_cast<size_t>(ro)], e = p.row_begin[static_cast<size_t>(ro + 1)];
                    if (p.rows_copy || (e - b == 1 && p.row_weight[static_cast<size_t>(b)] == 1.f)) {
                        // One input row as it is: resample straight into the output.
                        const float* src = xp + p.row_src[static_cast<size_t>(b)] * p.w_in;
                        if (!p.w_taps) std::memcpy(dst, src, static_cast<size_t>(wo) * sizeof(float));
                        else if (p.w_nearest) isa_->gather_row(src, p.w_index.data(), dst, wo);
                        else isa_->resample_row(src, p.w_index.data(), p.w_weight.data(), p.w_taps, dst, wo);
                        continue;
                    }
                    for (int64_t k = b; k < e; ++k)
                        isa_->scale_add_row(p.row_weight[static_cast<size_t>(k)], row(p.row_src[static_cast<size_t>(k)]),
                                            dst, wo, k == b);
                }
            }
        }
    }

    const IsaImpl* isa_;
    Plan plan_;
};

}  // namespace interpolate_detail

bool interpolate_isa_supported(InterpolateIsa isa) { return interpolate_detail::cpu_has(isa); }

KernelPtr make_interpolate_kernel_for(const Node& node, const KernelShapes& shapes, InterpolateIsa isa) {
    using namespace interpolate_detail;
    auto* op = dynamic_cast<const op::Interpolate*>(&node);
    if (!op || !cpu_has(isa)) return nullptr;
    if (shapes.inputs.size() < 2 || shapes.outputs.size() != 1) return nullptr;
    if (shapes.in_type(0) != Type::f32 || shapes.out_type(0) != Type::f32) return nullptr;
    if (!shapes.inputs[0].shape.is_static() || !shapes.outputs[0].shape.is_static()) return nullptr;
    for (auto* pads : {&op->pads_begin, &op->pads_end})
        for (int64_t v : *pads)
            if (v != 0) return nullptr;
    auto constant = [&](size_t i) { return i < shapes.constants.size() ? shapes.constants[i] : nullptr; };
    const Tensor* axes = shapes.inputs.size() > 2 ? constant(2) : nullptr;
    if (shapes.inputs.size() > 2 && !axes) return nullptr;
    const Tensor* sos = constant(1);
    const bool scales = op->shape_calculation_mode == op::ShapeCalcMode::scales;
    if (scales && !sos) return nullptr;
    // In sizes mode the taps depend on the shapes only; the sizes values are the output shape.
    Tensor sizes;
    if (!sos) {
        auto ax = op->axes_of(static_cast<int64_t>(shapes.in(0).size()), axes);
        std::vector<int64_t> v;
        for (int64_t a : ax) v.push_back(shapes.out(0)[static_cast<size_t>(a)]);
        sizes = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
        sos = &sizes;
    }
    std::vector<op::AxisTaps> taps;
    try {
        taps = op->taps(shapes.in(0), shapes.out(0), *sos, axes, false);
    } catch (const Error&) {
        return nullptr;  // the reference kernel reports it
    }
    auto plan = make_plan(taps);
    if (!plan) return nullptr;
    const IsaImpl* impl = isa == InterpolateIsa::avx512 ? &avx512::kImpl : &avx2::kImpl;
    return std::make_unique<InterpolateKernel>(impl, std::move(*plan));
}

KernelPtr make_interpolate_kernel(const Node& node, const KernelShapes& shapes) {
    if (interpolate_isa_supported(InterpolateIsa::avx512))
        return make_interpolate_kernel_for(node, shapes, InterpolateIsa::avx512);
    return make_interpolate_kernel_for(node, shapes, InterpolateIsa::avx2);
}

}  // namespace kiln::cpu

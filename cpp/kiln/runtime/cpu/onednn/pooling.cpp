// MaxPool, AvgPool, AdaptiveAvgPool and AdaptiveMaxPool on oneDNN's pooling_v2 (f32; MaxPool
// also on u8 / s8).
//
// Max pooling indices: the primitive runs in training mode and its workspace (the offset of
// the maximum inside its window) is turned into kiln's flat indices in one pass over the
// output. That costs a little over values alone, but the kernel cannot know whether the
// indices output is read, and it keeps both outputs from one pass over the input.
// Adaptive pools go to oneDNN when every axis divides evenly (then the bins are a plain
// strided window); otherwise there is no fast kernel and the reference loop runs.
#include "kiln/ops/pooling.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

struct PoolSpec {
    op::window::Geometry g;
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    bool indices = false;
    int64_t index_span = 1;  // kiln index = flat input index % index_span
    Type index_type = Type::i64;
};

class PoolKernel : public Kernel {
public:
    PoolKernel(const KernelShapes& sh, const PoolSpec& p) : p_(p) {
        auto& eng = engine();
        const Shape x = sh.in(0), y = sh.out(0);
        const int nsp = static_cast<int>(x.size()) - 2;
        memory::dims strides, kernel, dil, pl, pr;
        for (int i = 3 - nsp; i < 3; ++i) {
            strides.push_back(p.g.stride[i]);
            kernel.push_back(p.g.k[i]);
            dil.push_back(p.g.dil[i] - 1);
            pl.push_back(p.g.pb[i]);
            pr.push_back(p.g.pe_reach(i));
        }
        // Pooling keeps the channel blocking of its input (not with indices: those are plain).
        if (sh.negotiate_layouts && !p.indices && !sh.input_layouts.empty() && !sh.input_layouts[0].is_plain() &&
            !sh.input_layouts[0].bf16)
            layout_ = sh.input_layouts[0];
        src_md_ = layout_desc(x, sh.in_type(0), layout_);
        dst_md_ = layout_desc(y, sh.in_type(0), layout_);
        auto prop = p.indices ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        dnnl::pooling_v2_forward::desc d(prop, p.alg, src_md_, dst_md_, strides, kernel, dil, pl, pr);
        dnnl::pooling_v2_forward::primitive_desc pd(d, base_attr(), eng);
        prim_ = dnnl::pooling_v2_forward(pd);
        impl_ = pd.impl_info_str();
        scratch_md_ = pd.scratchpad_desc();
        if (p.indices) {
            ws_md_ = pd.workspace_desc();
            // The workspace follows the dst layout, which is plain here; insist on it.
            memory::desc want(to_dims(y), ws_md_.data_type(), to_strides(y));
            if (ws_md_ != want) throw dnnl::error(dnnl_unimplemented, "workspace is not plain");
        }
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        memory src(src_md_, eng, const_cast<void*>(in[0].data()));
        memory dst(dst_md_, eng, out[0].data());
        const size_t pad_bytes = round_up64(scratch_md_.get_size());
        char* temp = thread_buffer(pad_bytes + (p_.indices ? ws_md_.get_size() : 0));
        memory scratch(scratch_md_, eng, temp);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}};
        memory ws;
        if (p_.indices) {
            ws = memory(ws_md_, eng, temp + pad_bytes);
            args.emplace(DNNL_ARG_WORKSPACE, ws);
        }
        prim_.execute(s, args);
        s.wait();
        if (p_.indices && out.size() > 1) {
            if (ws_md_.data_type() == memory::data_type::u8)
                fill_indices(static_cast<const uint8_t*>(ws.get_data_handle()), out[1]);
            else
                fill_indices(static_cast<const int32_t*>(ws.get_data_handle()), out[1]);
        }
    }
    const char* name() const override { return "onednn_pooling"; }
    Layout input_layout(size_t i) const override { return i == 0 ? layout_ : Layout{}; }
    Layout output_layout(size_t) const override { return layout_; }
    std::string detail() const override { return impl_; }

private:
    std::string impl_;
    Layout layout_;
    static memory::dims to_strides(const Shape& s) {
        memory::dims st(s.size());
        int64_t v = 1;
        for (size_t i = s.size(); i-- > 0;) {
            st[i] = v;
            v *= s[i];
        }
        return st;
    }

    template <typename W>
    void fill_indices(const W* ws, Tensor& idx) const {
        const auto& g = p_.g;
        const int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
        const int64_t planes = g.n * g.c_in;
        const bool i32 = idx.type() == Type::i32;
#pragma omp parallel for schedule(static)
        for (int64_t pl = 0; pl < planes; ++pl)
            for (int64_t o = 0; o < out_sp; ++o) {
                const int64_t oi = pl * out_sp + o;
                int64_t kofs = static_cast<int64_t>(ws[oi]);
                int64_t kw = kofs % g.k[2], kh = (kofs / g.k[2]) % g.k[1], kd = kofs / (g.k[2] * g.k[1]);
                int64_t ow = o % g.out[2], oh = (o / g.out[2]) % g.out[1], od = o / (g.out[2] * g.out[1]);
                int64_t id = od * g.stride[0] - g.pb[0] + kd * g.dil[0];
                int64_t ih = oh * g.stride[1] - g.pb[1] + kh * g.dil[1];
                int64_t iw = ow * g.stride[2] - g.pb[2] + kw * g.dil[2];
                int64_t v = 0;
                if (id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
                    v = (pl * in_sp + (id * g.in[1] + ih) * g.in[2] + iw) % p_.index_span;
                if (i32) idx.data<int32_t>()[oi] = static_cast<int32_t>(v);
                else idx.data<int64_t>()[oi] = v;
            }
    }

    PoolSpec p_;
    dnnl::pooling_v2_forward prim_;
    memory::desc src_md_, dst_md_, ws_md_, scratch_md_;
};

}  // namespace

KernelPtr make_pooling_kernel(const Node& node, const KernelShapes& sh) {
    // u8 / s8: INT8 graphs max-pool their integers (fuse_int8), values only.
    const Type t = sh.in_type(0);
    const bool int8 = (t == Type::u8 || t == Type::i8) && dynamic_cast<const op::MaxPool*>(&node) &&
                      (sh.outputs.size() == 1 || !sh.output_read(1));
    if ((t != Type::f32 && !int8) || sh.out_type(0) != t) return nullptr;
    const Shape x = sh.in(0), y = sh.out(0);
    if (shape_size(x) == 0 || shape_size(y) == 0) return nullptr;
    PoolSpec p;
    if (auto* mp = dynamic_cast<const op::MaxPool*>(&node)) {
        p.g = op::pool_geometry(x, y, mp->kernel, mp->strides, mp->dilations, mp->pads_begin,
                                mp->pads_end, mp->auto_pad);
        p.indices = sh.outputs.size() > 1 && sh.output_read(1);
        p.index_span = mp->index_span(x);
    } else if (auto* ap = dynamic_cast<const op::AvgPool*>(&node)) {
        p.g = op::pool_geometry(x, y, ap->kernel, ap->strides, {}, ap->pads_begin, ap->pads_end,
                                ap->auto_pad);
        bool reaches_past_pads = false;
        for (int i = 0; i < 3; ++i) reaches_past_pads |= p.g.pe_reach(i) > p.g.pe[i];
        // oneDNN divides by the whole window there; kiln clips it to the padded input.
        if (!ap->exclude_pad && reaches_past_pads) return nullptr;
        p.alg = ap->exclude_pad ? dnnl::algorithm::pooling_avg_exclude_padding
                                : dnnl::algorithm::pooling_avg_include_padding;
    } else if (dynamic_cast<const op::AdaptiveAvgPool*>(&node) ||
               dynamic_cast<const op::AdaptiveMaxPool*>(&node)) {
        const bool is_max = dynamic_cast<const op::AdaptiveMaxPool*>(&node) != nullptr;
        const size_t nsp = x.size() - 2;
        std::vector<int64_t> k(nsp);
        for (size_t i = 0; i < nsp; ++i) {
            if (x[2 + i] % y[2 + i] != 0) return nullptr;
            k[i] = x[2 + i] / y[2 + i];
        }
        p.g = op::pool_geometry(x, y, k, k, {}, {}, {}, op::PadType::explicit_pad);
        p.alg = is_max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
        p.indices = is_max && sh.outputs.size() > 1 && sh.output_read(1);
        p.index_span = 1;
        for (size_t i = 2; i < x.size(); ++i) p.index_span *= x[i];
    } else {
        return nullptr;
    }
    if (p.indices && sh.out_type(1) != Type::i32 && sh.out_type(1) != Type::i64) return nullptr;
    return std::make_unique<PoolKernel>(sh, p);
}

}  // namespace kiln::cpu::onednn

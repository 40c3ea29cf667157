// Convolution, GroupConvolution and FusedConvolution on oneDNN's convolution_forward.
#include <cstring>

#include "kiln/ops/convolution.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct ConvParams {
    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    op::PadType auto_pad = op::PadType::explicit_pad;
    int64_t groups = 1;
    bool with_bias = false;
    std::vector<op::PostOp> post_ops;
};

template <typename C>
ConvParams params_of(const C& c) {
    ConvParams p;
    p.strides = c.strides;
    p.pads_begin = c.pads_begin;
    p.pads_end = c.pads_end;
    p.dilations = c.dilations;
    p.auto_pad = c.auto_pad;
    return p;
}

class ConvKernel : public Kernel {
public:
    ConvKernel(const KernelShapes& sh, const ConvParams& p, ConvLayout layout) {
        auto& eng = engine();
        const Shape x = sh.in(0), w = sh.in(1), y = sh.out(0);
        const int nsp = static_cast<int>(x.size()) - 2;
        Shape kernel(w.end() - nsp, w.end());
        auto g = op::window::resolve(x, y, kernel, p.strides, p.dilations, p.pads_begin,
                                     p.pads_end, p.auto_pad);
        memory::dims strides, dil, pl, pr;
        for (int i = 3 - nsp; i < 3; ++i) {
            strides.push_back(g.stride[i]);
            dil.push_back(g.dil[i] - 1);  // oneDNN counts the gaps
            pl.push_back(g.pb[i]);
            pr.push_back(g.pe[i]);
        }
        // Weights as oneDNN sees them: [G, O/G, I/G, k...] when grouped.
        Shape wd;
        const int64_t oc = y[1];
        if (p.groups > 1) {
            wd = {p.groups, oc / p.groups, x[1] / p.groups};
            wd.insert(wd.end(), kernel.begin(), kernel.end());
        } else {
            wd = {oc, x[1]};
            wd.insert(wd.end(), kernel.begin(), kernel.end());
        }
        user_src_md_ = plain_desc(x);
        user_dst_md_ = plain_desc(y);
        const bool plain = layout == ConvLayout::plain;
        // bf16 precision: activations in bf16 (given so by the plan, which converts where the
        // producer wrote f32; or rounded inside this kernel without negotiation), weights packed in
        // bf16, accumulation in f32, the output in f32 or, when the plan allows it (only bf16
        // convolutions read it), stored in bf16.
        bool bf16 = sh.inference_precision == Type::bf16 && !plain;
        const bool bf16_out = bf16 && sh.negotiate_layouts && sh.output_bf16(0);
        memory::desc b_md = p.with_bias ? plain_desc({oc}) : memory::desc();
        auto attr = base_attr();
        if (!p.post_ops.empty()) attr.set_post_ops(to_post_ops(p.post_ops));
        auto make_pd = [&](bool half) {
            const auto ct = half ? memory::data_type::bf16 : memory::data_type::f32;
            memory::desc src_any = plain ? user_src_md_ : memory::desc(to_dims(x), ct, tag::any);
            const auto dt = half && bf16_out ? memory::data_type::bf16 : memory::data_type::f32;
            memory::desc dst_any = plain ? user_dst_md_ : memory::desc(to_dims(y), dt, tag::any);
            memory::desc w_any(to_dims(wd), ct, tag::any);
            dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                              dnnl::algorithm::convolution_direct, src_any, w_any,
                                              b_md, dst_any, strides, dil, pl, pr);
            return dnnl::convolution_forward::primitive_desc(d, attr, eng);
        };
        dnnl::convolution_forward::primitive_desc pd;
        try {
            pd = make_pd(bf16);
        } catch (const dnnl::error&) {
            if (!bf16) throw;
            bf16 = false;  // no bf16 implementation for this shape: f32
            pd = make_pd(false);
        }
        prim_ = dnnl::convolution_forward(pd);
        impl_ = pd.impl_info_str();
        src_md_ = pd.src_desc();
        dst_md_ = pd.dst_desc();
        scratch_md_ = pd.scratchpad_desc();
        // In a plan that negotiates layouts, the activations come and go in the primitive's own
        // layout when kiln can name it (the plan reorders where the neighbours differ).
        if (sh.negotiate_layouts && !plain) {
            if (auto l = layout_of(src_md_, x, Type::f32)) {  // bf16 storage when src_md_ is bf16
                in_layout_ = *l;
                user_src_md_ = src_md_;
            }
            if (auto l = layout_of(dst_md_, y, Type::f32)) {
                out_layout_ = *l;
                user_dst_md_ = dst_md_;
            }
        }
        if (src_md_ != user_src_md_) src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_src_md_, eng, src_md_));
        if (dst_md_ != user_dst_md_) {
            dst_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_md_, eng, user_dst_md_));
            blocked_dst_ = true;
            if (op::has_sum(p.post_ops))
                res_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_dst_md_, eng, dst_md_));
        }
        // Weights (and bias) are packed once, into memory the kernel owns.
        memory uw(plain_desc(wd), eng, const_cast<void*>(sh.constants[1]->data()));
        weights_keep_ = packed_weights(uw, pd.weights_desc());
        weights_ = *weights_keep_;
        if (p.with_bias) {
            memory ub(b_md, eng, const_cast<void*>(sh.constants[2]->data()));
            bias_ = reorder_to(ub, pd.bias_desc());
        }
        src_off_ = 0;
        dst_off_ = round_up64(src_reorder_ ? src_md_.get_size() : 0);
        pad_off_ = dst_off_ + round_up64(blocked_dst_ ? dst_md_.get_size() : 0);
        temp_bytes_ = pad_off_ + scratch_md_.get_size();
        residual_ = op::has_sum(p.post_ops) ? static_cast<int>(sh.inputs.size()) - 1 : -1;
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        memory usr_src(user_src_md_, eng, const_cast<void*>(in[0].data()));
        memory usr_dst(user_dst_md_, eng, out[0].data());
        char* temp = thread_buffer(temp_bytes_);
        memory src = usr_src, dst = usr_dst;
        if (src_reorder_) {
            src = memory(src_md_, eng, temp + src_off_);
            src_reorder_.execute(s, usr_src, src);
        }
        if (blocked_dst_) dst = memory(dst_md_, eng, temp + dst_off_);
        if (residual_ >= 0) {
            const Tensor& r = in[residual_];
            if (blocked_dst_) {
                memory ur(user_dst_md_, eng, const_cast<void*>(r.data()));
                res_reorder_.execute(s, ur, dst);
            } else if (r.data() != out[0].data()) {
                std::memcpy(out[0].data(), r.data(), user_dst_md_.get_size());
            }
        }
        memory scratch(scratch_md_, eng, temp + pad_off_);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                             {DNNL_ARG_WEIGHTS, weights_},
                                             {DNNL_ARG_DST, dst},
                                             {DNNL_ARG_SCRATCHPAD, scratch}};
        if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
        prim_.execute(s, args);
        if (blocked_dst_) dst_reorder_.execute(s, dst, usr_dst);
        s.wait();
    }
    const char* name() const override { return "onednn_conv"; }
    Layout input_layout(size_t i) const override {
        if (i == 0) return in_layout_;
        return static_cast<int>(i) == residual_ ? out_layout_ : Layout{};
    }
    Layout output_layout(size_t) const override { return out_layout_; }
    std::string detail() const override { return impl_; }
    int inplace_input() const override { return blocked_dst_ ? -1 : residual_; }

private:
    std::string impl_;  // oneDNN's implementation, e.g. "brgconv:avx512_core"
    Layout in_layout_, out_layout_;
    dnnl::convolution_forward prim_;
    dnnl::reorder src_reorder_, dst_reorder_, res_reorder_;
    memory::desc user_src_md_, user_dst_md_, src_md_, dst_md_, scratch_md_;
    std::shared_ptr<const memory> weights_keep_;  // shared with other plans' kernels
    memory weights_, bias_;
    bool blocked_dst_ = false;
    size_t src_off_ = 0, dst_off_ = 0, pad_off_ = 0, temp_bytes_ = 0;
    int residual_ = -1;
};

// f32 tensors (activations the plan stores in bf16 count, with bf16 precision).
bool all_f32(const KernelShapes& sh) {
    for (auto& d : sh.inputs)
        if (d.type != Type::f32 && !(d.type == Type::bf16 && sh.inference_precision == Type::bf16 && sh.negotiate_layouts))
            return false;
    for (auto& d : sh.outputs)
        if (d.type != Type::f32) return false;
    return true;
}

}  // namespace

KernelPtr make_conv_kernel(const Node& node, const KernelShapes& sh, ConvLayout layout) {
    if (!all_f32(sh) || sh.constants.size() < 2 || !sh.constants[1]) return nullptr;
    for (auto& d : sh.outputs)
        if (shape_size(d.shape.to_shape()) == 0) return nullptr;
    if (shape_size(sh.in(0)) == 0) return nullptr;
    ConvParams p;
    if (auto* c = dynamic_cast<const op::Convolution*>(&node)) {
        p = params_of(*c);
    } else if (auto* c = dynamic_cast<const op::GroupConvolution*>(&node)) {
        p = params_of(*c);
        p.groups = sh.in(1)[0];
    } else if (auto* c = dynamic_cast<const op::FusedConvolution*>(&node)) {
        p = params_of(*c);
        p.groups = c->group;
        p.with_bias = c->with_bias;
        p.post_ops = c->post_ops;
        if (p.with_bias && (sh.constants.size() < 3 || !sh.constants[2])) return nullptr;
    } else {
        return nullptr;
    }
    return std::make_unique<ConvKernel>(sh, p, layout);
}

}  // namespace kiln::cpu::onednn

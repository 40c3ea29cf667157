// QuantizedConvolution on oneDNN's int8 convolution_forward, and the attributes both INT8
// primitives share (onednn/int8.hpp).
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <map>

#include "kiln/runtime/cpu/onednn/int8.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

using dnnl::memory;
using tag = memory::format_tag;

namespace {
bool is_int8(Type t) { return t == Type::u8 || t == Type::i8; }
}  // namespace

bool int8_products_exact() {
    using I = dnnl::cpu_isa;
    const I isa = dnnl::get_effective_cpu_isa();
    return isa == I::avx512_core_vnni || isa == I::avx512_core_bf16 || isa == I::avx512_core_amx;
}

ResidualMode residual_mode(const op::Int8Epilogue& e, Type residual_type, Type output_type) {
    if (!e.has_sum()) return ResidualMode::none;
    if (residual_type == Type::f32) return output_type == Type::f32 ? ResidualMode::sum : ResidualMode::binary;
    // An integer residual is summed in place, so it needs an output of its size.
    return is_int8(residual_type) && is_int8(output_type) ? ResidualMode::sum : ResidualMode::none;
}

namespace {

using A = dnnl::algorithm;

// Activations f with f(u x) = u f(x) for u > 0 (their parameters scaled where they have some).
bool homogeneous(const op::PostOp& p) {
    using K = op::Activation;
    return !p.sum && (p.act.kind == K::relu || p.act.kind == K::clamp || p.act.kind == K::abs);
}

// A binary operand's descriptor: [1, ..., 1] or [1, .., C, .., 1] along the channel axis.
memory::desc operand_md(const Int8Attr& a, int64_t channels) {
    memory::dims dims(static_cast<size_t>(a.ndims), 1), strides(static_cast<size_t>(a.ndims), 1);
    dims[a.channel_dim] = channels;
    for (int i = a.channel_dim; i-- > 0;) strides[i] = channels;
    return memory::desc(dims, memory::data_type::f32, strides);
}

// Appends post-ops, never giving one eltwise algorithm two sets of parameters.
class Chain {
public:
    Chain(Int8Attr& out) : out_(out) {}
    dnnl::post_ops po;
    int size() const { return po.len(); }

    // Whether the last post-op is this eltwise (just appended).
    bool has(A alg, float a, float b) const {
        if (po.len() == 0 || po.kind(po.len() - 1) != dnnl::primitive::kind::eltwise) return false;
        float s, x, y;
        A al;
        po.get_params_eltwise(po.len() - 1, s, al, x, y);
        return al == alg && x == a && y == b;
    }
    bool eltwise(A alg, float a, float b) {
        auto it = used_.find(alg);
        if (it != used_.end() && it->second != std::make_pair(a, b)) return false;
        used_[alg] = {a, b};
        po.append_eltwise(1.f, alg, a, b);
        return true;
    }
    void binary_scalar(A alg, float v) {
        out_.operands.push_back({size(), {v}});
        po.append_binary(alg, operand_md(out_, 1));
    }
    void binary_channels(A alg, std::vector<float> v) {
        const auto n = static_cast<int64_t>(v.size());
        out_.operands.push_back({size(), std::move(v)});
        po.append_binary(alg, operand_md(out_, n));
    }
    void scale(float a) {
        if (a == 1.f) return;
        if (!eltwise(A::eltwise_pow, a, 1.f) && !eltwise(A::eltwise_linear, a, 0.f)) binary_scalar(A::binary_mul, a);
    }
    void affine(float a, float b) {
        if (b == 0.f) return scale(a);
        if (eltwise(A::eltwise_linear, a, b)) return;
        scale(a);
        binary_scalar(A::binary_add, b);
    }
    void clip(float lo, float hi) {
        if (eltwise(A::eltwise_clip, lo, hi) || eltwise(A::eltwise_clip_v2, lo, hi)) return;
        binary_scalar(A::binary_max, lo);
        binary_scalar(A::binary_min, hi);
    }
    void activation(const op::PostOp& p) {
        dnnl::post_ops one;
        append_post_op(one, p);
        for (int i = 0; i < one.len(); ++i) {
            A alg;
            float scale, a, b;
            one.get_params_eltwise(i, scale, alg, a, b);
            if (!eltwise(alg, a, b))
                throw dnnl::error(dnnl_unimplemented, "an activation's algorithm twice with other parameters");
        }
    }

private:
    Int8Attr& out_;
    std::map<A, std::pair<float, float>> used_;
};

}  // namespace

Int8Attr int8_attr(const op::Int8Epilogue& e, const std::vector<float>& osc, int channel_dim, int ndims,
                   int64_t src_zero_point, int64_t wei_zero_point, ResidualMode residual, Type residual_type,
                   const memory::desc& binary_md) {
    using QK = op::QuantPostOp::Kind;
    Int8Attr r;
    r.attr = base_attr();
    const bool int_out = e.output_type != Type::f32;
    // The unit of the first stretch: what the first op that cares about units wants (folded into
    // the output scales).
    double u = [&] {
        for (auto& p : e.post_ops) {
            if (p.kind == QK::activation && !homogeneous(p.activation)) return 1.0;
            if (p.kind == QK::sum && residual == ResidualMode::binary) return 1.0;
            if (p.kind == QK::fq) return p.s_in;
        }
        return int_out ? e.output_scale : 1.0;
    }();
    // A per-channel output multiplier: after activations that scale along (no fq or sum) the whole
    // chain runs in per-channel units folded into the output scales; otherwise a binary multiply
    // by the per-channel factors ends it.
    const auto& om = e.output_multiplier;
    bool om_units = !om.empty();
    if (!om.empty()) {
        if (om.size() != osc.size()) throw dnnl::error(dnnl_unimplemented, "output multiplier size");
        for (auto& p : e.post_ops)
            om_units = om_units && p.kind == QK::activation && homogeneous(p.activation) &&
                       p.activation.act.kind != op::Activation::clamp;
        if (!om_units && u == e.output_scale) u = 1;
    }
    r.channel_dim = channel_dim;
    r.ndims = ndims;
    std::vector<float> scales(osc.size());
    bool common = true;
    for (size_t i = 0; i < osc.size(); ++i) {
        scales[i] = static_cast<float>(om_units ? osc[i] * om[i] / e.output_scale : osc[i] / u);
        common = common && scales[i] == scales[0];
    }
    if (om_units) u = e.output_scale;  // the output's factor is 1 in these units
    if (common) r.attr.set_output_scales(0, {scales[0]});
    else r.attr.set_output_scales(1 << channel_dim, scales);
    if (src_zero_point) r.attr.set_zero_points(DNNL_ARG_SRC, 0, {static_cast<int32_t>(src_zero_point)});
    if (wei_zero_point) r.attr.set_zero_points(DNNL_ARG_WEIGHTS, 0, {static_cast<int32_t>(wei_zero_point)});
    Chain c(r);
    auto to_real = [&] {  // back to real units
        c.scale(static_cast<float>(u));
        u = 1;
    };
    for (auto& p : e.post_ops) {
        switch (p.kind) {
            case QK::activation:
                if (homogeneous(p.activation) && p.activation.act.kind == op::Activation::clamp) {
                    c.clip(static_cast<float>(p.activation.act.alpha / u), static_cast<float>(p.activation.act.beta / u));
                } else {
                    if (!homogeneous(p.activation)) to_real();
                    c.activation(p.activation);
                }
                break;
            case QK::fq:
                // Levels q - zp = clamp(round(real / s_in + offset - zp), lo - zp, hi - zp), in units of s_out.
                c.affine(static_cast<float>(u / p.s_in), static_cast<float>(p.offset - static_cast<double>(p.zp)));
                c.eltwise(A::eltwise_round, 0.f, 0.f);
                c.clip(static_cast<float>(p.lo - p.zp), static_cast<float>(p.hi - p.zp));
                u = p.s_out;
                break;
            case QK::sum:
                if (residual == ResidualMode::binary) {
                    to_real();
                    r.binary_residual = c.size();
                    c.po.append_binary(A::binary_add, binary_md);
                } else if (residual_type == Type::u8 || residual_type == Type::i8) {
                    c.po.append_sum(static_cast<float>(e.residual_scale / u), static_cast<int32_t>(e.residual_zero_point),
                                    to_dnnl(residual_type));
                } else {
                    c.po.append_sum(static_cast<float>(1.0 / u));
                }
                break;
        }
    }
    if (int_out) {
        const double zp = e.output_zero_point;
        const bool full = e.output_qmin == op::int_min(e.output_type) && e.output_qmax == op::int_max(e.output_type);
        const bool integral_zp = zp == std::nearbyint(zp);
        float k = static_cast<float>(u / e.output_scale);
        if (!om.empty() && !om_units) {  // the per-channel factors, as a binary multiply
            std::vector<float> f(om.size());
            for (size_t i = 0; i < om.size(); ++i) f[i] = static_cast<float>(u * om[i] / e.output_scale);
            c.binary_channels(A::binary_mul, std::move(f));
            k = 1.f;
        } else if (om_units) {
            k = 1.f;
        }
        if (zp != 0 && !c.eltwise(A::eltwise_linear, k, static_cast<float>(zp)) && integral_zp) {
            // The shift as the destination's zero point (oneDNN adds it after the post-ops).
            c.scale(k);
            if (!full) c.clip(static_cast<float>(e.output_qmin - zp), static_cast<float>(e.output_qmax - zp));
            r.attr.set_zero_points(DNNL_ARG_DST, 0, {static_cast<int32_t>(zp)});
        } else {
            if (zp == 0) c.scale(k);
            else if (!c.has(A::eltwise_linear, k, static_cast<float>(zp))) c.affine(k, static_cast<float>(zp));
            if (!full) c.clip(static_cast<float>(e.output_qmin), static_cast<float>(e.output_qmax));
        }
    } else {
        to_real();
    }
    r.attr.set_post_ops(c.po);
    return r;
}

std::vector<std::pair<int, memory>> operand_args(const Int8Attr& a) {
    std::vector<std::pair<int, memory>> r;
    for (auto& o : a.operands)
        r.emplace_back(o.index, memory(operand_md(a, static_cast<int64_t>(o.values.size())), engine(),
                                       const_cast<float*>(o.values.data())));
    return r;
}

namespace {

// The same memory layout with another data type (activations: strides count elements).
memory::desc retyped(const memory::desc& md, Type t) {
    dnnl_memory_desc_t d = md.data;
    d.data_type = static_cast<dnnl_data_type_t>(to_dnnl(t));
    return memory::desc(d);
}

class Int8ConvKernel : public Kernel {
public:
    Int8ConvKernel(const op::QuantizedConvolution& c, const KernelShapes& sh) {
        auto& eng = engine();
        const Shape x = sh.in(0), w = sh.in(1), y = sh.out(0);
        const Type xt = sh.in_type(0), yt = sh.out_type(0);
        const int nsp = static_cast<int>(x.size()) - 2;
        Shape kernel(w.end() - nsp, w.end());
        auto g = op::window::resolve(x, y, kernel, c.strides, c.dilations, c.pads_begin, c.pads_end, c.auto_pad);
        memory::dims strides, dil, pl, pr;
        for (int i = 3 - nsp; i < 3; ++i) {
            strides.push_back(g.stride[i]);
            dil.push_back(g.dil[i] - 1);
            pl.push_back(g.pb[i]);
            pr.push_back(g.pe[i]);
        }
        const int64_t oc = y[1];
        Shape wd;
        if (c.group > 1) {
            wd = {c.group, oc / c.group, x[1] / c.group};
        } else {
            wd = {oc, x[1]};
        }
        wd.insert(wd.end(), kernel.begin(), kernel.end());
        op::int8_output_scales(c.x_scale, sh.constants[2]->data<float>(), sh.constants[2]->size(), oc,
                           c.with_bias ? sh.constants[3]->data<float>() : nullptr, osc_, bias_acc_);
        residual_ = c.epilogue.has_sum() ? static_cast<int>(sh.inputs.size()) - 1 : -1;
        const Type rt = residual_ >= 0 ? sh.in_type(residual_) : Type::f32;
        mode_ = residual_mode(c.epilogue, rt, yt);
        if (residual_ >= 0 && mode_ == ResidualMode::none)
            throw dnnl::error(dnnl_unimplemented, "an integer residual with an f32 output");
        // Without VNNI oneDNN computes s8 x s8 with halved (rounded) weights.
        if (xt == Type::i8 && !int8_products_exact())
            throw dnnl::error(dnnl_unimplemented, "s8 activations without VNNI");
        const memory::desc b_md({oc}, memory::data_type::f32, tag::x);
        const int ndims = static_cast<int>(y.size());
        auto make_pd = [&](const memory::desc& binary_md) {
            attr_ = int8_attr(c.epilogue, osc_, 1, ndims, c.x_zero_point, 0, mode_, rt, binary_md);
            const auto& attr = attr_.attr;
            memory::desc src_any(to_dims(x), to_dnnl(xt), tag::any), dst_any(to_dims(y), to_dnnl(yt), tag::any);
            memory::desc w_any(to_dims(wd), memory::data_type::s8, tag::any);
            dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                              src_any, w_any, b_md, dst_any, strides, dil, pl, pr);
            return dnnl::convolution_forward::primitive_desc(d, attr, eng);
        };
        // A binary residual is described in the destination's layout, known once oneDNN chose it.
        auto pd = make_pd(memory::desc(to_dims(y), memory::data_type::f32, tag::any));
        if (mode_ == ResidualMode::binary) {
            binary_md_ = retyped(pd.dst_desc(), Type::f32);
            pd = make_pd(binary_md_);
        }
        prim_ = dnnl::convolution_forward(pd);
        impl_ = pd.impl_info_str();
        scalars_ = operand_args(attr_);
        src_md_ = pd.src_desc();
        dst_md_ = pd.dst_desc();
        scratch_md_ = pd.scratchpad_desc();
        user_src_md_ = plain_desc(x, xt);
        user_dst_md_ = plain_desc(y, yt);
        if (sh.negotiate_layouts) {
            if (auto l = layout_of(src_md_, x, xt)) {
                in_layout_ = *l;
                user_src_md_ = src_md_;
            }
            if (auto l = layout_of(dst_md_, y, yt)) {
                out_layout_ = *l;
                user_dst_md_ = dst_md_;
            }
        }
        if (src_md_ != user_src_md_) src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_src_md_, eng, src_md_));
        blocked_dst_ = dst_md_ != user_dst_md_;
        if (blocked_dst_) dst_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_md_, eng, user_dst_md_));
        // The residual comes in the user's destination layout (with its own type).
        user_res_md_ = retyped(user_dst_md_, rt);
        if (residual_ >= 0) {
            const memory::desc inside = mode_ == ResidualMode::binary ? binary_md_ : retyped(dst_md_, rt);
            if (inside != user_res_md_) res_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_res_md_, eng, inside));
            res_inside_md_ = inside;
        }
        memory uw(plain_desc(wd, Type::i8), eng, const_cast<void*>(sh.constants[1]->data()));
        weights_keep_ = packed_weights(uw, pd.weights_desc());
        weights_ = *weights_keep_;
        bias_ = memory(pd.bias_desc(), eng);
        std::memcpy(bias_.get_data_handle(), bias_acc_.data(), bias_acc_.size() * sizeof(float));
        dst_off_ = round_up64(src_reorder_ ? src_md_.get_size() : 0);
        res_off_ = dst_off_ + round_up64(blocked_dst_ ? dst_md_.get_size() : 0);
        pad_off_ = res_off_ + round_up64(mode_ == ResidualMode::binary && res_reorder_ ? binary_md_.get_size() : 0);
        temp_bytes_ = pad_off_ + scratch_md_.get_size();
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        char* temp = thread_buffer(temp_bytes_);
        memory src(user_src_md_, eng, const_cast<void*>(in[0].data()));
        if (src_reorder_) {
            memory inside(src_md_, eng, temp);
            src_reorder_.execute(s, src, inside);
            src = inside;
        }
        memory usr_dst(user_dst_md_, eng, out[0].data());
        memory dst = blocked_dst_ ? memory(dst_md_, eng, temp + dst_off_) : usr_dst;
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                             {DNNL_ARG_WEIGHTS, weights_},
                                             {DNNL_ARG_BIAS, bias_},
                                             {DNNL_ARG_DST, dst},
                                             {DNNL_ARG_SCRATCHPAD, memory(scratch_md_, eng, temp + pad_off_)}};
        if (residual_ >= 0) {
            memory r(user_res_md_, eng, const_cast<void*>(in[residual_].data()));
            if (mode_ == ResidualMode::sum) {  // summed in place: the residual goes into dst first
                if (res_reorder_) {
                    memory inside(res_inside_md_, eng, dst.get_data_handle());
                    res_reorder_.execute(s, r, inside);
                }
                else if (in[residual_].data() != out[0].data()) std::memcpy(dst.get_data_handle(), r.get_data_handle(), dst_md_.get_size());
            } else {
                if (res_reorder_) {
                    memory inside(res_inside_md_, eng, temp + res_off_);
                    res_reorder_.execute(s, r, inside);
                    r = inside;
                }
                args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(attr_.binary_residual) | DNNL_ARG_SRC_1, r);
            }
        }
        for (auto& [i, mem] : scalars_) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, mem);
        prim_.execute(s, args);
        if (blocked_dst_) dst_reorder_.execute(s, dst, usr_dst);
        s.wait();
    }
    const char* name() const override { return "onednn_int8_conv"; }
    Layout input_layout(size_t i) const override {
        if (i == 0) return in_layout_;
        return static_cast<int>(i) == residual_ ? out_layout_ : Layout{};
    }
    Layout output_layout(size_t) const override { return out_layout_; }
    std::string detail() const override { return impl_; }
    int inplace_input() const override {
        return !blocked_dst_ && mode_ == ResidualMode::sum && !res_reorder_ ? residual_ : -1;
    }

private:
    std::string impl_;
    Layout in_layout_, out_layout_;
    dnnl::convolution_forward prim_;
    dnnl::reorder src_reorder_, dst_reorder_, res_reorder_;
    memory::desc user_src_md_, user_dst_md_, user_res_md_, res_inside_md_, src_md_, dst_md_, scratch_md_, binary_md_;
    std::shared_ptr<const memory> weights_keep_;
    memory weights_, bias_;
    std::vector<float> osc_, bias_acc_;
    bool blocked_dst_ = false;
    ResidualMode mode_ = ResidualMode::none;
    size_t dst_off_ = 0, res_off_ = 0, pad_off_ = 0, temp_bytes_ = 0;
    int residual_ = -1;
    Int8Attr attr_;
    std::vector<std::pair<int, memory>> scalars_;
};

}  // namespace

KernelPtr make_int8_matmul_kernel(const op::QuantizedMatMul& m, const KernelShapes& sh);

KernelPtr make_int8_onednn_kernel(const Node& node, const KernelShapes& sh) {
    try {
        for (auto& d : sh.outputs)
            if (shape_size(d.shape.to_shape()) == 0) return nullptr;
        if (shape_size(sh.in(0)) == 0) return nullptr;
        if (auto* c = dynamic_cast<const op::QuantizedConvolution*>(&node)) {
            if (sh.constants.size() < 3 || !sh.constants[1] || !sh.constants[2] || (c->with_bias && !sh.constants[3]))
                return nullptr;
            if (sh.in(0).size() < 3 || sh.in(0).size() > 5) return nullptr;
            return std::make_unique<Int8ConvKernel>(*c, sh);
        }
        if (auto* m = dynamic_cast<const op::QuantizedMatMul*>(&node)) return make_int8_matmul_kernel(*m, sh);
    } catch (const dnnl::error& e) {
        if (std::getenv("KILN_DEBUG_INT8")) std::fprintf(stderr, "[%s %s] no oneDNN INT8 kernel: %s\n", node.type_name(), node.name().c_str(), e.what());
        return nullptr;  // no implementation: the reference kernel runs it
    }
    return nullptr;
}

}  // namespace kiln::cpu::onednn

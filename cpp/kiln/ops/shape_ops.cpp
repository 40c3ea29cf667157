#include "kiln/ops/shape_ops.hpp"
#include "kiln/ops/infer_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/ops/data_movement.hpp"

namespace kiln::op {

std::vector<int64_t> contiguous_strides(const Shape& s) {
    std::vector<int64_t> st(s.size());
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

void copy_view_reference(const StridedView& view, const void* src, void* dst, size_t es) {
    int64_t n = shape_size(view.shape);
    if (n == 0) return;
    auto s = static_cast<const uint8_t*>(src);
    auto d = static_cast<uint8_t*>(dst);
    std::vector<int64_t> idx(view.shape.size(), 0);
    int64_t off = view.offset;
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(d + i * es, s + off * static_cast<int64_t>(es), es);
        for (size_t k = idx.size(); k-- > 0;) {
            off += view.strides[k];
            if (++idx[k] < view.shape[k]) break;
            off -= view.strides[k] * view.shape[k];
            idx[k] = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Partial values of shape-like tensors.

namespace {

std::string value_string(const ShapeValue& v) {
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) r += ',';
        r += v[i].known ? std::to_string(v[i].value) : v[i].dim.to_string();
    }
    return r + "]";
}

std::string ints_string(const std::vector<int64_t>& v) { return to_string(Shape(v)); }

// Element count of a tensor given by its number of elements along a 1D input: the static size of
// a 1D shape, 1 for a scalar, nullopt when not known.
std::optional<int64_t> static_length(const PartialShape& s) {
    if (s.rank_is_dynamic()) return std::nullopt;
    if (s.rank() == 0) return 1;
    if (s.rank() == 1 && s[0].is_static()) return s[0].get_length();
    return std::nullopt;
}

// The numpy broadcast of two dimensions; nullopt when they cannot broadcast.
std::optional<Dimension> broadcast_dim(const Dimension& a, const Dimension& b) {
    if (a == Dimension(1)) return b;
    if (b == Dimension(1)) return a;
    if (a.is_static() && b.is_static()) {
        if (a != b) return std::nullopt;
        return a;
    }
    if (a.is_static()) return b.compatible(a.get_length()) || b.compatible(1) ? std::optional(a) : std::nullopt;
    if (b.is_static()) return a.compatible(b.get_length()) || a.compatible(1) ? std::optional(b) : std::nullopt;
    // Either one may turn out to be 1, so nothing certain is left unless they agree.
    if (a == b) return a;
    return Dimension::dynamic();
}

}  // namespace

void forward_shape_value(InferContext& ctx) {
    if (auto v = ctx.input_shape_value(0)) ctx.set_output_value(0, std::move(*v));
}

std::optional<ShapeValue> shape_value(const InferContext& ctx, size_t i) {
    auto v = ctx.input_shape_value(i);
    if (!v) return std::nullopt;
    const Node& n = ctx.node();
    // Graph-level dimensions of this node's own inputs may be less precise than what the context
    // says about them (a runtime re-inference for concrete shapes): prefer the context.
    for (auto& e : *v) {
        if (e.known || !e.src) continue;
        for (size_t j = 0; j < n.num_inputs() && j < ctx.num_inputs(); ++j) {
            const Output& in = n.input(j);
            if (in.node.get() != e.src || in.index != e.port) continue;
            const PartialShape& s = ctx.input_shape(j);
            if (s.rank_is_static() && e.axis < s.rank()) {
                auto m = Dimension::merge(e.dim, s[static_cast<size_t>(e.axis)]);
                if (m) e.dim = *m;
                if (e.dim.is_static()) {
                    e.known = true;
                    e.value = e.dim.get_length();
                }
            }
        }
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// ShapeOf

void ShapeOf::visit_attributes(AttributeVisitor& v) {
    if (opset_version >= 3) v.on("output_type", output_type);
}

void ShapeOf::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 3, "opset version ", opset_version,
                     " does not exist (1, 3)");
    KILN_INFER_CHECK(ctx, opset_version == 3 || output_type == Type::i64, "ShapeOf-1 gives i64, not ",
                     kiln::type_name(output_type));
    KILN_INFER_CHECK(ctx, output_type == Type::i64 || output_type == Type::i32,
              "output_type must be i64 or i32, got ", kiln::type_name(output_type));
    const PartialShape& s = ctx.input_shape(0);
    ctx.set_output(0, output_type,
                   PartialShape{s.rank_is_static() ? Dimension(s.rank()) : Dimension::dynamic()});
    if (s.rank_is_dynamic()) return;
    // The partial value: each static dimension, and each dynamic one as "dimension j of the input"
    // (Reshape reads that to see x.view(x.size(0), -1) keep dimension 0).
    const Output* in = ctx.node().num_inputs() ? &ctx.node().input(0) : nullptr;
    ShapeValue v;
    for (size_t j = 0; j < s.size(); ++j) {
        ShapeValueElem e;
        if (s[j].is_static()) {
            e.known = true;
            e.value = s[j].get_length();
        } else {
            e.dim = s[j];
            if (in) {
                e.src = in->node.get();
                e.port = in->index;
                e.axis = static_cast<int64_t>(j);
            }
        }
        v.push_back(e);
    }
    ctx.set_output_value(0, std::move(v));
}

void ShapeOf::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& s = in[0].shape();
    convert_elements(s.data(), Type::i64, out[0].data(), output_type, s.size());
}

// ---------------------------------------------------------------------------------------------
// Reshape

void Reshape::visit_attributes(AttributeVisitor& v) { v.on("special_zero", special_zero); }

void Reshape::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "target shape");
    const PartialShape& in = ctx.input_shape(0);
    const PartialShape& ts = ctx.input_shape(1);
    Type type = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, ts.rank_is_dynamic() || ts.rank() <= 1, "target shape must be 1D, got shape ",
              ts.to_string());
    auto tv = shape_value(ctx, 1);
    if (!tv) {
        auto len = static_length(ts);
        ctx.set_output(0, type, len ? PartialShape::dynamic(*len) : PartialShape());
        return;
    }
    const Node& node = ctx.node();
    const Node* data_src = node.num_inputs() ? node.input(0).node.get() : nullptr;
    size_t data_port = node.num_inputs() ? node.input(0).index : 0;
    bool in_static_rank = in.rank_is_static();
    std::vector<bool> in_used(in_static_rank ? in.size() : 0, false);
    std::vector<Dimension> out(tv->size());
    std::vector<bool> out_cancelled(tv->size(), false);
    int64_t minus_one = -1;
    bool unknown_copy = false;  // a special_zero copy from a data input of unknown rank
    auto fail_shape = [&](const char* why) {
        std::string count = in.is_static() ? str_cat(" (", shape_size(in.to_shape()), " elements)") : "";
        ctx.fail("cannot reshape ", in.to_string(), count, " to ", value_string(*tv), why);
    };
    for (size_t j = 0; j < tv->size(); ++j) {
        const ShapeValueElem& e = (*tv)[j];
        if (e.known) {
            if (e.value == -1) {
                if (minus_one >= 0) fail_shape(": more than one -1");
                minus_one = static_cast<int64_t>(j);
                continue;
            }
            if (e.value < -1) fail_shape(": negative dimension");
            if (e.value == 0 && special_zero) {
                if (!in_static_rank) {
                    unknown_copy = true;
                    continue;
                }
                if (j >= in.size()) fail_shape(": special_zero copies a dimension the data does not have");
                out[j] = in[j];
                in_used[j] = true;
                out_cancelled[j] = true;
                continue;
            }
            out[j] = Dimension(e.value);
        } else if (e.src && e.src == data_src && e.port == data_port && in_static_rank &&
                   e.axis >= 0 && e.axis < in.rank() && !in_used[static_cast<size_t>(e.axis)]) {
            // The target names a dimension of the data itself: both sides cancel.
            out[j] = in[static_cast<size_t>(e.axis)];
            in_used[static_cast<size_t>(e.axis)] = true;
            out_cancelled[j] = true;
        } else {
            out[j] = e.dim;
        }
    }
    // Compare what is left on both sides.
    Dimension in_rest(1), out_rest(1);
    bool in_known = in_static_rank && !unknown_copy;
    if (in_known)
        for (size_t i = 0; i < in.size(); ++i)
            if (!in_used[i]) in_rest = in_rest * in[i];
    for (size_t j = 0; j < out.size(); ++j)
        if (!out_cancelled[j] && static_cast<int64_t>(j) != minus_one) out_rest = out_rest * out[j];
    if (minus_one >= 0) {
        Dimension d = Dimension::dynamic();
        if (in_known && out_rest.is_static()) {
            int64_t p = out_rest.get_length();
            if (in_rest.is_static()) {
                int64_t n = in_rest.get_length();
                if (p == 0) {
                    if (n != 0) fail_shape("");
                    d = Dimension(0);
                } else {
                    if (n % p != 0) fail_shape("");
                    d = Dimension(n / p);
                }
            } else if (p > 0) {
                int64_t lo = (in_rest.get_min_length() + p - 1) / p;
                int64_t hi = in_rest.get_max_length() < 0 ? -1 : in_rest.get_max_length() / p;
                d = Dimension(lo, hi);
            }
        }
        out[static_cast<size_t>(minus_one)] = d;
    } else if (in_known && in_rest.is_static() && out_rest.is_static() &&
               in_rest.get_length() != out_rest.get_length()) {
        fail_shape("");
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
    forward_shape_value(ctx);
}

void Reshape::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].data() != out[0].data() && in[0].byte_size())
        std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
}

// ---------------------------------------------------------------------------------------------
// Squeeze, Unsqueeze

void Squeeze::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 2);
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    std::optional<std::vector<int64_t>> axes;
    if (ctx.num_inputs() == 2) {
        check_integral(ctx, 1, "axes");
        axes = known_ints(ctx, 1);
        if (!axes) {
            ctx.set_output(0, type, PartialShape());
            return;
        }
    }
    if (in.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    int64_t r = in.rank();
    std::vector<bool> drop(in.size(), false);
    if (axes && !axes->empty()) {
        for (int64_t a : *axes) {
            KILN_INFER_CHECK(ctx, a >= -r && a < r, "axis ", a, " is out of range for data of shape ", in.to_string());
            size_t k = static_cast<size_t>(a < 0 ? a + r : a);
            KILN_INFER_CHECK(ctx, in[k].compatible(1), "cannot squeeze axis ", a, " of shape ", in.to_string(),
                      ": its dimension is ", in[k].to_string(), ", expected 1");
            drop[k] = true;
        }
    } else {
        for (size_t k = 0; k < in.size(); ++k) {
            if (in[k] == Dimension(1)) drop[k] = true;
            else if (in[k].is_dynamic() && in[k].compatible(1)) {
                // Whether this axis goes away is only known at run time.
                ctx.set_output(0, type, PartialShape());
                return;
            }
        }
    }
    std::vector<Dimension> out;
    for (size_t k = 0; k < in.size(); ++k)
        if (!drop[k]) out.push_back(in[k]);
    ctx.set_output(0, type, PartialShape(std::move(out)));
    forward_shape_value(ctx);
}

void Squeeze::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].data() != out[0].data() && in[0].byte_size())
        std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
}

void Unsqueeze::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "axes");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    auto axes = known_ints(ctx, 1);
    if (in.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    if (!axes) {
        auto k = static_length(ctx.input_shape(1));
        ctx.set_output(0, type, k ? PartialShape::dynamic(in.rank() + *k) : PartialShape());
        return;
    }
    int64_t r = in.rank() + static_cast<int64_t>(axes->size());
    std::vector<bool> is_new(static_cast<size_t>(r), false);
    for (int64_t a : *axes) {
        KILN_INFER_CHECK(ctx, a >= -r && a < r, "axis ", a, " is out of range for output rank ", r, " (data ",
                  in.to_string(), ", axes ", ints_string(*axes), ")");
        size_t k = static_cast<size_t>(a < 0 ? a + r : a);
        KILN_INFER_CHECK(ctx, !is_new[k], "axis ", a, " repeats in axes ", ints_string(*axes));
        is_new[k] = true;
    }
    std::vector<Dimension> out;
    size_t src = 0;
    for (size_t k = 0; k < is_new.size(); ++k) out.push_back(is_new[k] ? Dimension(1) : in[src++]);
    ctx.set_output(0, type, PartialShape(std::move(out)));
    forward_shape_value(ctx);
}

void Unsqueeze::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].data() != out[0].data() && in[0].byte_size())
        std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
}

// ---------------------------------------------------------------------------------------------
// Broadcast

void Broadcast::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "mode", mode,
               {{BroadcastMode::numpy, "numpy"},
                {BroadcastMode::explicit_, "none"},  // OpenVINO's spelling of explicit (Broadcast-1)
                {BroadcastMode::explicit_, "explicit"},
                {BroadcastMode::bidirectional, "bidirectional"}});
}

void Broadcast::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 3, "opset version ", opset_version,
                     " does not exist (1, 3)");
    KILN_INFER_CHECK(ctx, opset_version == 3 || mode != BroadcastMode::bidirectional,
                     "mode bidirectional needs Broadcast-3");
    // axes_mapping is used in explicit mode only; other modes ignore one (Broadcast-1 files have it).
    if (mode == BroadcastMode::explicit_) ctx.check_inputs(3);
    else ctx.check_inputs(2, 3);
    check_integral(ctx, 1, "target_shape");
    const PartialShape& data = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    auto tv = shape_value(ctx, 1);
    std::vector<Dimension> target;
    if (tv) {
        for (auto& e : *tv) {
            if (e.known) {
                KILN_INFER_CHECK(ctx, e.value >= 0, "target_shape ", value_string(*tv), " has a negative dimension");
                target.emplace_back(e.value);
            } else {
                target.push_back(e.dim);
            }
        }
    } else {
        auto k = static_length(ctx.input_shape(1));
        if (!k) {
            ctx.set_output(0, type, PartialShape());
            return;
        }
        target.assign(static_cast<size_t>(*k), Dimension::dynamic());
    }
    auto tstr = [&] { return tv ? value_string(*tv) : PartialShape(target).to_string(); };
    int64_t k = static_cast<int64_t>(target.size());
    if (mode == BroadcastMode::explicit_) {
        check_integral(ctx, 2, "axes_mapping");
        auto axes = known_ints(ctx, 2);
        if (axes && data.rank_is_static()) {
            KILN_INFER_CHECK(ctx, static_cast<int64_t>(axes->size()) == data.rank(), "axes_mapping ",
                      ints_string(*axes), " must have one element per data dimension of ",
                      data.to_string());
            for (size_t i = 0; i < axes->size(); ++i) {
                int64_t a = (*axes)[i];
                KILN_INFER_CHECK(ctx, a >= 0 && a < k && (i == 0 || a > (*axes)[i - 1]), "axes_mapping ",
                          ints_string(*axes), " must be increasing and within target rank ", k);
                Dimension& t = target[static_cast<size_t>(a)];
                const Dimension& d = data[i];
                if (d == Dimension(1)) continue;
                auto m = Dimension::merge(t, d);
                KILN_INFER_CHECK(ctx, m.has_value(), "data ", data.to_string(), " cannot be broadcast to ",
                          tstr(), " with axes_mapping ", ints_string(*axes));
                t = *m;
            }
        }
        ctx.set_output(0, type, PartialShape(std::move(target)));
        return;
    }
    if (data.rank_is_dynamic()) {
        ctx.set_output(0, type, mode == BroadcastMode::numpy ? PartialShape(target) : PartialShape());
        return;
    }
    int64_t r = data.rank();
    if (mode == BroadcastMode::numpy) {
        KILN_INFER_CHECK(ctx, r <= k, "data ", data.to_string(), " has a higher rank than target_shape ", tstr());
        for (int64_t i = 0; i < r; ++i) {
            const Dimension& d = data[static_cast<size_t>(i)];
            Dimension& t = target[static_cast<size_t>(k - r + i)];
            if (d == Dimension(1)) continue;
            // Only data is stretched, so the target dimension must equal a data dim that is not 1.
            auto m = Dimension::merge(t, d);
            if (!m && !d.compatible(1))
                ctx.fail("data ", data.to_string(), " cannot be broadcast to ", tstr());
            if (m && !d.compatible(1)) t = *m;
        }
        ctx.set_output(0, type, PartialShape(std::move(target)));
        return;
    }
    int64_t n = std::max(r, k);
    std::vector<Dimension> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        Dimension a = i - (n - r) >= 0 ? data[static_cast<size_t>(i - (n - r))] : Dimension(1);
        Dimension b = i - (n - k) >= 0 ? target[static_cast<size_t>(i - (n - k))] : Dimension(1);
        auto m = broadcast_dim(a, b);
        KILN_INFER_CHECK(ctx, m.has_value(), "data ", data.to_string(), " and target_shape ", tstr(),
                  " do not broadcast");
        out[static_cast<size_t>(i)] = *m;
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
}

StridedView Broadcast::view(const Shape& data, const std::vector<int64_t>& target,
                            const std::vector<int64_t>& axes) const {
    auto ds = contiguous_strides(data);
    int64_t r = static_cast<int64_t>(data.size()), k = static_cast<int64_t>(target.size());
    StridedView v;
    auto bad = [&] {
        throw ValueError(str_cat("[Broadcast ", name(), "] data ", to_string(data),
                                 " cannot be broadcast to ", to_string(Shape(target))));
    };
    if (mode == BroadcastMode::explicit_) {
        v.shape = target;
        v.strides.assign(target.size(), 0);
        if (axes.size() != data.size()) bad();
        for (size_t i = 0; i < axes.size(); ++i) {
            if (axes[i] < 0 || axes[i] >= k) bad();
            auto t = target[static_cast<size_t>(axes[i])];
            if (data[i] != 1 && data[i] != t) bad();
            v.strides[static_cast<size_t>(axes[i])] = data[i] == 1 ? 0 : ds[i];
        }
        return v;
    }
    int64_t n = mode == BroadcastMode::numpy ? k : std::max(r, k);
    if (r > n) bad();
    v.shape.resize(static_cast<size_t>(n));
    v.strides.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        int64_t di = i - (n - r), ti = i - (n - k);
        int64_t d = di >= 0 ? data[static_cast<size_t>(di)] : 1;
        int64_t t = ti >= 0 ? target[static_cast<size_t>(ti)] : 1;
        int64_t o;
        if (d == t || d == 1) o = t;
        else if (t == 1 && mode == BroadcastMode::bidirectional) o = d;
        else bad();
        v.shape[static_cast<size_t>(i)] = o;
        v.strides[static_cast<size_t>(i)] = (di < 0 || d == 1) ? 0 : ds[static_cast<size_t>(di)];
    }
    return v;
}

void Broadcast::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto axes = in.size() > 2 ? in[2].as_i64_vector() : std::vector<int64_t>{};
    auto v = view(in[0].shape(), in[1].as_i64_vector(), axes);
    copy_view_reference(v, in[0].data(), out[0].data(), type_size(in[0].type()));
}

// ---------------------------------------------------------------------------------------------
// Range

namespace {
// The inputs cast to the output type (as the spec says), as doubles.
double range_cast(double v, Type t) { return is_float(t) ? v : std::trunc(v); }

int64_t range_count(double start, double stop, double step) {
    double n = std::ceil((stop - start) / step);
    return n > 0 ? static_cast<int64_t>(n) : 0;
}
}  // namespace

void Range::visit_attributes(AttributeVisitor& v) { v.on("output_type", output_type); }

void Range::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    KILN_INFER_CHECK(ctx, output_type != Type::dynamic && output_type != Type::boolean,
              "output_type must be a numeric type, got ", kiln::type_name(output_type));
    const char* names[] = {"start", "stop", "step"};
    double v[3];
    bool known = true;
    for (size_t i = 0; i < 3; ++i) {
        const PartialShape& s = ctx.input_shape(i);
        KILN_INFER_CHECK(ctx, s.rank_is_dynamic() || s.rank() == 0 || (s.rank() == 1 && s[0].compatible(1)),
                  names[i], " must be a scalar, got shape ", s.to_string());
        const Tensor* t = ctx.input_value(i);
        if (t && t->size() == 1 && t->type() != Type::f16 && t->type() != Type::bf16)
            v[i] = range_cast(t->as_f64_vector()[0], output_type);
        else
            known = false;
    }
    if (!known) {
        ctx.set_output(0, output_type, PartialShape{Dimension::dynamic()});
        return;
    }
    KILN_INFER_CHECK(ctx, v[2] != 0, "step must not be zero");
    KILN_INFER_CHECK(ctx, std::isfinite(v[0]) && std::isfinite(v[1]), "start and stop must be finite, got ",
              v[0], " and ", v[1]);
    ctx.set_output(0, output_type, PartialShape{Dimension(range_count(v[0], v[1], v[2]))});
}

void Range::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    double start = range_cast(in[0].as_f64_vector()[0], output_type);
    double step = range_cast(in[2].as_f64_vector()[0], output_type);
    int64_t n = out[0].size();
    std::vector<double> vals(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) vals[static_cast<size_t>(i)] = start + static_cast<double>(i) * step;
    convert_elements(vals.data(), Type::f64, out[0].data(), output_type, vals.size());
}

// ---------------------------------------------------------------------------------------------
// Tile

void Tile::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "repeats");
    const PartialShape& data = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    const PartialShape& rs = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, rs.rank_is_dynamic() || rs.rank() == 1, "repeats must be 1D, got shape ", rs.to_string());
    auto rv = shape_value(ctx, 1);
    std::vector<Dimension> reps;
    if (rv) {
        for (auto& e : *rv) {
            if (e.known) {
                KILN_INFER_CHECK(ctx, e.value >= 0, "repeats ", value_string(*rv), " must not be negative");
                reps.emplace_back(e.value);
            } else {
                reps.push_back(e.dim);
            }
        }
    } else {
        auto k = static_length(rs);
        if (!k) {
            ctx.set_output(0, type, PartialShape());
            return;
        }
        reps.assign(static_cast<size_t>(*k), Dimension::dynamic());
    }
    if (data.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    size_t r = data.size(), k = reps.size(), n = std::max(r, k);
    std::vector<Dimension> out(n);
    for (size_t i = 0; i < n; ++i) {
        Dimension d = i + r >= n ? data[i + r - n] : Dimension(1);
        Dimension p = i + k >= n ? reps[i + k - n] : Dimension(1);
        out[i] = d * p;
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
}

StridedView Tile::view(const Shape& data, const std::vector<int64_t>& repeats) {
    size_t r = data.size(), k = repeats.size(), n = std::max(r, k);
    Shape d(n, 1);
    std::vector<int64_t> p(n, 1);
    for (size_t i = 0; i < r; ++i) d[n - r + i] = data[i];
    for (size_t i = 0; i < k; ++i) p[n - k + i] = repeats[i];
    auto ds = contiguous_strides(d);
    StridedView v;
    for (size_t i = 0; i < n; ++i) {
        if (p[i] < 0) throw ValueError(str_cat("[Tile] repeats ", to_string(Shape(repeats)), " must not be negative"));
        v.shape.push_back(p[i]);
        v.strides.push_back(0);
        v.shape.push_back(d[i]);
        v.strides.push_back(ds[i]);
    }
    return v;
}

void Tile::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto v = view(in[0].shape(), in[1].as_i64_vector());
    copy_view_reference(v, in[0].data(), out[0].data(), type_size(in[0].type()));
}

}  // namespace kiln::op

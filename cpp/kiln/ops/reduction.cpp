#include "kiln/ops/reduction.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

namespace kiln::op {

namespace detail {

std::vector<bool> axes_mask(const Node& node, const std::vector<int64_t>& axes, int64_t rank) {
    std::vector<bool> mask(static_cast<size_t>(rank), false);
    for (int64_t a : axes) {
        if (a < -rank || a >= rank)
            throw ValueError(str_cat("[", node.type_name(), " ", node.name(), "] axis ", a,
                                     " is out of range: expected [", -rank, ", ", rank - 1,
                                     "] for rank ", rank, ", got ", a));
        mask[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
    }
    return mask;
}

void check_axes_input(const InferContext& ctx, size_t i) {
    Type t = ctx.input_type(i);
    ctx.check(t == Type::dynamic || is_integral(t), "axes (input ", i,
              ") must have an integer element type, got ", kiln::type_name(t));
    const PartialShape& s = ctx.input_shape(i);
    ctx.check(s.rank_is_dynamic() || s.rank() <= 1, "axes (input ", i,
              ") must be a scalar or 1D, got shape ", s.to_string());
}

std::vector<int64_t> group_index(const Shape& shape, const std::vector<bool>& mask) {
    const size_t r = shape.size();
    // Stride of each dim in the keep_dims output; 0 for a reduced dim.
    std::vector<int64_t> ostride(r, 0);
    int64_t s = 1;
    for (size_t d = r; d-- > 0;) {
        if (!mask[d]) {
            ostride[d] = s;
            s *= shape[d];
        }
    }
    std::vector<int64_t> g(static_cast<size_t>(shape_size(shape)));
    std::vector<int64_t> idx(r, 0);
    int64_t cur = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        g[i] = cur;
        for (size_t d = r; d-- > 0;) {
            cur += ostride[d];
            if (++idx[d] < shape[d]) break;
            cur -= ostride[d] * shape[d];
            idx[d] = 0;
        }
    }
    return g;
}

}  // namespace detail

template <typename Derived, ReduceKind K>
void ReduceOp<Derived, K>::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    Type t = ctx.input_type(0);
    ctx.check(t != Type::boolean, "data must have a numeric element type, got boolean");
    detail::check_axes_input(ctx, 1);
    const PartialShape& in = ctx.input_shape(0);
    const Tensor* axes = ctx.input_value(1);
    if (in.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape::dynamic());
        return;
    }
    const int64_t r = in.rank();
    const PartialShape& ashape = ctx.input_shape(1);
    if (!axes && ashape.is_static() && shape_size(ashape.to_shape()) == 0) {
        ctx.set_output(0, t, in);  // an empty axes list reduces nothing
        return;
    }
    if (!axes) {
        // The axes are known only at run time: with keep_dims the rank survives, nothing else.
        ctx.set_output(0, t, keep_dims ? PartialShape::dynamic(r) : PartialShape::dynamic());
        return;
    }
    auto mask = detail::axes_mask(*this, axes->as_i64_vector(), r);
    std::vector<Dimension> out;
    for (int64_t d = 0; d < r; ++d) {
        if (!mask[static_cast<size_t>(d)]) out.push_back(in[static_cast<size_t>(d)]);
        else if (keep_dims) out.push_back(Dimension(1));
    }
    ctx.set_output(0, t, PartialShape(std::move(out)));
}

namespace {

// Integers accumulate exactly in 64 bits; floats in double.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <ReduceKind K, typename T>
void reduce_ref(const Tensor& in, const std::vector<bool>& mask, Tensor& out) {
    using A = Acc<T>;
    const int64_t n_out = out.size();
    A init{};
    if constexpr (K == ReduceKind::Prod) init = 1;
    constexpr bool fp = std::is_floating_point_v<T>;
    if constexpr (K == ReduceKind::Max) {
        if constexpr (fp) init = -std::numeric_limits<double>::infinity();
        else init = static_cast<A>(std::numeric_limits<T>::lowest());
    }
    if constexpr (K == ReduceKind::Min) {
        if constexpr (fp) init = std::numeric_limits<double>::infinity();
        else init = static_cast<A>(std::numeric_limits<T>::max());
    }
    std::vector<A> acc(static_cast<size_t>(n_out), init);
    auto g = detail::group_index(in.shape(), mask);
    const T* x = in.data<T>();
    for (size_t i = 0; i < g.size(); ++i) {
        A v = static_cast<A>(x[i]);
        A& a = acc[static_cast<size_t>(g[i])];
        switch (K) {
            case ReduceKind::Sum:
            case ReduceKind::Mean: a += v; break;
            case ReduceKind::Max: a = v > a ? v : a; break;
            case ReduceKind::Min: a = v < a ? v : a; break;
            case ReduceKind::Prod: a *= v; break;
            case ReduceKind::L1: a += v < 0 ? -v : v; break;
            case ReduceKind::L2: a += v * v; break;
        }
    }
    const int64_t count = n_out == 0 ? 0 : in.size() / n_out;
    T* y = out.data<T>();
    for (int64_t i = 0; i < n_out; ++i) {
        A a = acc[static_cast<size_t>(i)];
        if constexpr (K == ReduceKind::Mean) {
            if constexpr (std::is_floating_point_v<T>) a = a / static_cast<double>(count);
            else a = count ? a / count : 0;
        }
        if constexpr (K == ReduceKind::L2) a = static_cast<A>(std::sqrt(static_cast<double>(a)));
        y[i] = static_cast<T>(a);
    }
}

}  // namespace

template <typename Derived, ReduceKind K>
void ReduceOp<Derived, K>::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto mask = detail::axes_mask(*this, in[1].as_i64_vector(), in[0].rank());
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>)
            throw ValueError(str_cat("[", this->type_name(), " ", this->name(),
                                     "] boolean data is not supported"));
        else reduce_ref<K, T>(in[0], mask, out[0]);
    });
}

template class ReduceOp<ReduceSum, ReduceKind::Sum>;
template class ReduceOp<ReduceMean, ReduceKind::Mean>;
template class ReduceOp<ReduceMax, ReduceKind::Max>;
template class ReduceOp<ReduceMin, ReduceKind::Min>;
template class ReduceOp<ReduceProd, ReduceKind::Prod>;
template class ReduceOp<ReduceL1, ReduceKind::L1>;
template class ReduceOp<ReduceL2, ReduceKind::L2>;

std::optional<ReduceInfo> reduce_info(const Node& n) {
    if (auto p = dynamic_cast<const ReduceSum*>(&n)) return ReduceInfo{ReduceKind::Sum, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceMean*>(&n)) return ReduceInfo{ReduceKind::Mean, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceMax*>(&n)) return ReduceInfo{ReduceKind::Max, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceMin*>(&n)) return ReduceInfo{ReduceKind::Min, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceProd*>(&n)) return ReduceInfo{ReduceKind::Prod, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceL1*>(&n)) return ReduceInfo{ReduceKind::L1, p->keep_dims};
    if (auto p = dynamic_cast<const ReduceL2*>(&n)) return ReduceInfo{ReduceKind::L2, p->keep_dims};
    return std::nullopt;
}

}  // namespace kiln::op

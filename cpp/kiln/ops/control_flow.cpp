#include "kiln/ops/control_flow.hpp"

#include <cstring>

namespace kiln::op {

void Choose::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    auto ct = ctx.input_type(0);
    ctx.check(ct == Type::boolean || ct == Type::dynamic, "condition: expected boolean, got ", kiln::type_name(ct));
    auto& cs = ctx.input_shape(0);
    if (cs.is_static())
        ctx.check(shape_size(cs.to_shape()) == 1, "condition: expected one value, got shape ", cs.to_string());
    Type a = ctx.input_type(1), b = ctx.input_type(2);
    ctx.check(a == b || a == Type::dynamic || b == Type::dynamic, "branches: element types ", kiln::type_name(a), " and ",
              kiln::type_name(b), " differ");
    Type t = a == Type::dynamic ? b : a;
    if (auto c = ctx.input_value(0)) {
        size_t pick = c->as_i64_vector().at(0) != 0 ? 1 : 2;
        ctx.set_output(0, t, ctx.input_shape(pick));
        return;
    }
    auto& sa = ctx.input_shape(1);
    auto& sb = ctx.input_shape(2);
    if (sa == sb) {
        ctx.set_output(0, t, sa);
    } else if (sa.rank_is_static() && sb.rank_is_static() && sa.rank() == sb.rank()) {
        // Per dimension: what both branches agree on stays, the rest becomes dynamic.
        std::vector<Dimension> dims;
        for (size_t i = 0; i < sa.size(); ++i) dims.push_back(sa[i] == sb[i] ? sa[i] : Dimension());
        ctx.set_output(0, t, PartialShape(dims));
    } else {
        ctx.set_output(0, t, PartialShape());
    }
}

void Choose::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& pick = in[0].as_i64_vector().at(0) != 0 ? in[1] : in[2];
    KILN_CHECK(pick.shape() == out[0].shape(), "[Choose ", name(), "] the chosen branch has shape ",
               to_string(pick.shape()), ", the plan expected ", to_string(out[0].shape()));
    std::memcpy(out[0].data(), pick.data(), pick.byte_size());
}

}  // namespace kiln::op

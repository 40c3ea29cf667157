#include "kiln/ops/graph_io.hpp"

#include <cstring>

namespace kiln::op {

void Parameter::visit_attributes(AttributeVisitor& v) {
    v.on("element_type", element_type);
    v.on("shape", shape);
}

void Parameter::infer(InferContext& ctx) const {
    ctx.check_inputs(0);
    ctx.set_output(0, element_type, shape);
}

void Constant::visit_attributes(AttributeVisitor& v) {
    Type t = value.type();
    v.on("element_type", t);
    PartialShape s(value.shape());
    v.on("shape", s);
    if (v.reading()) {
        // The tensor's type and shape, without memory: on_tensor gives it its data (the IR
        // reader maps it from the .bin file after checking the file holds that many bytes).
        if (t == Type::dynamic) throw ValueError("Constant: element_type must not be dynamic");
        if (!s.is_static()) throw ValueError(str_cat("Constant: shape must be static, got ", s.to_string()));
        value = Tensor(t, s.to_shape(), nullptr, nullptr);
    }
    v.on_tensor("value", value);
}

void Constant::infer(InferContext& ctx) const {
    ctx.check_inputs(0);
    ctx.set_output(0, value.type(), PartialShape(value.shape()));
}

void Constant::evaluate(const std::vector<Tensor>&, std::vector<Tensor>& out) const {
    std::memcpy(out[0].data(), value.data(), value.byte_size());
}

void Result::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    ctx.set_output(0, ctx.input_type(0), ctx.input_shape(0));
}

void Result::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
}

}  // namespace kiln::op

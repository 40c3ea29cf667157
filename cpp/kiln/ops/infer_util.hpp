// Shape-inference helpers shared by the op families.
#pragma once
#include <optional>
#include <vector>

#include "kiln/core/node.hpp"

// Like ctx.check, but builds the message only when the check fails (messages print shapes).
#define KILN_INFER_CHECK(ctx, cond, ...)        \
    do {                                        \
        if (!(cond)) (ctx).fail(__VA_ARGS__);   \
    } while (0)

namespace kiln::op {

// Values of input i when they are known at inference time (a constant input).
inline std::optional<std::vector<int64_t>> known_ints(const InferContext& ctx, size_t i) {
    if (i >= ctx.num_inputs()) return std::nullopt;
    if (auto t = ctx.input_value(i)) return t->as_i64_vector();
    return std::nullopt;
}

// Input i must be of an integer type (or not known yet).
inline void check_integral(const InferContext& ctx, size_t i, const char* what) {
    Type t = ctx.input_type(i);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_integral(t), what, " must be of an integer type, got ",
                     kiln::type_name(t));
}

}  // namespace kiln::op

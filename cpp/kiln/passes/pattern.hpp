// Small helpers the fusion passes match patterns with (header-only).
#pragma once
#include <optional>

#include "kiln/core/model.hpp"

namespace kiln::passes {

// The one node reading `o`; nullptr when there are none or several.
inline Node* sole_reader(const ConsumerMap& cm, const Output& o) {
    auto it = cm.find(o);
    if (it == cm.end() || it->second.size() != 1) return nullptr;
    return it->second[0].first;
}

// The Constant feeding `o`, if it is one.
inline const Tensor* const_of(const Output& o) { return o.index == 0 && o.node ? o.node->constant_value() : nullptr; }

// The value of a one-element f32 constant feeding `o`.
inline std::optional<double> scalar_f32(const Output& o) {
    const Tensor* t = const_of(o);
    if (!t || t->type() != Type::f32 || t->size() != 1) return std::nullopt;
    return t->as_f64_vector()[0];
}

}  // namespace kiln::passes

// A model input or output as Python sees it: index, names, element type, partial shape.
#pragma once
#include <string>
#include <vector>

#include "kiln/core/model.hpp"

namespace kiln::bindings {

struct Port {
    bool is_input = true;
    size_t index = 0;
    std::vector<std::string> names;
    Type type = Type::dynamic;
    PartialShape shape;

    std::string any_name() const { return names.empty() ? std::string() : names[0]; }
    bool operator==(const Port& o) const { return is_input == o.is_input && index == o.index && names == o.names; }
};

std::vector<Port> model_inputs(const Model& m);
std::vector<Port> model_outputs(const Model& m);

}  // namespace kiln::bindings

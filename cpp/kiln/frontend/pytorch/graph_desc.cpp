#include "kiln/frontend/pytorch/graph_desc.hpp"

namespace kiln::frontend::pytorch {

std::string ConstValue::to_string() const {
    switch (kind) {
        case Kind::none: return "None";
        case Kind::boolean: return b ? "True" : "False";
        case Kind::integer: return std::to_string(i);
        case Kind::floating: return std::to_string(f);
        case Kind::string: return "'" + s + "'";
        case Kind::tensor: return std::string("Tensor<") + type_name(tensor.type()) + kiln::to_string(tensor.shape()) + ">";
        case Kind::list: {
            std::string r = "[";
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) r += ", ";
                r += items[k].to_string();
            }
            return r + "]";
        }
    }
    return "?";
}

}  // namespace kiln::frontend::pytorch

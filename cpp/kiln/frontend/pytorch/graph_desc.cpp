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
            bool dict = !keys.empty();
            std::string r = dict ? "{" : "[";
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) r += ", ";
                if (dict && k < keys.size()) r += "'" + keys[k] + "': ";
                r += items[k].to_string();
            }
            return r + (dict ? "}" : "]");
        }
        case Kind::unsupported: return "<" + s + ">";
    }
    return "?";
}

}  // namespace kiln::frontend::pytorch

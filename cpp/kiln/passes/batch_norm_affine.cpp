#include "kiln/passes/batch_norm_affine.hpp"

#include <cmath>

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/normalization.hpp"

namespace kiln::passes {

size_t batch_norm_to_affine(Model& m) {
    size_t n = 0;
    ConsumerIndex ci(m);
    for (auto& node : m.ordered_ops()) {
        auto* bn = dynamic_cast<op::BatchNormInference*>(node.get());
        if (!bn || bn->output_type(0) != Type::f32) continue;
        const PartialShape& s = bn->output_shape(0);
        if (s.rank_is_dynamic() || s.rank() < 2 || !s[1].is_static()) continue;
        const int64_t c = s[1].get_length();
        std::vector<double> p[4];  // gamma, beta, mean, variance
        bool constant = true;
        for (int k = 0; k < 4 && constant; ++k) {
            const Tensor* v = bn->input(static_cast<size_t>(k + 1)).node->constant_value();
            constant = v && v->size() == c && (v->type() == Type::f32 || v->type() == Type::f64);
            if (constant) p[k] = v->as_f64_vector();
        }
        if (!constant) continue;
        std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
        for (size_t o = 0; o < scale.size(); ++o) {
            const double sc = p[0][o] / std::sqrt(p[3][o] + bn->epsilon);
            scale[o] = static_cast<float>(sc);
            shift[o] = static_cast<float>(p[1][o] - p[2][o] * sc);
        }
        Shape cs(static_cast<size_t>(s.rank() - 1), 1);
        cs[0] = c;
        NodePtr mul, add;
        with_source(*bn, [&] {
            mul = make<op::Multiply>({bn->input(0), op::Constant::create<float>(scale, cs)->output(0)});
            add = make<op::Add>({mul->output(0), op::Constant::create<float>(shift, cs)->output(0)});
        });
        mul->set_name(bn->name() + "/scale");
        add->set_name(bn->name());
        for (auto& x : {mul, add}) x->set_source(bn->source());
        ci.replace(bn->output(0), add->output(0));
        ++n;
    }
    return n;
}

}  // namespace kiln::passes

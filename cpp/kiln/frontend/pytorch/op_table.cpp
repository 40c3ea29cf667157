#include "kiln/frontend/pytorch/translators/translators.hpp"

namespace kiln::frontend::pytorch {

namespace {
const TranslatorTable& table() {
    static const TranslatorTable t = [] {
        TranslatorTable t;
        add_prim_translators(t);
        add_elementwise_translators(t);
        add_math_translators(t);
        add_shape_translators(t);
        add_creation_translators(t);
        add_conv_pool_translators(t);
        add_linear_translators(t);
        add_norm_translators(t);
        add_attention_translators(t);
        add_index_translators(t);
        add_linalg_translators(t);
        add_resample_translators(t);
        add_scatter_translators(t);
        add_movement_translators(t);
        add_random_translators(t);
        add_fft_translators(t);
        add_recurrent_translators(t);
        add_quantized_translators(t);
        add_detection_translators(t);
        add_special_translators(t);
        return t;
    }();
    return t;
}
}  // namespace

Translator find_translator(const std::string& kind) {
    auto it = table().find(kind);
    return it == table().end() ? nullptr : it->second;
}

}  // namespace kiln::frontend::pytorch

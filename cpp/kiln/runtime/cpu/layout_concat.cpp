#include "kiln/runtime/cpu/layout_concat.hpp"

#include <cstring>

#include "kiln/ops/data_movement.hpp"

namespace kiln::cpu {

namespace {

class LayoutConcatKernel : public Kernel {
public:
    LayoutConcatKernel(Layout layout, std::vector<int64_t> channels, int64_t n, int64_t positions, size_t es)
        : layout_(layout), channels_(std::move(channels)), n_(n), positions_(positions), es_(es) {
        for (int64_t c : channels_) total_ += c;
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        // Offsets count elements; copies are of es_ bytes per element (f32 or the INT8 types).
        auto* y = static_cast<char*>(out[0].data());
        const size_t es = es_;
        if (layout_.kind == Layout::Kind::channels_last) {
            // Row r (one batch item and position) of the output is every input's row r in turn.
            const int64_t rows = n_ * positions_;
#pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < rows; ++r) {
                int64_t at = r * total_;
                for (size_t i = 0; i < in.size(); ++i) {
                    std::memcpy(y + at * es, static_cast<const char*>(in[i].data()) + r * channels_[i] * es,
                                channels_[i] * es);
                    at += channels_[i];
                }
            }
            return;
        }
        // Blocked, whole blocks: per batch item, each input's [C_i/b, positions, b] in turn.
        const int64_t b = layout_.block;
#pragma omp parallel for schedule(static) collapse(2)
        for (int64_t n = 0; n < n_; ++n)
            for (size_t i = 0; i < in.size(); ++i) {
                int64_t before = 0;
                for (size_t j = 0; j < i; ++j) before += channels_[j];
                const int64_t chunk = channels_[i] * positions_;
                std::memcpy(y + (n * total_ * positions_ + before * positions_) * es,
                            static_cast<const char*>(in[i].data()) + n * chunk * es, chunk * es);
                (void)b;
            }
    }
    const char* name() const override { return "layout_concat"; }
    Layout input_layout(size_t) const override { return layout_; }
    Layout output_layout(size_t) const override { return layout_; }

private:
    Layout layout_;
    std::vector<int64_t> channels_;
    int64_t n_, positions_, total_ = 0;
    size_t es_;
};

}  // namespace

KernelPtr make_layout_concat_kernel(const Node& node, const KernelShapes& sh, Layout layout) {
    auto* c = dynamic_cast<const op::Concat*>(&node);
    if (!c || layout.is_plain() || layout.bf16 || sh.outputs.size() != 1) return nullptr;
    const Type t = sh.out_type(0);
    if (t != Type::f32 && t != Type::i8 && t != Type::u8) return nullptr;
    const Shape y = sh.out(0);
    if (y.size() < 3 || y.size() > 5) return nullptr;
    const int64_t axis = c->axis < 0 ? c->axis + static_cast<int64_t>(y.size()) : c->axis;
    if (axis != 1) return nullptr;
    std::vector<int64_t> channels;
    for (size_t i = 0; i < sh.inputs.size(); ++i) {
        if (sh.in_type(i) != t) return nullptr;
        const Shape x = sh.in(i);
        if (x.size() != y.size()) return nullptr;
        for (size_t d = 0; d < y.size(); ++d)
            if (d != 1 && x[d] != y[d]) return nullptr;
        if (layout.kind == Layout::Kind::blocked && x[1] % layout.block != 0) return nullptr;
        channels.push_back(x[1]);
    }
    int64_t positions = 1;
    for (size_t d = 2; d < y.size(); ++d) positions *= y[d];
    return std::make_unique<LayoutConcatKernel>(layout, std::move(channels), y[0], positions, type_size(t));
}

}  // namespace kiln::cpu

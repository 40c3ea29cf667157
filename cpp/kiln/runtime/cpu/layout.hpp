// How a plan slot lays out its tensor in memory, for tensors of rank 3 to 5 with channels on
// axis 1 ([N, C, d...]):
//   plain          dense row-major in the logical shape (nchw);
//   channels_last  channels innermost, physical shape [N, d..., C] (nhwc), what oneDNN's brgemm
//                  convolutions on AVX-512 read and write;
//   blocked        oneDNN's nChw16c / nChw8c: channels split into blocks of `block` that become
//                  the innermost axis, the last block padded, physical [N, ceil(C/b), d..., b]
//                  (the AVX2 convolutions' layout).
//
// bf16 (with INFERENCE_PRECISION_HINT=bf16): an f32 tensor stored as bf16 in any of those, for
// tensors that go from one bf16 convolution to others only, so that no f32 copy is written and
// read between them; the slot's element type is then bf16. Reorders convert where a neighbour
// wants f32.
//
// Kernels that understand a layout say so (Kernel::input_layout / output_layout) when the plan
// lets them negotiate (KernelShapes::negotiate_layouts); the plan settles every edge and puts an
// explicit reorder step only where producer and consumer disagree. Element-wise kernels run on
// such tensors as they are, over the physical shape (plan.cpp, layout_transparent).
#pragma once
#include <cstdint>
#include <string>

#include "kiln/core/node.hpp"

namespace kiln::cpu {

struct Layout {
    enum class Kind { plain, channels_last, blocked };
    Kind kind = Kind::plain;
    int64_t block = 0;  // blocked only
    bool bf16 = false;  // an f32 tensor stored as bf16

    static Layout nhwc() { return {Kind::channels_last, 0}; }
    static Layout blocked_by(int64_t b) { return {Kind::blocked, b}; }
    Layout stored_bf16(bool b = true) const {
        Layout l = *this;
        l.bf16 = b;
        return l;
    }
    // Plain, nhwc or blocked f32 (what is left without the bf16 storage).
    bool is_plain() const { return kind == Kind::plain && !bf16; }
    // A number that tells layouts apart (map keys).
    int64_t code() const { return 2 * (kind == Kind::blocked ? block : kind == Kind::plain ? 0 : -1) + (bf16 ? 1 : 0); }
    bool operator==(const Layout& o) const { return kind == o.kind && block == o.block && bf16 == o.bf16; }
    bool operator!=(const Layout& o) const { return !(*this == o); }
};

// Whether a logical shape can take this layout (any but plain needs rank 3..5).
bool layout_fits(const Shape& logical, Layout l);
// The shape of the memory: [N, d..., C], [N, ceil(C/b), d..., b], or the logical shape (plain).
Shape physical_shape(const Shape& logical, Layout l);
// Whether a tensor of this logical shape has the same bytes in both layouts (e.g. [N, C, 1, 1]
// in nchw and nhwc, or in nChw16c when C is a multiple of 16): no reorder is needed between them.
bool same_bytes(const Shape& logical, Layout a, Layout b);
// oneDNN's spelling: "nchw", "nhwc", "nChw16c", "nCdhw8c", "ncw", ...
std::string layout_name(Layout l, size_t rank);

// The element type a slot of logical type `t` has in layout `l` (bf16 storage of f32).
inline Type stored_type(Type t, Layout l) { return l.bf16 && t == Type::f32 ? Type::bf16 : t; }

// The plain reference of a reorder between layouts (padding written as zeros), converting
// between f32 and bf16 storage (to nearest even) when the two differ: the fast reorder kernel is
// tested against it.
void reorder_reference(const Tensor& src, Layout from, Tensor& dst, Layout to, const Shape& logical);

}  // namespace kiln::cpu

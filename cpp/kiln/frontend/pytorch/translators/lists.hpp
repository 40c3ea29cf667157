// Lists whose items are the pieces of one tensor (split, chunk, unbind of a dimension, the items
// a loop appends), whose length may be known only at run time, and lists indexed at run time.
#pragma once
#include <optional>

#include "kiln/frontend/pytorch/translators/common.hpp"

namespace kiln::frontend::pytorch {

// The list of the pieces of `data` along `axis`, each `piece` long (unset: single slices with the
// axis removed). `items` empty: a list of run-time length; else the known items, with the pieces
// kept for indexing them at run time.
TValue pieces_list(Pieces p, std::vector<TValue> items = {});
// len(list): a constant for a list of known length, else an i64 scalar computed at run time.
TValue list_length(NodeContext& ctx, const TValue& list);
// list[index] for an index known only at run time (an i64 scalar; negative counts from the end):
// a slice of the pieces' tensor, or, for other lists, the items stacked (they must all have one
// shape) and gathered.
TValue list_item(NodeContext& ctx, const TValue& list, const Output& index);
// a, b, ... = list, for a list of run-time length: exactly n pieces (a plan whose shapes give
// another number of pieces fails, naming the split).
std::vector<TValue> unpack_pieces(NodeContext& ctx, const Pieces& p, size_t n);
// torch.stack(list, dim) / torch.cat(list, dim) of a list of run-time length.
Output stack_pieces(NodeContext& ctx, const Pieces& p, int64_t dim);
Output cat_pieces(NodeContext& ctx, const Pieces& p, int64_t dim);
// The value of input i when it is an int known at conversion time.
std::optional<int64_t> known_int(const NodeContext& ctx, size_t i);

}  // namespace kiln::frontend::pytorch

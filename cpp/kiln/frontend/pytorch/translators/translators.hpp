// The translator families. Each adds its aten/prim kinds to the one op table (op_table.cpp).
#pragma once
#include <string>
#include <unordered_map>

#include "kiln/frontend/pytorch/node_context.hpp"

namespace kiln::frontend::pytorch {

using TranslatorTable = std::unordered_map<std::string, Translator>;

void add_prim_translators(TranslatorTable& t);         // prim.cpp: lists, tuples, If, scalars
void add_elementwise_translators(TranslatorTable& t);  // elementwise.cpp
void add_math_translators(TranslatorTable& t);         // math.cpp: trig, log/exp variants, bitwise, scans
void add_special_translators(TranslatorTable& t);      // special.cpp: torch.special (gamma, erfinv, Bessel, ...)
void add_shape_translators(TranslatorTable& t);        // shape.cpp: view, permute, cat, slice, ...
void add_creation_translators(TranslatorTable& t);     // creation.cpp: zeros, arange, full, ...
void add_conv_pool_translators(TranslatorTable& t);    // conv_pool.cpp
void add_linear_translators(TranslatorTable& t);       // linear.cpp: linear, matmul, addmm, einsum
void add_linalg_translators(TranslatorTable& t);       // linalg.cpp: einsum, tensordot, inverse, det, ...
void add_norm_translators(TranslatorTable& t);         // norm.cpp: batch/layer norm, softmax, reductions
void add_attention_translators(TranslatorTable& t);    // attention.cpp: fused multi-head attention, sdpa
void add_resample_translators(TranslatorTable& t);     // resample.cpp: upsample, grid_sampler, pixel/channel shuffle, fold
void add_index_translators(TranslatorTable& t);        // index.cpp: embedding, x[i, j], argmax, topk, sort
void add_scatter_translators(TranslatorTable& t);      // scatter.cpp: scatter*, index_add/copy/fill, masked_*, nonzero, unique, ...
void add_movement_translators(TranslatorTable& t);     // movement.cpp: flip, rot90, movedim, diagonal, *_scatter, as_strided, ...
void add_random_translators(TranslatorTable& t);       // random.cpp: rand*, randint, normal, bernoulli, multinomial, empty*
void add_fft_translators(TranslatorTable& t);          // fft.cpp: complex tensors, fft_*
// fft.cpp: the translator of `kind` for a node with a complex input (nullptr: none), and whether
// a value is or holds a complex tensor.
Translator find_complex_translator(const std::string& kind);
bool holds_complex(const TValue& v);
// fft.cpp: input 0, a real tensor, as a complex one (dtype code 9 complex64, 10 complex128).
TValue real_to_complex(NodeContext& ctx, int64_t code);
void add_recurrent_translators(TranslatorTable& t);    // recurrent.cpp: lstm, gru, rnn, cells, packed sequences
void add_quantized_translators(TranslatorTable& t);    // quantized.cpp: quantize/dequantize, fake_quantize, quantized::*
void add_detection_translators(TranslatorTable& t);    // detection.cpp: torchvision nms, roi_align, roi_pool, deform_conv2d

}  // namespace kiln::frontend::pytorch

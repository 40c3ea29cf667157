// Fast f32 kernel of the recurrent ops (ops/recurrent.hpp): LSTMSequence, GRUSequence,
// RNNSequence and the three cells.
//
// The input projection of every time step at once, X [B*T, I] times W^T, is one GEMM per
// direction (oneDNN's sgemm), with the input biases added as it is read. Each step then makes one
// GEMM of the state, h [B, H] times R^T (GRU without linear_before_reset: the z, r part first,
// then (r * h) times Rh^T), and one fused pass over the gates (sigmoid/tanh/relu, clip, the state
// update, the Y write) vectorized with AVX2+FMA when the CPU has it (a plain loop otherwise).
// Sequences of different lengths run together; a row past its length keeps its state.
// Covered: f32 with any activations of the op. Anything else: nullptr (the reference kernel).
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_recurrent_kernel(const Node& node, const KernelShapes& shapes);

// Whether the gate pass is vectorized (AVX2+FMA) on this CPU; `vectorized` false forces the plain
// loop, so tests can compare both with the reference.
KernelPtr make_recurrent_kernel_for(const Node& node, const KernelShapes& shapes, bool vectorized);
bool recurrent_vector_supported();

}  // namespace kiln::cpu

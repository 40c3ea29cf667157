// The instruction sets kiln's own CPU kernels may use: what the CPU has, capped by oneDNN's
// variable ONEDNN_MAX_CPU_ISA (or its older name DNNL_MAX_CPU_ISA) when it is set, so that one
// variable limits oneDNN's primitives and kiln's kernels alike: ONEDNN_MAX_CPU_ISA=AVX2 on an
// AVX-512 machine runs what a CPU with AVX2 only (Zen 3) runs, which the tests and the benchmarks
// use to check and time the AVX2 paths. (OpenVINO's CPU plugin follows ONEDNN_MAX_CPU_ISA too.)
#pragma once

#include <string>

namespace kiln::cpu {

// Ordered: each level includes the ones before it.
enum class IsaLevel { sse2, avx2, avx512, avx512_bf16 };

// The highest level the CPU supports (avx2: AVX2 + FMA + F16C; avx512: F, BW, VL, DQ; avx512_bf16:
// and AVX512_BF16), lowered to the cap.
IsaLevel isa_level();
inline bool isa_at_least(IsaLevel l) { return static_cast<int>(isa_level()) >= static_cast<int>(l); }
inline bool cpu_has_avx2() { return isa_at_least(IsaLevel::avx2); }
inline bool cpu_has_avx512() { return isa_at_least(IsaLevel::avx512); }
inline bool cpu_has_avx512_bf16() { return isa_at_least(IsaLevel::avx512_bf16); }

const char* isa_name(IsaLevel l);
// "avx512_bf16", or "avx2 (ONEDNN_MAX_CPU_ISA=AVX2; the CPU has avx512_bf16)".
std::string isa_summary();

// The cap a ONEDNN_MAX_CPU_ISA value sets (oneDNN's names, any case): SSE41/AVX -> sse2, AVX2* ->
// avx2, AVX512_CORE/_VNNI/MIC -> avx512, AVX512_CORE_BF16 and above, ALL, empty or unknown -> none.
IsaLevel isa_cap_of(const std::string& value);

}  // namespace kiln::cpu

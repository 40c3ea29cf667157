#include "kiln/runtime/cpu/isa.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>

namespace kiln::cpu {

namespace {

IsaLevel cpu_level() {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")))
        return IsaLevel::sse2;
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")))
        return IsaLevel::avx2;
    return __builtin_cpu_supports("avx512bf16") ? IsaLevel::avx512_bf16 : IsaLevel::avx512;
}

// oneDNN's variable, under either of its names (ONEDNN_ first, as oneDNN reads them); "" if unset.
std::pair<std::string, std::string> cap_variable() {
    for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"})
        if (const char* v = std::getenv(name)) return {name, v};
    return {"", ""};
}

}  // namespace

IsaLevel isa_cap_of(const std::string& value) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    auto starts = [&](const char* p) { return v.rfind(p, 0) == 0; };
    if (v == "SSE41" || v == "AVX") return IsaLevel::sse2;
    if (starts("AVX2")) return IsaLevel::avx2;
    if (v == "AVX512_CORE" || v == "AVX512_CORE_VNNI" || starts("AVX512_MIC")) return IsaLevel::avx512;
    return IsaLevel::avx512_bf16;
}

IsaLevel isa_level() {
    // Read once, as oneDNN reads its variable once.
    static const IsaLevel level = std::min(cpu_level(), isa_cap_of(cap_variable().second));
    return level;
}

const char* isa_name(IsaLevel l) {
    switch (l) {
        case IsaLevel::sse2: return "sse2";
        case IsaLevel::avx2: return "avx2";
        case IsaLevel::avx512: return "avx512";
        case IsaLevel::avx512_bf16: return "avx512_bf16";
    }
    return "?";
}

std::string isa_summary() {
    IsaLevel cpu = cpu_level(), used = isa_level();
    std::string s = isa_name(used);
    if (used != cpu) {
        auto [name, value] = cap_variable();
        s += " (" + name + "=" + value + "; the CPU has " + isa_name(cpu) + ")";
    }
    return s;
}

}  // namespace kiln::cpu

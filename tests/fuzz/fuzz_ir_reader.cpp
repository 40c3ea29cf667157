// libFuzzer target over kiln's IR reader: an input is an IR pair, the XML text, the separator
// "\0KILN-BIN\0" and the weights. A read either gives a model, which is then written and read back
// (the writer must take whatever the reader accepts), or fails with kiln::IRError; anything else
// (another exception, a crash, a sanitizer report, an allocation over -malloc_limit_mb sized by the
// file's claims, a hang past -timeout) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "kiln/io/ir.hpp"

namespace {
constexpr char kSep[] = "\0KILN-BIN\0";
constexpr size_t kSepLen = sizeof(kSep) - 1;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view all(reinterpret_cast<const char*>(data), size);
    size_t at = all.find(std::string_view(kSep, kSepLen));
    std::string_view xml = at == std::string_view::npos ? all : all.substr(0, at);
    auto bin = std::make_shared<std::string>(at == std::string_view::npos ? std::string_view() : all.substr(at + kSepLen));
    try {
        auto m = kiln::io::read_model_from_memory(xml, bin->data(), bin->size(), bin, "fuzz.xml");
        auto ir = kiln::io::serialize(*m);
        auto keep = std::make_shared<std::string>(std::move(ir.bin));
        auto again = kiln::io::read_model_from_memory(ir.xml, keep->data(), keep->size(), keep, "again.xml");
        (void)again;
    } catch (const kiln::IRError&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "not an IRError: %s\n", e.what());
        std::abort();
    }
    return 0;
}

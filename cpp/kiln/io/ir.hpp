// OpenVINO IR v11: kiln models written to and read from an XML + BIN pair.
//
// Writing saves the model, never a compiled form: kiln-internal ops are lowered first (Choose
// becomes an If with pass-through bodies; IndexCheck is written as Minimum(indices, size), which is
// the identity on every valid index, so OpenVINO computes the same, with an rt_info attribute
// `kiln_index_check` from which kiln's reader restores the check) and the runtime's fused ops are
// refused. Attributes are written as the specification names them, defaults spelled out; constants
// go to the BIN file once per distinct content, each at a 64-byte aligned offset.
// compress_to_fp16 stores f32 constants of 16 or more elements whose values all fit f16 as f16,
// each followed by a Convert to f32 marked `decompression` (OpenVINO's own form); other constants
// (shape values, scalars, values beyond f16's range) stay exact.
//
// Reading maps the BIN file (it is not read into a copy: constants point into the mapping, which
// lives as long as any of them) and checks everything: every fault ends in an IRError naming the
// file, the layer (id, name, type) and the fault, before anything sized by the file is allocated.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "kiln/core/model.hpp"

namespace kiln::io {

struct SaveOptions {
    bool compress_to_fp16 = false;
};

// The XML text and the weights of a model, in memory.
struct IRPair {
    std::string xml;
    std::string bin;
};

// The IR of a model. Throws IRError for a model that cannot be written (a compiled model's fused
// ops), ValueError for bad options.
IRPair serialize(const Model& model, const SaveOptions& options = {});
// Writes the pair; bin_path empty: xml_path with its extension replaced by ".bin". Throws IRError
// when a file cannot be written.
void save_model(const Model& model, const std::string& xml_path, const std::string& bin_path = "",
                const SaveOptions& options = {});

// Reads a pair from files; bin_path empty: xml_path with ".bin" for its extension. Throws IRError.
std::shared_ptr<Model> read_model(const std::string& xml_path, const std::string& bin_path = "");
// Reads the XML text with weights in memory (`weights`, `size` bytes, kept alive by `owner` for as
// long as the model's constants use it; may be null when size is 0). `what` names the source in
// errors. Throws IRError.
std::shared_ptr<Model> read_model_from_memory(std::string_view xml, const void* weights, size_t size,
                                              std::shared_ptr<const void> owner, const std::string& what = "<memory>");

}  // namespace kiln::io

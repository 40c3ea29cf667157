// IR v11 files: kiln.save_model / kiln.serialize / Core.read_model (the Python side is kiln/ir.py).
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include "common.hpp"
#include "kiln/core/op_factory.hpp"
#include "kiln/io/ir.hpp"
#include "kiln/io/mapped_file.hpp"

namespace kiln::bindings {

namespace {

// Weights given as any object with the buffer protocol (bytes, bytearray, memoryview, a numpy
// array, kiln.Tensor's array): the buffer stays acquired, without a copy, for as long as the
// model's constants point into it.
struct HeldBuffer {
    Py_buffer view{};
    ~HeldBuffer() {
        nb::gil_scoped_acquire gil;
        PyBuffer_Release(&view);
    }
};

std::shared_ptr<Model> read_from_memory(nb::handle xml, nb::handle weights, const std::string& what) {
    std::string text;
    if (nb::isinstance<nb::bytes>(xml)) {
        auto b = nb::borrow<nb::bytes>(xml);
        text.assign(b.c_str(), b.size());
    } else {
        text = nb::cast<std::string>(xml);
    }
    if (weights.is_none()) {
        nb::gil_scoped_release nogil;
        return io::read_model_from_memory(text, nullptr, 0, nullptr, what);
    }
    auto held = std::make_shared<HeldBuffer>();
    if (PyObject_GetBuffer(weights.ptr(), &held->view, PyBUF_C_CONTIGUOUS) != 0) {
        PyErr_Clear();
        // Not yet acquired: nothing to release.
        held->view.obj = nullptr;
        throw TypeError(str_cat("weights: expected bytes, bytearray, memoryview or a contiguous array, got ",
                                nb::cast<std::string>(nb::str(weights.type().attr("__name__")))));
    }
    const void* data = held->view.buf;
    size_t size = static_cast<size_t>(held->view.len);
    nb::gil_scoped_release nogil;
    return io::read_model_from_memory(text, data, size, held, what);
}

}  // namespace

void init_io(nb::module_& m) {
    m.def("_save_model", [](const Model& model, const std::string& xml, const std::string& bin, bool fp16) {
        io::SaveOptions o;
        o.compress_to_fp16 = fp16;
        nb::gil_scoped_release nogil;
        io::save_model(model, xml, bin, o);
    }, "model"_a, "xml_path"_a, "bin_path"_a = "", "compress_to_fp16"_a = false,
          "Writes the model as an IR v11 XML + BIN pair (use kiln.save_model / kiln.serialize).");
    m.def("_serialize", [](const Model& model, bool fp16) {
        io::SaveOptions o;
        o.compress_to_fp16 = fp16;
        io::IRPair p;
        {
            nb::gil_scoped_release nogil;
            p = io::serialize(model, o);
        }
        return nb::make_tuple(nb::str(p.xml.c_str(), p.xml.size()), nb::bytes(p.bin.data(), p.bin.size()));
    }, "model"_a, "compress_to_fp16"_a = false, "The IR v11 of a model in memory: (XML text, weights bytes).");
    m.def("_read_model", [](const std::string& xml, const std::string& bin) {
        nb::gil_scoped_release nogil;
        return io::read_model(xml, bin);
    }, "xml_path"_a, "bin_path"_a = "", "Reads an IR v11 pair from files; the weights file is memory-mapped.");
    m.def("_read_model_text", [](nb::handle xml, const std::string& bin) {
        std::string text = nb::isinstance<nb::bytes>(xml) ? std::string(nb::borrow<nb::bytes>(xml).c_str(),
                                                                         nb::borrow<nb::bytes>(xml).size())
                                                          : nb::cast<std::string>(xml);
        nb::gil_scoped_release nogil;
        if (bin.empty()) return io::read_model_from_memory(text, nullptr, 0, nullptr, "<memory>");
        std::shared_ptr<io::MappedFile> f;
        try {
            f = io::MappedFile::open(bin);
        } catch (const IRError& e) {
            throw IRError(str_cat("<memory>: the weights file is not readable: ", e.what()));
        }
        return io::read_model_from_memory(text, f->data() ? f->data() : reinterpret_cast<const unsigned char*>(""),
                                          f->size(), f, "<memory>");
    }, "xml"_a, "bin_path"_a = "", "Reads IR v11 XML text with the weights file at bin_path (memory-mapped).");
    m.def("_same_graph", [](const Model& a, const Model& b) { return same_graph(a, b); }, "a"_a, "b"_a,
          "True when two graphs have the same nodes, attributes (typed), wiring, shapes and tensor names.");
    m.def("_graph_difference", [](const Model& a, const Model& b) { return graph_difference(a, b); }, "a"_a, "b"_a,
          "The first difference between two graphs that _same_graph would find ('' when the same).");
    m.def("_op_registry", [] {
        nb::list l;
        for (auto& e : op_registry()) l.append(nb::make_tuple(e.type, e.version, e.class_name));
        return l;
    }, "Every (IR type, opset version, C++ class) the op factory makes.");
    m.def("_read_model_from_memory", &read_from_memory, "xml"_a, "weights"_a = nb::none(), "what"_a = "<memory>",
          "Reads IR v11 XML text (str or bytes) with weights from a bytes-like object (not copied).");
}

}  // namespace kiln::bindings

// The CPU runtime: compiled models and infer requests. Inference releases the GIL.
#include <nanobind/stl/array.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "kiln/runtime/cpu/compiled_model.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "port.hpp"

namespace kiln::bindings {

using cpu::CompiledModel;
using cpu::InferRequest;

namespace {

std::vector<Tensor> tensors_from(const CompiledModel& cm, nb::handle arrays) {
    std::vector<Tensor> r;
    size_t i = 0;
    for (auto a : arrays) {
        std::string what = i < cm.num_inputs() ? "input '" + cm.model().input_name(i) + "'" : "input " + std::to_string(i);
        r.push_back(tensor_from_array(a, what.c_str()));
        ++i;
    }
    return r;
}

nb::list to_numpy_list(const std::vector<Tensor>& ts) {
    nb::list l;
    for (auto& t : ts) l.append(tensor_to_numpy(t));
    return l;
}

}  // namespace

void init_runtime(nb::module_& m) {
    // Made through a factory so that the object lives in a shared_ptr (infer requests share it).
    m.def("_compile", [](const Model& model, int threads, size_t cache, Type precision) {
        cpu::CompileConfig c;
        c.num_threads = threads;
        c.plan_cache_size = cache;
        c.inference_precision = precision;
        nb::gil_scoped_release nogil;
        return std::make_shared<CompiledModel>(model, c);
    }, "model"_a, "num_threads"_a = 0, "plan_cache_size"_a = 16, "inference_precision"_a = Type::f32, "Compiles a model for the CPU (use kiln.Core).");
    nb::class_<CompiledModel>(m, "_CompiledModel", "A model compiled for the CPU (use kiln.Core).")
        .def_prop_ro("inputs", [](const CompiledModel& cm) { return model_inputs(cm.model()); }, "Inputs.")
        .def_prop_ro("outputs", [](const CompiledModel& cm) { return model_outputs(cm.model()); }, "Outputs.")
        .def_prop_ro("num_threads", [](const CompiledModel& cm) { return cm.config().num_threads; },
                     "Threads used per inference (0: all cores).")
        .def_prop_ro("inference_precision", [](const CompiledModel& cm) { return cm.config().inference_precision; },
                     "The precision kernels compute in (f32, or bf16 when hinted and the CPU has AVX512_BF16).")
        .def_prop_ro("cached_plans", &CompiledModel::cached_plans, "Shape signatures planned so far.")
        .def("runtime_model", [](const CompiledModel& cm) { return cm.model().clone(); },
             "The graph after compile-time passes.")
        .def("kernel_summary", [](const std::shared_ptr<CompiledModel>& cm, const std::vector<Shape>& shapes) {
            return cm->plan_for(shapes)->kernel_summary();
        }, "input_shapes"_a, "(op type, node name, kernel) of every step of the plan for these input shapes.")
        .def("layout_summary", [](const std::shared_ptr<CompiledModel>& cm, const std::vector<Shape>& shapes) {
            return cm->plan_for(shapes)->layout_summary();
        }, "input_shapes"_a, "(node name, layout of its first output) of every step of the plan for these input shapes.")
        .def("create_infer_request", &CompiledModel::create_infer_request, "A new request with its own memory.");

    nb::class_<InferRequest>(m, "_InferRequest", "One inference at a time, with its own memory.")
        .def("set_input", [](InferRequest& r, size_t i, nb::handle a) {
            auto& cm = r.compiled_model();
            if (i >= cm.num_inputs())
                throw nb::index_error(str_cat("input index ", i, " is out of range (the model has ", cm.num_inputs(),
                                              " inputs)").c_str());
            std::string what = "input '" + cm.model().input_name(i) + "'";
            r.set_input(i, tensor_from_array(a, what.c_str()));
        }, "index"_a, "array"_a, "Sets input i (shares the array's memory).")
        .def("get_input", [](const InferRequest& r, size_t i) { return r.input(i); }, "index"_a, "Input i.")
        .def("get_output", [](const InferRequest& r, size_t i) { return r.output(i); }, "index"_a, "Output i.")
        .def("infer", [](InferRequest& r) {
            nb::gil_scoped_release nogil;
            r.infer();
        }, "Runs inference on the inputs set.")
        .def("infer_arrays", [](InferRequest& r, nb::handle arrays) {
            auto in = tensors_from(r.compiled_model(), arrays);
            for (size_t i = 0; i < in.size(); ++i) r.set_input(i, in[i]);
            {
                nb::gil_scoped_release nogil;
                r.infer();
            }
            return to_numpy_list(r.outputs());
        }, "arrays"_a, "Sets every input from a sequence of arrays, runs, returns the outputs as numpy arrays.")
        .def("outputs_numpy", [](const InferRequest& r) { return to_numpy_list(r.outputs()); },
             "The outputs of the last inference as numpy arrays.");

    m.def("_set_reference_kernels", &cpu::set_reference_only, "on"_a,
          "Run every node with its plain reference kernel (tests compare whole models fast vs reference).");
}

}  // namespace kiln::bindings

// The CPU runtime: compiled models and infer requests. Inference releases the GIL.
// Asynchronous inference runs on each request's C++ worker thread; its callback takes the GIL.
#include <nanobind/stl/array.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <chrono>

#include "common.hpp"
#include "kiln/runtime/cpu/compiled_model.hpp"
#include "kiln/runtime/cpu/isa.hpp"
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

// Whether the interpreter is shutting down: a C++ thread must not take the GIL then.
bool py_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

// A Python callable kept by C++ (copied between threads as a shared_ptr): let go with the GIL.
struct PyCallable {
    nb::object fn;
    explicit PyCallable(nb::object f) : fn(std::move(f)) {}
    ~PyCallable() {
        if (!fn.is_valid()) return;
        if (py_finalizing()) {
            fn.release();  // the interpreter is going: leave it the object
            return;
        }
        nb::gil_scoped_acquire gil;
        fn.reset();
    }
};

cpu::PerformanceHint parse_hint(const std::string& h) {
    if (h == "LATENCY") return cpu::PerformanceHint::latency;
    if (h == "THROUGHPUT") return cpu::PerformanceHint::throughput;
    throw ValueError(str_cat("PERFORMANCE_HINT must be 'LATENCY' or 'THROUGHPUT', got '", h, "'"));
}

}  // namespace

void init_runtime(nb::module_& m) {
    // Made through a factory so that the object lives in a shared_ptr (infer requests share it).
    m.def("_compile", [](const Model& model, int threads, size_t cache, Type precision, bool perf_count,
                         const std::string& hint, int streams) {
        cpu::CompileConfig c;
        c.num_threads = threads;
        c.plan_cache_size = cache;
        c.inference_precision = precision;
        c.perf_count = perf_count;
        c.hint = parse_hint(hint);
        c.num_streams = streams;
        nb::gil_scoped_release nogil;
        return std::make_shared<CompiledModel>(model, c);
    }, "model"_a, "num_threads"_a = 0, "plan_cache_size"_a = 16, "inference_precision"_a = Type::f32,
       "perf_count"_a = false, "performance_hint"_a = "LATENCY", "num_streams"_a = 0,
       "Compiles a model for the CPU (use kiln.Core).");
    m.def("_available_cores", &cpu::available_cores, "Cores this process may run on (its affinity mask).");
    nb::class_<CompiledModel>(m, "_CompiledModel", "A model compiled for the CPU (use kiln.Core).")
        .def_prop_ro("inputs", [](const CompiledModel& cm) { return model_inputs(cm.model()); }, "Inputs.")
        .def_prop_ro("outputs", [](const CompiledModel& cm) { return model_outputs(cm.model()); }, "Outputs.")
        .def_prop_ro("num_threads", [](const CompiledModel& cm) { return cm.config().num_threads; },
                     "Threads used per inference (0: all cores).")
        .def_prop_ro("inference_precision", [](const CompiledModel& cm) { return cm.config().inference_precision; },
                     "The precision kernels compute in (f32, or bf16 when hinted and the CPU has AVX512_BF16).")
        .def_prop_ro("cached_plans", &CompiledModel::cached_plans, "Shape signatures in the plan cache.")
        .def_prop_ro("plans_built", &CompiledModel::plans_built,
                     "Plans built so far (once per shape signature unless evicted and asked for again).")
        .def_prop_ro("num_streams", [](const CompiledModel& cm) { return cm.config().num_streams; },
                     "Inferences run at once, each with threads_per_stream threads.")
        .def_prop_ro("threads_per_stream", &CompiledModel::threads_per_stream,
                     "OpenMP threads of one inference (0: the calling thread's count).")
        .def_prop_ro("optimal_number_of_infer_requests", &CompiledModel::optimal_number_of_infer_requests,
                     "Requests to keep in flight: one per stream.")
        .def_prop_ro("perf_count", [](const CompiledModel& cm) { return cm.config().perf_count; },
                     "Whether requests record the time of every step (PERF_COUNT).")
        .def_prop_ro("performance_hint", [](const CompiledModel& cm) {
            return std::string(cm.config().hint == cpu::PerformanceHint::throughput ? "THROUGHPUT" : "LATENCY");
        }, "LATENCY or THROUGHPUT.")
        .def("runtime_model", [](const CompiledModel& cm) { return cm.model().clone(); },
             "The graph after compile-time passes.")
        .def("kernel_summary", [](const std::shared_ptr<CompiledModel>& cm, const std::vector<Shape>& shapes) {
            std::shared_ptr<const cpu::Plan> plan;
            {
                nb::gil_scoped_release nogil;  // another thread may be building this plan
                cpu::ThreadCountScope threads(cm->threads_per_stream());
                plan = cm->plan_for(shapes);
            }
            return plan->kernel_summary();
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
             "The outputs of the last inference as numpy arrays.")
        .def("start_async", &InferRequest::start_async,
             "Starts an inference on the inputs set, on the request's worker thread.")
        .def("wait", [](InferRequest& r) {
            nb::gil_scoped_release nogil;
            r.wait();
        }, "Waits for the asynchronous inference (and its callback); raises its error if it failed.")
        .def("wait_for", [](InferRequest& r, int64_t ms) {
            nb::gil_scoped_release nogil;
            return r.wait_for(std::chrono::milliseconds(std::max<int64_t>(ms, 0)));
        }, "timeout_ms"_a, "Like wait() for at most timeout_ms: True when done.")
        .def("take_error", &InferRequest::take_error,
             "Raises (and forgets) the error of the last asynchronous inference, if it failed.")
        .def_prop_ro("busy", &InferRequest::busy, "Whether an asynchronous inference is running.")
        .def("set_callback", [](InferRequest& r, nb::object fn) {
            if (fn.is_none()) {
                r.set_callback(nullptr);
                return;
            }
            auto holder = std::make_shared<PyCallable>(std::move(fn));
            r.set_callback([holder](std::exception_ptr error) {
                if (py_finalizing()) return;
                nb::gil_scoped_acquire gil;
                try {
                    holder->fn(error == nullptr);
                } catch (nb::python_error& e) {
                    e.discard_as_unraisable(holder->fn);
                }
            });
        }, "fn"_a.none(), "fn(ok: bool), called on the worker thread (with the GIL) after each asynchronous "
                          "inference; None removes it.")
        .def("profiling_info", [](const InferRequest& r) {
            std::vector<std::tuple<std::string, std::string, std::string, std::string, std::string, double>> l;
            for (auto& p : r.profiling_info())
                l.emplace_back(p.node_name, p.node_type, p.kernel, p.layout, p.detail, p.real_us);
            return l;
        }, "(node name, node type, kernel, layout, detail, microseconds) of every step of the last inference "
           "(empty without PERF_COUNT).");

    m.def("_set_reference_kernels", &cpu::set_reference_only, "on"_a,
          "Run every node with its plain reference kernel (tests compare whole models fast vs reference).");
    m.def("_cpu_isa", &cpu::isa_summary,
          "The instruction set kiln's CPU kernels use: the CPU's, capped by DNNL_MAX_CPU_ISA when set.");
}

}  // namespace kiln::bindings

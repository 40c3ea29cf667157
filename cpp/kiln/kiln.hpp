// kiln's C++ API: read an IR v11 model (kiln's or OpenVINO's), compile it for the CPU, run it.
// No Python is involved. Every error is a kiln::Error (IRError for a bad file, ValueError /
// TypeError for bad inputs), thrown as an exception with a message that says what was expected.
//
//   kiln::Core core;
//   kiln::CompiledModel compiled = core.compile_model("model.xml");       // model.bin beside it
//   kiln::InferRequest request = compiled.create_infer_request();
//   request.set_input("x", kiln::Tensor(kiln::Type::f32, {1, 3, 224, 224}));  // or by index
//   request.infer();
//   const kiln::Tensor& y = request.output(0);                            // or by name
//
// A CompiledModel may be shared by many threads, each with its own InferRequest; one request runs
// one inference at a time. Input tensors are used without a copy and must stay unchanged until
// infer() returns; an output tensor is valid until the request's next infer().
//
// Config keys (OpenVINO's): INFERENCE_NUM_THREADS, PLAN_CACHE_SIZE, INFERENCE_PRECISION_HINT
// (f32 | bf16; bf16 only where the CPU has AVX512_BF16), PERFORMANCE_HINT (LATENCY | THROUGHPUT),
// NUM_STREAMS (a number or AUTO), PERF_COUNT (YES | NO): the same as in Python.
#pragma once
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/error.hpp"
#include "kiln/core/model.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln {

namespace cpu {
class CompiledModel;
class InferRequest;
}  // namespace cpu

// An input or output of a model: its position, names (the first is `name`), type and shape.
struct PortInfo {
    size_t index = 0;
    std::string name;
    std::vector<std::string> names;
    Type type = Type::dynamic;
    PartialShape shape;
};

// One step of the last inference of a request compiled with PERF_COUNT=YES, as OpenVINO's
// ProfilingInfo: the node, the kernel that ran it (exec_type, e.g. "onednn_conv"), its layout,
// the oneDNN implementation where one ran ("brgconv:avx512_core"), and its wall time.
struct ProfilingInfo {
    std::string node_name, node_type, exec_type, layout, detail;
    double real_time_us = 0;
};

class InferRequest {
public:
    // Sets an input (shared, not copied). Throws Error for an index or name the model does not have.
    void set_input(size_t index, Tensor tensor);
    void set_input(const std::string& name, Tensor tensor);
    const Tensor& input(size_t index) const;
    const Tensor& input(const std::string& name) const;
    // Runs on the inputs set. Throws ValueError / TypeError naming an input that is missing or of a
    // wrong rank, shape or type, and Error when a kernel fails.
    void infer();
    // The outputs of the last infer(). Throws Error before the first one, or for an unknown output.
    const Tensor& output(size_t index) const;
    const Tensor& output(const std::string& name) const;
    size_t num_inputs() const;
    size_t num_outputs() const;

    // Asynchronous inference: start_async() returns at once; wait() blocks until it is done and
    // rethrows its error; wait_for() gives up after `timeout` (true when done). The callback, if
    // set, runs on the worker thread when an inference ends (with its error, or null).
    void start_async();
    void wait();
    bool wait_for(std::chrono::milliseconds timeout);
    void set_callback(std::function<void(std::exception_ptr)> callback);
    // The steps of the last inference (empty unless compiled with PERF_COUNT=YES).
    std::vector<ProfilingInfo> profiling_info() const;

private:
    friend class CompiledModel;
    explicit InferRequest(std::shared_ptr<cpu::CompiledModel> cm);
    size_t input_index(const std::string& name) const;
    size_t output_index(const std::string& name) const;
    std::shared_ptr<cpu::CompiledModel> cm_;
    std::shared_ptr<cpu::InferRequest> req_;
};

class CompiledModel {
public:
    std::vector<PortInfo> inputs() const;
    std::vector<PortInfo> outputs() const;
    InferRequest create_infer_request() const;
    // OPTIMAL_NUMBER_OF_INFER_REQUESTS, NUM_STREAMS, PERFORMANCE_HINT, INFERENCE_NUM_THREADS,
    // INFERENCE_PRECISION_HINT (the precision in force), PERF_COUNT, PLAN_CACHE_SIZE, as text.
    // Throws Error naming the known properties for another name.
    std::string get_property(const std::string& name) const;

private:
    friend class Core;
    explicit CompiledModel(std::shared_ptr<cpu::CompiledModel> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<cpu::CompiledModel> impl_;
};

// Compile options, as OpenVINO names them: "INFERENCE_NUM_THREADS" (0: every core) and
// "PLAN_CACHE_SIZE" (input-shape signatures kept planned, default 16).
using Config = std::map<std::string, std::string>;

class Core {
public:
    // IR v11 from files; bin_path empty: the .bin beside the XML (memory-mapped). Throws IRError.
    std::shared_ptr<Model> read_model(const std::string& xml_path, const std::string& bin_path = "") const;
    // IR v11 text with its weights in memory (not copied: `weights` must outlive the model's use of
    // it, which the shared_ptr ensures). Throws IRError.
    std::shared_ptr<Model> read_model_from_memory(const std::string& xml, std::shared_ptr<const std::string> weights) const;
    // Throws Error for a device other than "CPU" or an unknown config key.
    CompiledModel compile_model(const std::shared_ptr<Model>& model, const std::string& device = "CPU",
                                const Config& config = {}) const;
    CompiledModel compile_model(const std::string& xml_path, const std::string& device = "CPU",
                                const Config& config = {}) const;
    // Writes the IR v11 pair (xml_path and the .bin beside it). Throws IRError.
    void save_model(const std::shared_ptr<Model>& model, const std::string& xml_path, bool compress_to_fp16 = false) const;
    std::vector<std::string> available_devices() const { return {"CPU"}; }
};

}  // namespace kiln

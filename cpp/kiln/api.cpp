#include "kiln/kiln.hpp"

#include <cctype>

#include "kiln/io/ir.hpp"
#include "kiln/runtime/cpu/compiled_model.hpp"

namespace kiln {

namespace {

std::vector<PortInfo> ports(const Model& m, bool inputs) {
    std::vector<PortInfo> r;
    size_t n = inputs ? m.parameters().size() : m.results().size();
    for (size_t i = 0; i < n; ++i) {
        PortInfo p;
        p.index = i;
        if (inputs) {
            auto& param = *m.parameters()[i];
            p.names = param.output_names(0);
            if (p.names.empty()) p.names.push_back(m.input_name(i));
            p.type = param.output_type(0);
            p.shape = param.output_shape(0);
        } else {
            auto& res = *m.results()[i];
            p.names = m.output_names(i);
            p.type = res.output_type(0);
            p.shape = res.output_shape(0);
        }
        p.name = p.names.at(0);
        r.push_back(std::move(p));
    }
    return r;
}

std::string known(const std::vector<PortInfo>& ps) {
    std::string s;
    for (auto& p : ps) s += (s.empty() ? "'" : ", '") + p.name + "'";
    return s;
}

int64_t parse_config_int(const std::string& key, const std::string& v) {
    try {
        size_t used = 0;
        long long x = std::stoll(v, &used);
        if (used == v.size() && x >= 0) return x;
    } catch (const std::exception&) {
    }
    throw ValueError(str_cat("config ", key, " must be a non-negative integer, got '", v, "'"));
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool parse_config_flag(const std::string& key, const std::string& v) {
    const std::string u = upper(v);
    if (u == "YES" || u == "TRUE" || u == "1") return true;
    if (u == "NO" || u == "FALSE" || u == "0") return false;
    throw ValueError(str_cat("config ", key, " must be YES or NO, got '", v, "'"));
}

constexpr const char* kConfigKeys =
    "INFERENCE_NUM_THREADS, PLAN_CACHE_SIZE, INFERENCE_PRECISION_HINT, PERFORMANCE_HINT, NUM_STREAMS, PERF_COUNT";

cpu::CompileConfig parse_config(const Config& config) {
    cpu::CompileConfig c;
    for (auto& [k, v] : config) {
        if (k == "INFERENCE_NUM_THREADS") {
            c.num_threads = static_cast<int>(parse_config_int(k, v));
        } else if (k == "PLAN_CACHE_SIZE") {
            c.plan_cache_size = static_cast<size_t>(parse_config_int(k, v));
        } else if (k == "INFERENCE_PRECISION_HINT") {
            const std::string u = upper(v);
            if (u == "F32" || u == "FP32") c.inference_precision = Type::f32;
            else if (u == "BF16") c.inference_precision = Type::bf16;
            else throw ValueError(str_cat("config INFERENCE_PRECISION_HINT must be f32 or bf16, got '", v, "'"));
        } else if (k == "PERFORMANCE_HINT") {
            const std::string u = upper(v);
            if (u == "LATENCY") c.hint = cpu::PerformanceHint::latency;
            else if (u == "THROUGHPUT") c.hint = cpu::PerformanceHint::throughput;
            else throw ValueError(str_cat("config PERFORMANCE_HINT must be LATENCY or THROUGHPUT, got '", v, "'"));
        } else if (k == "NUM_STREAMS") {
            if (upper(v) == "AUTO") c.num_streams = 0;
            else if ((c.num_streams = static_cast<int>(parse_config_int(k, v))) == 0)
                throw ValueError("config NUM_STREAMS must be a positive integer or AUTO, got '0'");
        } else if (k == "PERF_COUNT") {
            c.perf_count = parse_config_flag(k, v);
        } else {
            throw Error(str_cat("unknown config key '", k, "'; kiln takes ", kConfigKeys));
        }
    }
    return c;
}

}  // namespace

InferRequest::InferRequest(std::shared_ptr<cpu::CompiledModel> cm)
    : cm_(std::move(cm)), req_(cm_->create_infer_request()) {}

size_t InferRequest::num_inputs() const { return cm_->num_inputs(); }
size_t InferRequest::num_outputs() const { return cm_->num_outputs(); }

size_t InferRequest::input_index(const std::string& name) const {
    int64_t i = cm_->model().input_index(name);
    if (i < 0) throw Error(str_cat("no input named '", name, "'; the model has: ", known(ports(cm_->model(), true))));
    return static_cast<size_t>(i);
}

size_t InferRequest::output_index(const std::string& name) const {
    int64_t i = cm_->model().output_index(name);
    if (i < 0) throw Error(str_cat("no output named '", name, "'; the model has: ", known(ports(cm_->model(), false))));
    return static_cast<size_t>(i);
}

void InferRequest::set_input(size_t index, Tensor tensor) {
    if (index >= num_inputs())
        throw Error(str_cat("input index ", index, " is out of range (the model has ", num_inputs(), " inputs)"));
    req_->set_input(index, std::move(tensor));
}
void InferRequest::set_input(const std::string& name, Tensor tensor) { set_input(input_index(name), std::move(tensor)); }

const Tensor& InferRequest::input(size_t index) const {
    if (index >= num_inputs())
        throw Error(str_cat("input index ", index, " is out of range (the model has ", num_inputs(), " inputs)"));
    try {
        return req_->input(index);
    } catch (const std::out_of_range&) {
        throw Error(str_cat("input ", index, " has not been set"));
    }
}
const Tensor& InferRequest::input(const std::string& name) const { return input(input_index(name)); }

void InferRequest::infer() { req_->infer(); }
void InferRequest::start_async() { req_->start_async(); }
void InferRequest::wait() { req_->wait(); }
bool InferRequest::wait_for(std::chrono::milliseconds timeout) { return req_->wait_for(timeout); }
void InferRequest::set_callback(std::function<void(std::exception_ptr)> callback) {
    req_->set_callback(std::move(callback));
}

std::vector<ProfilingInfo> InferRequest::profiling_info() const {
    std::vector<ProfilingInfo> r;
    for (auto& s : req_->profiling_info())
        r.push_back(ProfilingInfo{s.node_name, s.node_type, s.kernel, s.layout, s.detail, s.real_us});
    return r;
}

const Tensor& InferRequest::output(size_t index) const {
    if (index >= num_outputs())
        throw Error(str_cat("output index ", index, " is out of range (the model has ", num_outputs(), " outputs)"));
    return req_->output(index);
}
const Tensor& InferRequest::output(const std::string& name) const { return output(output_index(name)); }

std::vector<PortInfo> CompiledModel::inputs() const { return ports(impl_->model(), true); }
std::vector<PortInfo> CompiledModel::outputs() const { return ports(impl_->model(), false); }
InferRequest CompiledModel::create_infer_request() const { return InferRequest(impl_); }

std::string CompiledModel::get_property(const std::string& name) const {
    const cpu::CompileConfig& c = impl_->config();
    if (name == "OPTIMAL_NUMBER_OF_INFER_REQUESTS") return std::to_string(impl_->optimal_number_of_infer_requests());
    if (name == "NUM_STREAMS") return std::to_string(c.num_streams);
    if (name == "PERFORMANCE_HINT") return c.hint == cpu::PerformanceHint::throughput ? "THROUGHPUT" : "LATENCY";
    if (name == "INFERENCE_NUM_THREADS") return std::to_string(c.num_threads > 0 ? c.num_threads : cpu::available_cores());
    if (name == "INFERENCE_PRECISION_HINT") return type_name(c.inference_precision);
    if (name == "PERF_COUNT") return c.perf_count ? "YES" : "NO";
    if (name == "PLAN_CACHE_SIZE") return std::to_string(c.plan_cache_size);
    throw Error(str_cat("unknown property '", name, "'; kiln's compiled model has OPTIMAL_NUMBER_OF_INFER_REQUESTS, ",
                        "NUM_STREAMS, PERFORMANCE_HINT, INFERENCE_NUM_THREADS, INFERENCE_PRECISION_HINT, PERF_COUNT, ",
                        "PLAN_CACHE_SIZE"));
}

std::shared_ptr<Model> Core::read_model(const std::string& xml_path, const std::string& bin_path) const {
    return io::read_model(xml_path, bin_path);
}

std::shared_ptr<Model> Core::read_model_from_memory(const std::string& xml, std::shared_ptr<const std::string> weights) const {
    if (!weights) return io::read_model_from_memory(xml, nullptr, 0, nullptr);
    const void* data = weights->data();
    size_t size = weights->size();
    return io::read_model_from_memory(xml, data, size, std::move(weights));
}

CompiledModel Core::compile_model(const std::shared_ptr<Model>& model, const std::string& device,
                                  const Config& config) const {
    if (device != "CPU") throw Error(str_cat("kiln has one device, 'CPU'; got '", device, "'"));
    if (!model) throw Error("compile_model: the model is null");
    return CompiledModel(std::make_shared<cpu::CompiledModel>(*model, parse_config(config)));
}

CompiledModel Core::compile_model(const std::string& xml_path, const std::string& device, const Config& config) const {
    return compile_model(read_model(xml_path), device, config);
}

void Core::save_model(const std::shared_ptr<Model>& model, const std::string& xml_path, bool compress_to_fp16) const {
    if (!model) throw Error("save_model: the model is null");
    io::SaveOptions o;
    o.compress_to_fp16 = compress_to_fp16;
    io::save_model(*model, xml_path, "", o);
}

}  // namespace kiln

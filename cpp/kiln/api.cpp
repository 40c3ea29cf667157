#include "kiln/kiln.hpp"

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

const Tensor& InferRequest::output(size_t index) const {
    if (index >= num_outputs())
        throw Error(str_cat("output index ", index, " is out of range (the model has ", num_outputs(), " outputs)"));
    return req_->output(index);
}
const Tensor& InferRequest::output(const std::string& name) const { return output(output_index(name)); }

std::vector<PortInfo> CompiledModel::inputs() const { return ports(impl_->model(), true); }
std::vector<PortInfo> CompiledModel::outputs() const { return ports(impl_->model(), false); }
InferRequest CompiledModel::create_infer_request() const { return InferRequest(impl_); }

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
    cpu::CompileConfig c;
    for (auto& [k, v] : config) {
        if (k == "INFERENCE_NUM_THREADS") c.num_threads = static_cast<int>(parse_config_int(k, v));
        else if (k == "PLAN_CACHE_SIZE") c.plan_cache_size = static_cast<size_t>(parse_config_int(k, v));
        else throw Error(str_cat("unknown config key '", k, "'; kiln takes INFERENCE_NUM_THREADS and PLAN_CACHE_SIZE"));
    }
    return CompiledModel(std::make_shared<cpu::CompiledModel>(*model, c));
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

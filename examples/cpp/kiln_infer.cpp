// kiln_infer: reads an IR v11 pair (kiln's or OpenVINO's), compiles it for the CPU, fills every
// input with a fixed pattern, runs once and prints every output. No Python is involved.
//
//   kiln_infer model.xml [--bin weights.bin] [--shape name=1,3,224,224 ...] [--threads N] [--all]
//              [--config KEY=VALUE ...] [--async] [--profile]
//
// --config passes any compile config key (PERFORMANCE_HINT=THROUGHPUT, INFERENCE_PRECISION_HINT=bf16,
// ...); --async runs the inference with start_async() and a callback, then wait(); --profile
// compiles with PERF_COUNT=YES and prints each step's profile to stderr, one line a step:
// "profile <node> <type> <kernel> <layout> <microseconds> <detail>".
//
// An input's dynamic dimensions must be given with --shape (static ones may be left out). Input
// element i holds ((i * 37) % 101) / 50 - 1 for floating types, i % 2 for integers (valid token
// ids, masks and segment ids alike) and i % 3 != 0 for booleans. Each output prints as "output <index> <name> <type> [shape]" followed by
// its values, 16 of them or all with --all, each as "%.9g" (exact for f32).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "kiln/kiln.hpp"

namespace {

int usage() {
    std::cerr << "usage: kiln_infer model.xml [--bin weights.bin] [--shape name=1,3,224,224 ...] [--threads N] [--all]\n"
                 "                  [--config KEY=VALUE ...] [--async] [--profile]\n";
    return 2;
}

kiln::Shape parse_shape(const std::string& s) {
    kiln::Shape r;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) r.push_back(std::stoll(item));
    return r;
}

kiln::Tensor filled(kiln::Type t, const kiln::Shape& shape) {
    kiln::Tensor x(t, shape);
    const int64_t n = x.size();
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        if (kiln::is_float(t)) v[static_cast<size_t>(i)] = static_cast<double>((i * 37) % 101) / 50.0 - 1.0;
        else if (t == kiln::Type::boolean) v[static_cast<size_t>(i)] = i % 3 != 0;
        else v[static_cast<size_t>(i)] = static_cast<double>(i % 2);
    }
    kiln::convert_elements(v.data(), kiln::Type::f64, x.data(), t, v.size());
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string xml = argv[1], bin;
    std::map<std::string, kiln::Shape> shapes;
    kiln::Config config;
    bool all = false, async = false, profile = false;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--bin" && i + 1 < argc) bin = argv[++i];
        else if (a == "--threads" && i + 1 < argc) config["INFERENCE_NUM_THREADS"] = argv[++i];
        else if (a == "--all") all = true;
        else if (a == "--async") async = true;
        else if (a == "--profile") profile = true;
        else if (a == "--config" && i + 1 < argc) {
            std::string s = argv[++i];
            auto eq = s.find('=');
            if (eq == std::string::npos) return usage();
            config[s.substr(0, eq)] = s.substr(eq + 1);
        }
        else if (a == "--shape" && i + 1 < argc) {
            std::string s = argv[++i];
            auto eq = s.find('=');
            if (eq == std::string::npos) return usage();
            shapes[s.substr(0, eq)] = parse_shape(s.substr(eq + 1));
        } else {
            return usage();
        }
    }
    try {
        kiln::Core core;
        auto model = core.read_model(xml, bin);
        if (profile) config["PERF_COUNT"] = "YES";
        auto compiled = core.compile_model(model, "CPU", config);
        auto request = compiled.create_infer_request();
        for (auto& in : compiled.inputs()) {
            kiln::Shape s;
            auto it = shapes.find(in.name);
            if (it != shapes.end()) {
                s = it->second;
            } else if (in.shape.is_static()) {
                s = in.shape.to_shape();
            } else {
                std::cerr << "kiln_infer: input '" << in.name << "' has shape " << in.shape.to_string()
                          << ": give it with --shape " << in.name << "=...\n";
                return 2;
            }
            request.set_input(in.name, filled(in.type, s));
        }
        if (async) {
            bool called = false;
            request.set_callback([&called](std::exception_ptr) { called = true; });
            request.start_async();
            request.wait();
            if (!called) throw kiln::Error("the callback did not run");
            std::fprintf(stderr, "async: done, %s streams, %s requests\n", compiled.get_property("NUM_STREAMS").c_str(),
                         compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS").c_str());
        } else {
            request.infer();
        }
        for (auto& p : request.profiling_info())
            std::fprintf(stderr, "profile %s %s %s %s %.3f %s\n", p.node_name.c_str(), p.node_type.c_str(),
                         p.exec_type.c_str(), p.layout.c_str(), p.real_time_us, p.detail.c_str());
        for (auto& out : compiled.outputs()) {
            const kiln::Tensor& y = request.output(out.index);
            std::printf("output %zu %s %s %s\n", out.index, out.name.c_str(), kiln::type_name(y.type()),
                        kiln::to_string(y.shape()).c_str());
            kiln::Tensor d(kiln::Type::f64, y.shape());
            kiln::convert_elements(y.data(), y.type(), d.data(), kiln::Type::f64, static_cast<size_t>(y.size()));
            int64_t n = all ? y.size() : std::min<int64_t>(y.size(), 16);
            for (int64_t i = 0; i < n; ++i) std::printf("%.9g\n", d.data<double>()[i]);
        }
    } catch (const kiln::Error& e) {
        std::cerr << "kiln_infer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

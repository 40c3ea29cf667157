#include "kiln/runtime/cpu/kernels/profile.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace kiln::cpu {

namespace {

struct Entry {
    double ms = 0;
    long calls = 0;
};

struct Table {
    std::mutex mutex;
    std::map<std::string, Entry> entries;
    ~Table() {
        std::vector<std::pair<std::string, Entry>> v(entries.begin(), entries.end());
        if (v.empty()) return;
        std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second.ms > b.second.ms; });
        double total = 0;
        for (auto& e : v) total += e.second.ms;
        std::fprintf(stderr, "kiln profile: %.1f ms in kernels\n", total);
        for (auto& [k, e] : v)
            std::fprintf(stderr, "%9.2f ms %5.1f%% %7ld calls  %s\n", e.ms, 100 * e.ms / total, e.calls, k.c_str());
    }
};

Table& table() {
    static Table t;
    return t;
}

class ProfiledKernel : public Kernel {
public:
    ProfiledKernel(KernelPtr k, std::string key) : k_(std::move(k)), key_(std::move(key)) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto t0 = std::chrono::steady_clock::now();
        k_->execute(in, out);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard<std::mutex> g(table().mutex);
        auto& e = table().entries[key_];
        e.ms += ms;
        ++e.calls;
    }
    const char* name() const override { return k_->name(); }

private:
    KernelPtr k_;
    std::string key_;
};

}  // namespace

bool profiling_enabled() {
    static const bool on = [] {
        const char* v = std::getenv("KILN_PROFILE");
        return v && *v && std::strcmp(v, "0") != 0;
    }();
    return on;
}

KernelPtr profiled(KernelPtr k, const Node& node, const KernelShapes& shapes) {
    if (!profiling_enabled()) return k;
    std::string key = str_cat(node.type_name(), " [", k->name(), "]");
    for (auto& d : shapes.inputs) key += " " + d.shape.to_string();
    table();  // constructed before any kernel runs, so destroyed after
    return std::make_unique<ProfiledKernel>(std::move(k), std::move(key));
}

}  // namespace kiln::cpu

#include "kiln/ops/random.hpp"

#include <cmath>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

void RandomUniform::visit_attributes(AttributeVisitor& v) {
    v.on("output_type", output_type);
    v.on("global_seed", global_seed);
    v.on("op_seed", op_seed);
}

void RandomUniform::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    check_integral(ctx, 0, "shape");
    KILN_INFER_CHECK(ctx, output_type == Type::f32 || output_type == Type::f64 || output_type == Type::i32 ||
                              output_type == Type::i64,
                     "output_type must be f32, f64, i32 or i64, got ", kiln::type_name(output_type));
    for (size_t i : {1, 2}) {
        Type t = ctx.input_type(i);
        KILN_INFER_CHECK(ctx, t == Type::dynamic || t == output_type, i == 1 ? "min" : "max", " is ",
                         kiln::type_name(t), ", expected ", kiln::type_name(output_type));
    }
    auto& s = ctx.input_shape(0);
    KILN_INFER_CHECK(ctx, s.rank_is_dynamic() || s.rank() == 1, "shape must be 1-D, got ", s.to_string());
    if (auto v = known_ints(ctx, 0)) {
        ctx.set_output(0, output_type, PartialShape(*v));
    } else if (s.rank_is_static() && s[0].is_static()) {
        ctx.set_output(0, output_type, PartialShape::dynamic(s[0].get_length()));
    } else {
        ctx.set_output(0, output_type, PartialShape());
    }
}

void RandomUniform::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    uint64_t run = runs_->fetch_add(1);
    uint64_t key = splitmix64(splitmix64(static_cast<uint64_t>(global_seed)) ^ static_cast<uint64_t>(op_seed) * 0x632BE59BD9B4E019ull);
    key = splitmix64(key ^ run * 0xD1B54A32D192ED03ull);
    double lo = in[1].as_f64_vector().at(0), hi = in[2].as_f64_vector().at(0);
    if (!(lo < hi))
        throw ValueError(str_cat("[RandomUniform ", name(), "] min ", lo, " must be below max ", hi));
    int64_t n = out[0].size();
    visit_type(output_type, [&](auto tag) {
        using T = decltype(tag);
        T* o = out[0].data<T>();
        for (int64_t i = 0; i < n; ++i) {
            uint64_t bits = splitmix64(key + static_cast<uint64_t>(i));
            if constexpr (std::is_floating_point_v<T>) {
                // 53 (or 24) random bits: u in [0, 1).
                double u = std::is_same_v<T, float> ? static_cast<double>(bits >> 40) * 0x1.0p-24
                                                    : static_cast<double>(bits >> 11) * 0x1.0p-53;
                T v = static_cast<T>(lo + (hi - lo) * u);
                o[i] = v < static_cast<T>(hi) ? v : static_cast<T>(lo);
            } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                auto ilo = in[1].as_i64_vector().at(0), ihi = in[2].as_i64_vector().at(0);
                auto range = static_cast<uint64_t>(ihi - ilo);
                o[i] = static_cast<T>(ilo + static_cast<int64_t>(bits % range));
            }
        }
    });
}

}  // namespace kiln::op

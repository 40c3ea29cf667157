#include "kiln/runtime/cpu/kernels/movement.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "kiln/ops/data_movement.hpp"

namespace kiln::cpu {

namespace {

// Below this many bytes a copy stays on one thread: waking the pool costs more than it saves.
constexpr int64_t kParallelBytes = int64_t{1} << 16;

struct Dim {
    int64_t n, s, d;  // size, source stride, destination stride (elements)
};

// Drops size-1 dims and merges dims that are contiguous in both source and destination.
// Returns false when there is nothing to copy.
bool simplify(std::vector<Dim>& dims) {
    std::vector<Dim> r;
    for (auto& x : dims) {
        if (x.n == 0) return false;
        if (x.n == 1) continue;
        if (!r.empty() && r.back().s == x.s * x.n && r.back().d == x.d * x.n) {
            r.back() = {r.back().n * x.n, x.s, x.d};
            continue;
        }
        r.push_back(x);
    }
    dims.swap(r);
    return true;
}

// Calls f(src_offset, dst_offset) for every index of the outer dims, split over threads when
// `parallel`. Each thread decomposes its first index once and then steps an odometer.
template <typename F>
void for_each_outer(const std::vector<Dim>& outer, bool parallel, F&& f) {
    int64_t total = 1;
    for (auto& x : outer) total *= x.n;
    auto run = [&](int64_t lo, int64_t hi) {
        if (lo >= hi) return;
        size_t r = outer.size();
        std::vector<int64_t> idx(r);
        int64_t so = 0, dof = 0, rem = lo;
        for (size_t k = r; k-- > 0;) {
            idx[k] = rem % outer[k].n;
            rem /= outer[k].n;
            so += idx[k] * outer[k].s;
            dof += idx[k] * outer[k].d;
        }
        for (int64_t i = lo; i < hi; ++i) {
            f(so, dof);
            for (size_t k = r; k-- > 0;) {
                so += outer[k].s;
                dof += outer[k].d;
                if (++idx[k] < outer[k].n) break;
                so -= outer[k].s * outer[k].n;
                dof -= outer[k].d * outer[k].n;
                idx[k] = 0;
            }
        }
    };
    if (!parallel || total < 2) {
        run(0, total);
        return;
    }
#pragma omp parallel
    {
        int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t chunk = (total + nt - 1) / nt;
        run(t * chunk, std::min(total, (t + 1) * chunk));
    }
}

template <typename T>
void copy_typed(const uint8_t* src, uint8_t* dst, std::vector<Dim> dims, bool parallel) {
    auto s = reinterpret_cast<const T*>(src);
    auto d = reinterpret_cast<T*>(dst);
    if (dims.empty()) {
        *d = *s;
        return;
    }
    Dim in = dims.back();
    dims.pop_back();
    if (in.s == 1 && in.d == 1) {
        size_t bytes = static_cast<size_t>(in.n) * sizeof(T);
        for_each_outer(dims, parallel, [&](int64_t so, int64_t dof) { std::memcpy(d + dof, s + so, bytes); });
        return;
    }
    if (in.s == 0) {
        for_each_outer(dims, parallel, [&](int64_t so, int64_t dof) {
            T v = s[so];
            T* o = d + dof;
            for (int64_t j = 0; j < in.n; ++j) o[j * in.d] = v;
        });
        return;
    }
    // A transpose: the destination's inner dim walks the source with a stride, and another dim is
    // contiguous in the source. Copy in square tiles so both sides stay in cache.
    if (in.d == 1) {
        auto k = std::find_if(dims.begin(), dims.end(), [](const Dim& x) { return x.s == 1; });
        if (k != dims.end()) {
            Dim kd = *k;
            dims.erase(k);
            constexpr int64_t B = 64 / sizeof(T) < 8 ? 8 : 64 / sizeof(T);
            int64_t kb = (kd.n + B - 1) / B;
            int64_t total = 1;
            for (auto& x : dims) total *= x.n;
            int64_t jobs = total * kb;
            // One job = one band of B rows of the source-contiguous dim under one outer index.
            auto job = [&](int64_t i) {
                int64_t row = i % kb, rem = i / kb, so = 0, dof = 0;
                for (size_t q = dims.size(); q-- > 0;) {
                    int64_t id = rem % dims[q].n;
                    rem /= dims[q].n;
                    so += id * dims[q].s;
                    dof += id * dims[q].d;
                }
                int64_t k0 = row * B, k1 = std::min(kd.n, k0 + B);
                for (int64_t j0 = 0; j0 < in.n; j0 += B) {
                    int64_t j1 = std::min(in.n, j0 + B);
                    for (int64_t kk = k0; kk < k1; ++kk) {
                        const T* sp = s + so + kk * kd.s;
                        T* dp = d + dof + kk * kd.d;
                        for (int64_t j = j0; j < j1; ++j) dp[j] = sp[j * in.s];
                    }
                }
            };
#pragma omp parallel for schedule(static) if (parallel && jobs > 1)
            for (int64_t i = 0; i < jobs; ++i) job(i);
            return;
        }
    }
    for_each_outer(dims, parallel, [&](int64_t so, int64_t dof) {
        const T* sp = s + so;
        T* dp = d + dof;
        for (int64_t j = 0; j < in.n; ++j) dp[j * in.d] = sp[j * in.s];
    });
}

// Copies src (strided) into dst (strided); pointers are already at the first element.
void strided_copy(const void* src, void* dst, std::vector<Dim> dims, size_t es) {
    int64_t total = 1;
    for (auto& x : dims) total *= x.n;
    if (!simplify(dims)) return;
    bool parallel = total * static_cast<int64_t>(es) >= kParallelBytes;
    auto s = static_cast<const uint8_t*>(src);
    auto d = static_cast<uint8_t*>(dst);
    switch (es) {
        case 1: return copy_typed<uint8_t>(s, d, std::move(dims), parallel);
        case 2: return copy_typed<uint16_t>(s, d, std::move(dims), parallel);
        case 4: return copy_typed<uint32_t>(s, d, std::move(dims), parallel);
        case 8: return copy_typed<uint64_t>(s, d, std::move(dims), parallel);
        default: break;
    }
    // Other element sizes: copy bytes, one more innermost dim of es bytes.
    for (auto& x : dims) {
        x.s *= static_cast<int64_t>(es);
        x.d *= static_cast<int64_t>(es);
    }
    dims.push_back({static_cast<int64_t>(es), 1, 1});
    simplify(dims);
    copy_typed<uint8_t>(s, d, std::move(dims), parallel);
}

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
    if (bytes == 0 || dst == src) return;
    if (static_cast<int64_t>(bytes) < kParallelBytes * 4) {
        std::memcpy(dst, src, bytes);
        return;
    }
    constexpr int64_t chunk = 1 << 16;
    int64_t n = (static_cast<int64_t>(bytes) + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        size_t lo = static_cast<size_t>(i * chunk);
        std::memcpy(static_cast<uint8_t*>(dst) + lo, static_cast<const uint8_t*>(src) + lo,
                    std::min<size_t>(chunk, bytes - lo));
    }
}

}  // namespace

void copy_view_fast(const op::StridedView& view, const void* src, void* dst, size_t es) {
    std::vector<Dim> dims;
    auto dst_strides = op::contiguous_strides(view.shape);
    for (size_t i = 0; i < view.shape.size(); ++i) dims.push_back({view.shape[i], view.strides[i], dst_strides[i]});
    strided_copy(static_cast<const uint8_t*>(src) + view.offset * static_cast<int64_t>(es), dst, std::move(dims), es);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Kernels

class CopyKernel : public Kernel {
public:
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        parallel_memcpy(out[0].data(), in[0].data(), in[0].byte_size());
    }
    const char* name() const override { return "movement_copy"; }
};

// Any op whose output is a strided view of input 0; the view depends on the values of the other
// inputs, computed once when they are constants.
class ViewKernel : public Kernel {
public:
    using ViewFn = std::function<op::StridedView(const Shape&, const std::vector<const Tensor*>&)>;
    ViewKernel(ViewFn fn, const KernelShapes& shapes) : fn_(std::move(fn)) {
        std::vector<const Tensor*> vals;
        bool all = true;
        for (size_t i = 1; i < shapes.inputs.size(); ++i) {
            const Tensor* t = i < shapes.constants.size() ? shapes.constants[i] : nullptr;
            all = all && t;
            vals.push_back(t);
        }
        if (all) view_ = fn_(shapes.in(0), vals);
        fixed_ = all;
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        size_t es = type_size(in[0].type());
        if (fixed_) {
            copy_view_fast(view_, in[0].data(), out[0].data(), es);
            return;
        }
        std::vector<const Tensor*> vals;
        for (size_t i = 1; i < in.size(); ++i) vals.push_back(&in[i]);
        copy_view_fast(fn_(in[0].shape(), vals), in[0].data(), out[0].data(), es);
    }
    const char* name() const override { return "movement_view"; }

private:
    ViewFn fn_;
    op::StridedView view_;
    bool fixed_ = false;
};

std::vector<int64_t> ints_of(const std::vector<const Tensor*>& v, size_t i) {
    return i < v.size() && v[i] ? v[i]->as_i64_vector() : std::vector<int64_t>{};
}

// Concat (gather = false) and Split (gather = true): rows of the big tensor are made of one chunk
// per small tensor.
class ConcatSplitKernel : public Kernel {
public:
    ConcatSplitKernel(bool split, const Shape& big, const std::vector<Shape>& parts, int64_t axis, size_t es)
        : split_(split) {
        outer_ = 1;
        int64_t inner = 1;
        for (int64_t k = 0; k < axis; ++k) outer_ *= big[static_cast<size_t>(k)];
        for (size_t k = static_cast<size_t>(axis) + 1; k < big.size(); ++k) inner *= big[k];
        row_ = static_cast<size_t>(big[static_cast<size_t>(axis)] * inner) * es;
        size_t off = 0;
        for (auto& p : parts) {
            size_t c = static_cast<size_t>(p[static_cast<size_t>(axis)] * inner) * es;
            chunks_.push_back(c);
            offsets_.push_back(off);
            off += c;
        }
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        int64_t parts = static_cast<int64_t>(chunks_.size());
        int64_t jobs = outer_ * parts;
        bool parallel = static_cast<int64_t>(row_) * outer_ >= kParallelBytes;
        uint8_t* big = split_ ? nullptr : out[0].data<uint8_t>();
        const uint8_t* bigc = split_ ? in[0].data<uint8_t>() : nullptr;
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t j = 0; j < jobs; ++j) {
            int64_t o = j / parts;
            size_t p = static_cast<size_t>(j % parts);
            size_t c = chunks_[p];
            if (!c) continue;
            if (split_)
                std::memcpy(out[p].data<uint8_t>() + o * static_cast<int64_t>(c),
                            bigc + o * static_cast<int64_t>(row_) + offsets_[p], c);
            else
                std::memcpy(big + o * static_cast<int64_t>(row_) + offsets_[p],
                            in[p].data<uint8_t>() + o * static_cast<int64_t>(c), c);
        }
    }
    const char* name() const override { return split_ ? "movement_split" : "movement_concat"; }

private:
    bool split_;
    int64_t outer_ = 1;
    size_t row_ = 0;
    std::vector<size_t> chunks_, offsets_;
};

class GatherKernel : public Kernel {
public:
    GatherKernel(const Shape& data, const Shape& idx, int64_t axis, int64_t b, size_t es) {
        for (int64_t k = 0; k < b; ++k) batch_ *= data[static_cast<size_t>(k)];
        for (int64_t k = b; k < axis; ++k) outer_ *= data[static_cast<size_t>(k)];
        int64_t inner = 1;
        for (size_t k = static_cast<size_t>(axis) + 1; k < data.size(); ++k) inner *= data[k];
        for (size_t k = static_cast<size_t>(b); k < idx.size(); ++k) per_batch_ *= idx[k];
        axis_len_ = data[static_cast<size_t>(axis)];
        row_ = static_cast<size_t>(inner) * es;
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        if (in[1].type() == Type::i32) run(in[0], in[1].data<int32_t>(), out[0]);
        else if (in[1].type() == Type::i64) run(in[0], in[1].data<int64_t>(), out[0]);
        else run(in[0], in[1].as_i64_vector().data(), out[0]);
    }
    const char* name() const override { return "movement_gather"; }

private:
    template <typename I>
    void run(const Tensor& data, const I* idx, Tensor& out) const {
        int64_t jobs = batch_ * outer_ * per_batch_;
        auto src = data.data<uint8_t>();
        auto dst = out.data<uint8_t>();
        bool parallel = jobs * static_cast<int64_t>(row_) >= kParallelBytes;
        int64_t row = static_cast<int64_t>(row_);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t j = 0; j < jobs; ++j) {
            int64_t jj = j % per_batch_, bo = j / per_batch_, bi = bo / outer_;
            int64_t i = static_cast<int64_t>(idx[bi * per_batch_ + jj]);
            if (i < 0) i += axis_len_;
            uint8_t* d = dst + j * row;
            if (i < 0 || i >= axis_len_) std::memset(d, 0, row_);
            else std::memcpy(d, src + (bo * axis_len_ + i) * row, row_);
        }
    }
    int64_t batch_ = 1, outer_ = 1, per_batch_ = 1, axis_len_ = 0;
    size_t row_ = 0;
};

class PadConstantKernel : public Kernel {
public:
    PadConstantKernel(const Shape& in, const Shape& out, std::vector<int64_t> begin, size_t es)
        : es_(es) {
        auto is = op::contiguous_strides(in), os = op::contiguous_strides(out);
        for (size_t k = 0; k < in.size(); ++k) {
            // Negative pads crop the input; positive ones shift it inside the output.
            int64_t crop = std::max<int64_t>(-begin[k], 0), shift = std::max<int64_t>(begin[k], 0);
            int64_t n = std::min(in[k] - crop, out[k] - shift);
            dims_.push_back({std::max<int64_t>(n, 0), is[k], os[k]});
            src_off_ += crop * is[k];
            dst_off_ += shift * os[k];
        }
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        int64_t n = out[0].size();
        uint64_t v = 0;
        if (in.size() > 3) std::memcpy(&v, in[3].data(), es_);
        bool parallel = n * static_cast<int64_t>(es_) >= kParallelBytes;
        switch (es_) {
            case 1: fill<uint8_t>(out[0].data(), n, v, parallel); break;
            case 2: fill<uint16_t>(out[0].data(), n, v, parallel); break;
            case 4: fill<uint32_t>(out[0].data(), n, v, parallel); break;
            default: fill<uint64_t>(out[0].data(), n, v, parallel); break;
        }
        strided_copy(in[0].data<uint8_t>() + src_off_ * static_cast<int64_t>(es_),
                     out[0].data<uint8_t>() + dst_off_ * static_cast<int64_t>(es_), dims_, es_);
    }
    const char* name() const override { return "movement_pad_constant"; }

private:
    template <typename T>
    static void fill(void* p, int64_t n, uint64_t bits, bool parallel) {
        T v;
        std::memcpy(&v, &bits, sizeof(T));
        T* d = static_cast<T*>(p);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t i = 0; i < n; ++i) d[i] = v;
    }
    size_t es_;
    std::vector<Dim> dims_;
    int64_t src_off_ = 0, dst_off_ = 0;
};

std::optional<int64_t> const_scalar(const KernelShapes& s, size_t i) {
    if (i >= s.constants.size() || !s.constants[i] || s.constants[i]->size() != 1) return std::nullopt;
    return s.constants[i]->as_i64_vector()[0];
}

}  // namespace

KernelPtr make_movement_kernel(const Node& node, const KernelShapes& shapes) {
    std::string t = node.type_name();
    if (shapes.inputs.empty() || shapes.outputs.empty()) return nullptr;
    for (auto& d : shapes.inputs)
        if (!d.shape.is_static()) return nullptr;
    for (auto& d : shapes.outputs)
        if (!d.shape.is_static()) return nullptr;
    Type dt = shapes.in_type(0);
    if (dt == Type::dynamic) return nullptr;
    size_t es = type_size(dt);
    if (t == "Reshape" || t == "Squeeze" || t == "Unsqueeze") return std::make_unique<CopyKernel>();
    if (t == "Transpose")
        return std::make_unique<ViewKernel>(
            [](const Shape& s, const std::vector<const Tensor*>& v) { return op::Transpose::view(s, ints_of(v, 0)); },
            shapes);
    if (t == "Slice")
        return std::make_unique<ViewKernel>(
            [](const Shape& s, const std::vector<const Tensor*>& v) {
                return op::Slice::view(s, ints_of(v, 0), ints_of(v, 1), ints_of(v, 2), ints_of(v, 3));
            },
            shapes);
    if (t == "StridedSlice") {
        auto op = std::make_shared<op::StridedSlice>(static_cast<const op::StridedSlice&>(node));
        return std::make_unique<ViewKernel>(
            [op](const Shape& s, const std::vector<const Tensor*>& v) {
                return op->view(s, ints_of(v, 0), ints_of(v, 1), ints_of(v, 2));
            },
            shapes);
    }
    if (t == "Broadcast") {
        auto op = std::make_shared<op::Broadcast>(static_cast<const op::Broadcast&>(node));
        return std::make_unique<ViewKernel>(
            [op](const Shape& s, const std::vector<const Tensor*>& v) {
                return op->view(s, ints_of(v, 0), ints_of(v, 1));
            },
            shapes);
    }
    if (t == "Tile")
        return std::make_unique<ViewKernel>(
            [](const Shape& s, const std::vector<const Tensor*>& v) { return op::Tile::view(s, ints_of(v, 0)); },
            shapes);
    if (t == "Concat") {
        Shape out = shapes.out(0);
        int64_t axis = static_cast<const op::Concat&>(node).axis;
        if (axis < 0) axis += static_cast<int64_t>(out.size());
        std::vector<Shape> parts;
        for (size_t i = 0; i < shapes.inputs.size(); ++i) parts.push_back(shapes.in(i));
        return std::make_unique<ConcatSplitKernel>(false, out, parts, axis, es);
    }
    if (t == "Split" || t == "VariadicSplit") {
        auto axis = const_scalar(shapes, 1);
        if (!axis) return nullptr;
        Shape in = shapes.in(0);
        int64_t a = *axis < 0 ? *axis + static_cast<int64_t>(in.size()) : *axis;
        std::vector<Shape> parts;
        for (size_t i = 0; i < shapes.outputs.size(); ++i) parts.push_back(shapes.out(i));
        return std::make_unique<ConcatSplitKernel>(true, in, parts, a, es);
    }
    if (t == "Gather") {
        auto axis = const_scalar(shapes, 2);
        if (!axis) return nullptr;
        Shape data = shapes.in(0), idx = shapes.in(1);
        int64_t a = *axis < 0 ? *axis + static_cast<int64_t>(data.size()) : *axis;
        int64_t b = static_cast<const op::Gather&>(node).batch_dims;
        if (b < 0) b += static_cast<int64_t>(idx.size());
        return std::make_unique<GatherKernel>(data, idx, a, b, es);
    }
    if (t == "Pad") {
        if (static_cast<const op::Pad&>(node).pad_mode != op::PadMode::constant) return nullptr;
        if (shapes.constants.size() < 2 || !shapes.constants[1]) return nullptr;
        return std::make_unique<PadConstantKernel>(shapes.in(0), shapes.out(0),
                                                   shapes.constants[1]->as_i64_vector(), es);
    }
    return nullptr;
}

}  // namespace kiln::cpu

// Element types, dimensions, partial shapes and tensors.
#include <nanobind/operators.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "kiln/core/error.hpp"
#include "kiln/core/shape.hpp"

namespace kiln::bindings {

Type type_from_dlpack(nb::dlpack::dtype d) {
    using C = nb::dlpack::dtype_code;
    auto code = static_cast<C>(d.code);
    if (d.lanes == 1) {
        if (code == C::Float && d.bits == 32) return Type::f32;
        if (code == C::Float && d.bits == 64) return Type::f64;
        if (code == C::Float && d.bits == 16) return Type::f16;
        if (code == C::Bfloat && d.bits == 16) return Type::bf16;
        if (code == C::Int && d.bits == 64) return Type::i64;
        if (code == C::Int && d.bits == 32) return Type::i32;
        if (code == C::Int && d.bits == 16) return Type::i16;
        if (code == C::Int && d.bits == 8) return Type::i8;
        if (code == C::UInt && d.bits == 8) return Type::u8;
        if (code == C::UInt && d.bits == 16) return Type::u16;
        if (code == C::UInt && d.bits == 32) return Type::u32;
        if (code == C::UInt && d.bits == 64) return Type::u64;
        if (code == C::Bool && d.bits == 8) return Type::boolean;
    }
    throw TypeError(str_cat("arrays of DLPack type code ", int(d.code), " with ", int(d.bits),
                            " bits are not supported (kiln takes f32, f64, f16, bf16, i64, i32, i16, i8, u8, u16, u32, u64, bool)"));
}

static nb::dlpack::dtype dlpack_from_type(Type t) {
    using C = nb::dlpack::dtype_code;
    auto mk = [](C c, int bits) { return nb::dlpack::dtype{uint8_t(c), uint8_t(bits), 1}; };
    switch (t) {
        case Type::f32: return mk(C::Float, 32);
        case Type::f64: return mk(C::Float, 64);
        case Type::f16: return mk(C::Float, 16);
        case Type::bf16: return mk(C::Bfloat, 16);
        case Type::i64: return mk(C::Int, 64);
        case Type::i32: return mk(C::Int, 32);
        case Type::i16: return mk(C::Int, 16);
        case Type::i8: return mk(C::Int, 8);
        case Type::u8: return mk(C::UInt, 8);
        case Type::u16: return mk(C::UInt, 16);
        case Type::u32: return mk(C::UInt, 32);
        case Type::u64: return mk(C::UInt, 64);
        case Type::boolean: return mk(C::Bool, 8);
        default: break;
    }
    throw TypeError(str_cat("element type ", type_name(t), " has no array equivalent"));
}

Tensor tensor_from_array(nb::handle array, const char* what) {
    nb::ndarray<nb::ro, nb::device::cpu> a;
    if (!nb::try_cast(array, a, false))
        throw TypeError(str_cat(what, ": expected a CPU array (numpy.ndarray or torch.Tensor), got ",
                                nb::cast<std::string>(nb::str(array.type().attr("__name__")))));
    Type t = type_from_dlpack(a.dtype());
    Shape shape;
    for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(static_cast<int64_t>(a.shape(i)));
    int64_t expect = 1;
    // An empty array has no elements to lay out: its strides mean nothing (numpy gives any).
    bool empty = shape_size(shape) == 0;
    for (size_t i = a.ndim(); i-- > 0 && !empty;) {
        if (shape[i] != 1 && a.stride(i) != expect)
            throw ValueError(str_cat(what, ": the array is not contiguous (shape ", to_string(shape),
                                     "); pass numpy.ascontiguousarray(x) or x.contiguous()"));
        expect *= shape[i];
    }
    // The deleter drops the Python reference, under the GIL, whenever the last tensor goes.
    auto* keep = new nb::object(nb::borrow(array));
    std::shared_ptr<void> owner(keep, [](void* p) {
        nb::gil_scoped_acquire gil;
        delete static_cast<nb::object*>(p);
    });
    return Tensor(t, shape, const_cast<void*>(a.data()), owner);
}

nb::object tensor_to_numpy(const Tensor& t) {
    auto* keep = new Tensor(t);
    nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
    std::vector<size_t> shape(t.shape().begin(), t.shape().end());
    Type nt = t.type();
    if (nt == Type::bf16) {  // numpy has no bfloat16: hand out float32
        Tensor f(Type::f32, t.shape());
        convert_elements(t.data(), nt, f.data(), Type::f32, static_cast<size_t>(t.size()));
        return tensor_to_numpy(f);
    }
    nb::ndarray<nb::numpy> arr(const_cast<void*>(t.data()), shape.size(), shape.data(), owner, nullptr,
                               dlpack_from_type(nt));
    return nb::cast(arr, nb::rv_policy::reference);
}

void init_core(nb::module_& m) {
    nb::enum_<Type>(m, "Type", "Element type of a tensor (OpenVINO spelling).")
        .value("dynamic", Type::dynamic)
        .value("boolean", Type::boolean)
        .value("u8", Type::u8)
        .value("i8", Type::i8)
        .value("i32", Type::i32)
        .value("i64", Type::i64)
        .value("f16", Type::f16)
        .value("bf16", Type::bf16)
        .value("f32", Type::f32)
        .value("f64", Type::f64)
        .value("i16", Type::i16)
        .value("u16", Type::u16)
        .value("u32", Type::u32)
        .value("u64", Type::u64)
        .def_prop_ro("type_name", [](Type t) { return std::string(type_name(t)); }, "The IR name, e.g. 'f32'.")
        .def_prop_ro("size", [](Type t) { return type_size(t); }, "Bytes per element.");

    m.def("_torch_dtype", [](const std::string& name) -> nb::object {
              const TorchDtype* d = torch_dtype_by_name(name);
              if (!d) return nb::none();
              return nb::make_tuple(d->code, d->type == Type::dynamic ? nb::none() : nb::cast(d->type));
          }, "name"_a,
          "(ScalarType code, kiln.Type or None) of a torch dtype name ('float32', 'torch.complex64'), or None "
          "when torch has no such dtype: the one dtype table (core/type.hpp).");
    m.def("_torch_dtypes_supported", &torch_dtypes_supported, "The torch dtypes kiln takes, for messages.");

    nb::class_<Dimension>(m, "Dimension", "One dimension: static, dynamic, or an interval [min, max].")
        .def(nb::init<>(), "A fully dynamic dimension.")
        .def(nb::init<int64_t>(), "value"_a, "A static dimension; -1 means dynamic.")
        .def(nb::init<int64_t, int64_t>(), "min"_a, "max"_a, "An interval; max=-1 is unbounded.")
        .def_prop_ro("is_static", &Dimension::is_static, "True when the length is known.")
        .def_prop_ro("is_dynamic", &Dimension::is_dynamic, "True when the length is not known.")
        .def("get_length", &Dimension::get_length, "The length of a static dimension.")
        .def_prop_ro("min_length", &Dimension::get_min_length, "Lower bound.")
        .def_prop_ro("max_length", &Dimension::get_max_length, "Upper bound, -1 when unbounded.")
        .def("compatible", nb::overload_cast<const Dimension&>(&Dimension::compatible, nb::const_), "other"_a,
             "True when both can be the same length.")
        .def(nb::self == nb::self)
        .def("__str__", &Dimension::to_string)
        .def("__repr__", [](const Dimension& d) { return "<Dimension: " + d.to_string() + ">"; });

    nb::class_<PartialShape>(m, "PartialShape", "A shape whose rank or dimensions may be dynamic.")
        .def(nb::init<>(), "A shape of dynamic rank.")
        .def(nb::init<std::vector<Dimension>>(), "dims"_a, "From dimensions (ints, -1 for dynamic).")
        .def_static("dynamic", [](std::optional<int64_t> r) { return PartialShape::dynamic(r); },
                    "rank"_a = nb::none(), "All dimensions dynamic; of dynamic rank when rank is None.")
        .def_prop_ro("rank_is_static", &PartialShape::rank_is_static, "True when the rank is known.")
        .def_prop_ro("is_static", &PartialShape::is_static, "True when every dimension is known.")
        .def_prop_ro("is_dynamic", [](const PartialShape& s) { return !s.is_static(); }, "Not static.")
        .def_prop_ro("rank", &PartialShape::rank, "The rank (raises when dynamic).")
        .def("to_shape", &PartialShape::to_shape, "The static shape as a list of ints.")
        .def("get_shape", &PartialShape::to_shape, "Same as to_shape().")
        .def("compatible", nb::overload_cast<const PartialShape&>(&PartialShape::compatible, nb::const_),
             "other"_a, "True when both can describe the same shape.")
        .def("__len__", [](const PartialShape& s) { return static_cast<size_t>(s.rank()); })
        .def("__getitem__", [](const PartialShape& s, int64_t i) {
            int64_t r = s.rank();
            if (i < 0) i += r;
            if (i < 0 || i >= r) throw nb::index_error();
            return s[static_cast<size_t>(i)];
        })
        .def("__iter__", [](const PartialShape& s) { return nb::iter(nb::cast(s.dims())); })
        .def(nb::self == nb::self)
        .def("__str__", &PartialShape::to_string)
        .def("__repr__", [](const PartialShape& s) { return "<PartialShape: " + s.to_string() + ">"; });
    nb::implicitly_convertible<int64_t, Dimension>();

    nb::class_<Tensor>(m, "Tensor", "A host tensor: element type, shape, memory (shared with numpy/torch).")
        .def("__init__", [](Tensor* t, nb::handle array) { new (t) Tensor(tensor_from_array(array, "Tensor")); },
             "array"_a, "Wraps a contiguous numpy array or torch tensor without copying.")
        .def_prop_ro("element_type", &Tensor::type, "Element type.")
        .def_prop_ro("shape", [](const Tensor& t) { return t.shape(); }, "Shape as a list of ints.")
        .def_prop_ro("size", &Tensor::size, "Number of elements.")
        .def_prop_ro("data", [](const Tensor& t) { return tensor_to_numpy(t); }, "A numpy view of the data.")
        .def("__array__", [](const Tensor& t, nb::handle, nb::handle) { return tensor_to_numpy(t); },
             "dtype"_a = nb::none(), "copy"_a = nb::none())
        .def("__repr__", [](const Tensor& t) {
            return std::string("<Tensor: ") + type_name(t.type()) + to_string(t.shape()) + ">";
        });
}

}  // namespace kiln::bindings

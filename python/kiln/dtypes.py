"""Element types: kiln.Type from numpy, torch, strings or kiln itself.

torch dtypes go through the one dtype table of the C++ core (core/type.hpp: ScalarType code,
torch name, kiln type), which the translators use too; numpy dtypes through _NUMPY below.
"""
import numpy as np

from kiln._kiln import Type, _torch_dtype, _torch_dtypes_supported

_NUMPY = {
    np.dtype(np.float32): Type.f32, np.dtype(np.float64): Type.f64, np.dtype(np.float16): Type.f16,
    np.dtype(np.int64): Type.i64, np.dtype(np.int32): Type.i32, np.dtype(np.int16): Type.i16,
    np.dtype(np.int8): Type.i8, np.dtype(np.uint8): Type.u8, np.dtype(np.uint16): Type.u16,
    np.dtype(np.uint32): Type.u32, np.dtype(np.uint64): Type.u64, np.dtype(np.bool_): Type.boolean,
}
_NAMES = {t.type_name: t for t in _NUMPY.values()} | {"bf16": Type.bf16, "bool": Type.boolean,
                                                        "float32": Type.f32, "float64": Type.f64,
                                                        "int64": Type.i64, "int32": Type.i32}


def torch_dtype_code(dtype) -> int:
    """torch's ScalarType code of a torch.dtype (as TorchScript stores dtype arguments); -1 if the
    table does not know it. Codes of dtypes kiln cannot run (complex) are kept: the translator
    that meets one says so."""
    d = _torch_dtype(str(dtype))
    return -1 if d is None else d[0]


def runs_torch_dtype(dtype) -> bool:
    """True when kiln has an element type for this torch.dtype (the one table again)."""
    d = _torch_dtype(str(dtype))
    return d is not None and d[1] is not None


def to_kiln_type(dtype) -> Type:
    """Maps a numpy dtype/type, torch.dtype, kiln.Type or name ('f32', 'int64') to kiln.Type."""
    if isinstance(dtype, Type):
        return dtype
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    if type(dtype).__module__ == "torch" and type(dtype).__name__ == "dtype":
        d = _torch_dtype(str(dtype))
        if d is None or d[1] is None:
            raise TypeError(f"unsupported element type {dtype}; kiln takes {_torch_dtypes_supported()}")
        return d[1]
    try:
        return _NUMPY[np.dtype(dtype)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported element type {dtype!r}; kiln takes f32, f64, f16, bf16, i64, i32, "
                        "i16, i8, u8, u16, u32, u64 and bool") from None


def to_numpy_dtype(t: Type):
    for k, v in _NUMPY.items():
        if v == t:
            return k
    raise TypeError(f"kiln type {t} has no numpy equivalent")

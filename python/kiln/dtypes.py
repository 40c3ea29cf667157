"""Element types: kiln.Type from numpy, torch, strings or kiln itself."""
import numpy as np

from kiln._kiln import Type

_NUMPY = {
    np.dtype(np.float32): Type.f32, np.dtype(np.float64): Type.f64, np.dtype(np.float16): Type.f16,
    np.dtype(np.int64): Type.i64, np.dtype(np.int32): Type.i32, np.dtype(np.int8): Type.i8,
    np.dtype(np.uint8): Type.u8, np.dtype(np.bool_): Type.boolean,
}
_NAMES = {t.type_name: t for t in _NUMPY.values()} | {"bf16": Type.bf16, "bool": Type.boolean,
                                                        "float32": Type.f32, "float64": Type.f64,
                                                        "int64": Type.i64, "int32": Type.i32}


def to_kiln_type(dtype) -> Type:
    """Maps a numpy dtype/type, torch.dtype, kiln.Type or name ('f32', 'int64') to kiln.Type."""
    if isinstance(dtype, Type):
        return dtype
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    try:
        import torch
        if isinstance(dtype, torch.dtype):
            if dtype == torch.bfloat16:
                return Type.bf16
            try:
                return _NUMPY[np.dtype(torch.empty(0, dtype=dtype).numpy().dtype)]
            except (KeyError, TypeError, RuntimeError):
                raise TypeError(f"unsupported element type {dtype}; kiln takes float32, float64, "
                                "float16, bfloat16, int64, int32, int8, uint8 and bool") from None
    except ImportError:
        pass
    try:
        return _NUMPY[np.dtype(dtype)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported element type {dtype!r}; kiln takes f32, f64, f16, bf16, i64, i32, "
                        "i8, u8 and bool") from None


def to_numpy_dtype(t: Type):
    for k, v in _NUMPY.items():
        if v == t:
            return k
    raise TypeError(f"kiln type {t} has no numpy equivalent")

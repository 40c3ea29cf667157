"""Per-op tests of complex tensors and FFTs (translators/fft.cpp; DFT/IDFT/RDFT/IRDFT in
ops/fft.cpp): fft / ifft / rfft / irfft / hfft / ihfft and their 2-D and N-D forms, every norm
mode, n= / s= padding and trimming, dim=, fftshift, complex / polar / real / imag / view_as_real /
view_as_complex / abs / conj and complex arithmetic. kiln returns a complex tensor as its real
pair [..., 2], so the modules end with view_as_real (or a real-valued op). Same helper and rules
as test_ops.py.
"""
import pytest
import torch

from test_ops import C, F32, INTS, In, X, check, fn, params

R = torch.view_as_real
S8 = In((3, 8), alt=(2, 16))     # powers of two (radix-2 kernel)
S7 = In((3, 7), alt=(2, 5))      # other lengths (direct sum)
S3D = In((2, 4, 6), alt=(3, 4, 5))
LONG = In((2, 33), alt=(3, 20))  # Bluestein (lengths above 16 that are not powers of two)


@fn
def Fft(self, a):
    return torch.view_as_real(torch.fft.fft(a))


@fn
def FftN(self, a):
    return torch.view_as_real(torch.fft.fft(a, n=10)), torch.view_as_real(torch.fft.fft(a, n=3, dim=0))


@fn
def FftForward(self, a):
    return torch.view_as_real(torch.fft.fft(a, norm="forward"))


@fn
def FftOrtho(self, a):
    return torch.view_as_real(torch.fft.fft(a, dim=0, norm="ortho"))


@fn
def Ifft(self, a):
    return R(torch.fft.ifft(a).resolve_conj()), R(torch.fft.ifft(a, norm="ortho").resolve_conj())


@fn
def IfftForward(self, a):
    return R(torch.fft.ifft(a, n=6, norm="forward").resolve_conj())


@fn
def FftRoundTrip(self, a):
    return torch.fft.ifft(torch.fft.fft(a)).real


@fn
def Rfft(self, a):
    return torch.view_as_real(torch.fft.rfft(a)), torch.view_as_real(torch.fft.rfft(a, n=9, norm="ortho"))


@fn
def Irfft(self, a):
    c = torch.fft.rfft(a)
    return torch.fft.irfft(c), torch.fft.irfft(c, n=a.size(-1)), torch.fft.irfft(c, n=5, norm="forward")


@fn
def Hfft(self, a):
    c = torch.fft.rfft(a)
    return torch.fft.hfft(c), torch.fft.hfft(c, n=6, norm="ortho")


@fn
def Ihfft(self, a):
    return R(torch.fft.ihfft(a).resolve_conj()), R(torch.fft.ihfft(a, norm="forward").resolve_conj())


@fn
def Fft2(self, a):
    return torch.view_as_real(torch.fft.fft2(a)), torch.view_as_real(torch.fft.ifft2(a, s=(3, 4)))


@fn
def Fftn(self, a):
    return torch.view_as_real(torch.fft.fftn(a)), torch.view_as_real(torch.fft.fftn(a, s=(5, 3), dim=(0, 2), norm="ortho"))


@fn
def Ifftn(self, a):
    return torch.view_as_real(torch.fft.ifftn(a, dim=(1, 2)))


@fn
def Rfft2(self, a):
    return torch.view_as_real(torch.fft.rfft2(a)), torch.fft.irfft2(torch.fft.rfft2(a))


@fn
def Rfftn(self, a):
    return torch.view_as_real(torch.fft.rfftn(a, dim=(0, 2)))


@fn
def Irfftn(self, a):
    c = torch.fft.rfftn(a)
    return torch.fft.irfftn(c, s=(a.size(0), a.size(1), a.size(2))), torch.fft.irfftn(c, norm="ortho")


@fn
def FftComplexInput(self, a):
    c = torch.view_as_complex(torch.stack([a, a * 2 - 1], -1))
    return torch.view_as_real(torch.fft.fft(c, dim=0))


@fn
def FftInt(self, a):
    return torch.view_as_real(torch.fft.fft(a))


@fn
def Fftshift(self, a):
    return torch.fft.fftshift(a), torch.fft.ifftshift(a, dim=(0, 1))


@fn
def FftshiftComplex(self, a):
    return torch.view_as_real(torch.fft.fftshift(torch.fft.fft(a), dim=-1)), torch.view_as_real(torch.fft.ifftshift(torch.fft.fft2(a)))


@fn
def Complex(self, a, b):
    c = torch.complex(a, b)
    return torch.view_as_real(c), c.real, c.imag, c.abs()


@fn
def Polar(self, a, b):
    return torch.view_as_real(torch.polar(a.abs(), b))


@fn
def ViewAsComplex(self, a):
    c = torch.view_as_complex(a)
    return R(c.conj().resolve_conj()), torch.abs(c), R(torch.conj_physical(c)), R(c.resolve_neg())


@fn
def ComplexArithmetic(self, a, b):
    c = torch.complex(a, b)
    d = torch.fft.fft(a)
    return R(c * d), R(c + d), R(c - d * 2), R(c / d), R(c * 3.0), R(d / 2.0), R(-c), R(c * a)


@fn
def Stft(self, a):
    return torch.view_as_real(torch.stft(a, 8, return_complex=True))


@fn
def StftWindow(self, a):
    return torch.view_as_real(torch.stft(a, 8, hop_length=3, win_length=6, window=torch.ones(6) * 0.5 + a[0, :6] * 0,
                                         normalized=True, center=False, return_complex=True))


@fn
def StftTwoSided(self, a):
    return torch.view_as_real(torch.stft(a[0], 6, hop_length=2, onesided=False, center=False, return_complex=True))


@fn
def Istft(self, a):
    w = torch.ones(8) * 0.5 + a[0, :8] * 0 + 0.25
    c = torch.stft(a, 8, hop_length=2, window=w, center=False, return_complex=True)
    return torch.istft(c, 8, hop_length=2, window=w, center=False), torch.istft(c, 8, 2, window=w, center=False,
                                                                                length=a.size(1) + 3)


@fn
def IstftCenter(self, a):
    c = torch.view_as_complex(torch.stack([a[:, :5], a[:, 5:10]], -1))  # [9, 5] frames of a 16-point stft
    return torch.istft(c.reshape(1, 9, 5), 16, hop_length=4, normalized=True)


@fn
def ComplexShapes(self, a):
    c = torch.fft.fft(a)
    return (R(c.reshape(-1)), R(c.view(a.size(1), a.size(0))), R(c.unsqueeze(-1)), R(c.permute(1, 0)),
            R(c.transpose(0, 1)), R(c[1]), R(c[:, 1:4]), R(c.t().contiguous()[::2]))


@fn
def ComplexSize(self, a):
    c = torch.fft.fft(a)
    return torch.view_as_real(c) * c.size(-1) + c.dim()


CASES = [
    C("fft", Fft, S8), C("fft_odd", Fft, S7), C("fft_long", Fft, LONG), C("irfft_long", Irfft, LONG),
    C("fft_n", FftN, S7),
    C("fft_forward", FftForward, S8),
    C("fft_ortho", FftOrtho, S7),
    C("ifft", Ifft, S7),
    C("ifft_forward", IfftForward, S8),
    C("fft_round_trip", FftRoundTrip, S7),
    C("rfft", Rfft, S8), C("rfft_odd", Rfft, S7),
    C("irfft", Irfft, S8), C("irfft_odd", Irfft, S7),
    C("hfft", Hfft, S7),
    C("ihfft", Ihfft, S8),
    C("fft2", Fft2, S3D),
    C("fftn", Fftn, S3D),
    C("ifftn", Ifftn, S3D),
    C("rfft2", Rfft2, S3D),
    C("rfftn", Rfftn, S3D),
    C("irfftn", Irfftn, S3D),
    C("fft_complex_input", FftComplexInput, S7),
    C("fft_int", FftInt, S7, ("int64", "int32")),
    C("fftshift", Fftshift, S7, INTS),
    C("fftshift_complex", FftshiftComplex, S7),
    C("complex", Complex, [S7, S7]),
    C("polar", Polar, [S7, S7]),
    C("view_as_complex", ViewAsComplex, In((3, 4, 2), alt=(2, 5, 2))),
    C("complex_arithmetic", ComplexArithmetic, [S7, S7]),
    C("complex_size", ComplexSize, S7),
    C("complex_shapes", ComplexShapes, S7),
    # torch.stft's center padding traces the input's shape; scripted, its `[1] * k + list(x.size())`
    # meets kiln's list arithmetic (aten::mul / aten::add on int lists work element-wise).
    C("stft", Stft, In((2, 40), alt=(3, 29)), trace_dynamic=False),
    C("stft_window", StftWindow, In((2, 40), alt=(3, 29))),
    C("stft_two_sided", StftTwoSided, In((2, 40), alt=(3, 29))),
    C("istft", Istft, In((2, 40), alt=(3, 29))),
    C("istft_center", IstftCenter, In((9, 10), alt=(9, 10))),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)


@fn
def ComplexOut(self, a):
    return torch.fft.rfft(a), a * 2


def test_complex_output_is_the_pair():
    """A complex model output comes back as its real (real, imag) pair: [..., 2], f32 for complex64."""
    import numpy as np
    import kiln
    a = torch.randn(3, 8)
    compiled = kiln.Core().compile_model(kiln.convert_model(ComplexOut(), example_input=(a,)), "CPU")
    got = compiled([a.numpy()])
    want = torch.view_as_real(torch.fft.rfft(a)).numpy()
    assert got[0].shape == (3, 5, 2) and got[0].dtype == np.float32
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-4)


@fn
def ComplexUnsupported(self, a):
    return torch.view_as_real(torch.fft.fft(a).exp())


def test_complex_in_an_op_without_complex_support():
    import kiln
    with pytest.raises(kiln.ConversionError, match="aten::exp: complex tensors are not supported by this op yet"):
        kiln.convert_model(ComplexUnsupported(), example_input=(torch.randn(3, 8),))

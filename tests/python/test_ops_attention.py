"""Per-op tests of the attention family (translators/attention.cpp) and the transformer blocks
built on it: nn.MultiheadAttention (masks, batch_first both ways, with and without weights; the
eval fast path is torch's fused _native_multi_head_attention), nn.TransformerEncoderLayer and
DecoderLayer, F.scaled_dot_product_attention (no mask, boolean and float masks, causal, scale,
grouped-query). Same helper and rules as test_ops.py.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_ops import C, In, check, fn, params

E = 16  # embed dim, 4 heads


class Mha(nn.Module):
    def __init__(self, batch_first=True, kdim=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=batch_first, kdim=kdim, vdim=kdim)

    def forward(self, q, kv):
        return self.attn(q, kv, kv, need_weights=False)[0]


class MhaWeights(Mha):
    def forward(self, q, kv):
        return self.attn(q, kv, kv, need_weights=True)


class MhaSelf(nn.Module):
    def __init__(self, batch_first=True):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=batch_first)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


class MhaKeyPadding(nn.Module):
    """key_padding_mask: True marks a padded key (the last `pad` keys of each sequence)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=True)

    def forward(self, x, lengths):
        keys = torch.arange(x.size(1)).unsqueeze(0)
        pad = keys >= lengths.unsqueeze(1)
        return self.attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]


class MhaCausal(nn.Module):
    """attn_mask, boolean (True = may not attend) or float (added to the scores)."""

    def __init__(self, float_mask: bool = False):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=True)
        self.float_mask = float_mask

    def mask(self, n: int):
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        if self.float_mask:
            mask = torch.zeros(n, n).masked_fill(mask, float("-inf"))
        return mask

    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask(x.size(1)), need_weights=False)[0]


class MhaCausalWeights(MhaCausal):
    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask(x.size(1)), need_weights=True)


class MhaAveragedWeights(nn.Module):
    def __init__(self, average):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=True)
        self.average = average

    def forward(self, x):
        return self.attn(x, x, x, need_weights=True, average_attn_weights=self.average)


class EncoderLayer(nn.Module):
    def __init__(self, norm_first=False, activation="relu"):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(E, 4, dim_feedforward=24, dropout=0.0, batch_first=True,
                                                norm_first=norm_first, activation=activation)

    def forward(self, x):
        return self.layer(x)


class EncoderPadded(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(E, 4, dim_feedforward=24, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x, lengths):
        pad = torch.arange(x.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
        return self.enc(x, src_key_padding_mask=pad).masked_fill(pad.unsqueeze(-1), 0.0)


class DecoderLayer(nn.Module):
    def __init__(self, norm_first=False):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(E, 4, dim_feedforward=24, dropout=0.0, batch_first=True,
                                                norm_first=norm_first)

    def forward(self, tgt, memory):
        n = tgt.size(1)
        causal = torch.zeros(n, n).masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        return self.layer(tgt, memory, tgt_mask=causal)


@fn
def Sdpa(self, q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


@fn
def SdpaBoolMask(self, q, k, v, m):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=m)


@fn
def SdpaFloatMask(self, q, k, v, m):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=m)


@fn
def SdpaCausal(self, q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


@fn
def SdpaScale(self, q, k, v):
    return F.scaled_dot_product_attention(q, k, v, scale=0.3)


@fn
def SdpaGqa(self, q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def seq(b, n, alt_b, alt_n):
    return In((b, n, E), alt=(alt_b, alt_n, E))


LENGTHS = In((2,), alt=(3,), dtype="int64", values="pos")  # 1..5 valid keys
Q = In((2, 3, 5, 8), alt=(1, 3, 6, 8))
KV = In((2, 3, 4, 8), alt=(1, 3, 7, 8))
KV_SQUARE = In((2, 3, 5, 8), alt=(1, 3, 6, 8))

CASES = [
    C("mha", Mha, [seq(2, 5, 3, 4), seq(2, 6, 3, 2)]),
    C("mha_seq_first", lambda: Mha(batch_first=False), [seq(5, 2, 4, 3), seq(6, 2, 2, 3)]),
    C("mha_weights", MhaWeights, [seq(2, 5, 3, 4), seq(2, 6, 3, 2)]),
    C("mha_kdim", lambda: Mha(kdim=12), [seq(2, 5, 3, 4), In((2, 6, 12), alt=(3, 2, 12))]),
    C("mha_self", MhaSelf, seq(2, 5, 3, 4)),
    C("mha_self_seq_first", lambda: MhaSelf(batch_first=False), seq(5, 2, 4, 3)),
    C("mha_key_padding", MhaKeyPadding, [seq(2, 5, 3, 5), LENGTHS]),
    C("mha_causal_bool", MhaCausal, seq(2, 5, 3, 4)),
    C("mha_causal_float", lambda: MhaCausal(float_mask=True), seq(2, 5, 3, 4)),
    C("mha_causal_weights", MhaCausalWeights, seq(2, 5, 3, 4)),
    C("mha_weights_averaged", lambda: MhaAveragedWeights(True), seq(2, 5, 3, 4)),
    C("mha_weights_per_head", lambda: MhaAveragedWeights(False), seq(2, 5, 3, 4)),
    C("encoder_layer", EncoderLayer, seq(2, 5, 3, 4)),
    C("encoder_layer_norm_first_gelu", lambda: EncoderLayer(norm_first=True, activation="gelu"), seq(2, 5, 3, 4)),
    C("encoder_padded", EncoderPadded, [seq(2, 5, 3, 5), LENGTHS]),
    C("decoder_layer", DecoderLayer, [seq(2, 4, 3, 5), seq(2, 6, 3, 3)]),
    C("decoder_layer_norm_first", lambda: DecoderLayer(norm_first=True), [seq(2, 4, 3, 5), seq(2, 6, 3, 3)]),
    C("sdpa_plain", Sdpa, [Q, KV, KV]),
    C("sdpa_bool_mask", SdpaBoolMask, [Q, KV, KV, In((5, 4), alt=(6, 7), dtype="bool")]),
    C("sdpa_float_mask", SdpaFloatMask, [Q, KV, KV, In((2, 1, 5, 4), alt=(1, 1, 6, 7))]),
    C("sdpa_causal", SdpaCausal, [Q, KV_SQUARE, KV_SQUARE]),
    C("sdpa_causal_rect", SdpaCausal, [Q, KV, KV]),
    C("sdpa_scale", SdpaScale, [Q, KV, KV]),
    C("sdpa_gqa", SdpaGqa, [In((2, 4, 5, 8), alt=(1, 4, 6, 8)), In((2, 2, 5, 8), alt=(1, 2, 6, 8)),
                            In((2, 2, 5, 8), alt=(1, 2, 6, 8))]),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)

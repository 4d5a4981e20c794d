"""PyTorch reference for the classroom exercises' grading tests.

Writes tests/ref/fixtures/exercises.safetensors, read by tests/test_exercises_lesson00.cpp,
tests/test_exercises_lesson01.cpp and tests/test_exercises_lesson02.cpp. The grading tests compare a student's code with these
numbers rather than with a formula written in the test, so the tests do not give the
solution away. Run from anywhere with Debian's PyTorch: /usr/bin/python3 tests/ref/exercises.py
"""
import math

import torch
import torch.nn.functional as F

from common import case, save


def div_cases(store):
    """00.1: the broadcasting binary op div; its gradients sum over the broadcast axes."""
    def away_from_zero(*shape):
        return (torch.rand(shape) + 0.5) * torch.sign(torch.randn(shape))

    case(store, "div_rows", lambda a, b: a / b, dict(a=torch.randn(2, 3, 4), b=away_from_zero(3, 1)))
    case(store, "div_both", lambda a, b: a / b,
         dict(a=torch.randn(3, 1, 5), b=away_from_zero(1, 4, 1)))
    case(store, "div_scalar", lambda a, b: a / b, dict(a=torch.randn(2, 5), b=away_from_zero()))


def softmax_cases(store):
    """00.2: softmax and log_softmax backward over a middle, the last and the first axis."""
    x = torch.randn(2, 5, 3) * 2
    case(store, "softmax_mid", lambda x: F.softmax(x, 1), dict(x=x))
    case(store, "log_softmax_mid", lambda x: F.log_softmax(x, 1), dict(x=x))
    case(store, "softmax_last", lambda x: F.softmax(x, -1), dict(x=torch.randn(4, 6) * 3))
    case(store, "log_softmax_first", lambda x: F.log_softmax(x, 0), dict(x=torch.randn(7, 2)))


def im2col_case(store, name, channels, h, w, kernel, stride, padding, dilation):
    """00.3: F.unfold is im2col: (1, C, H, W) -> (1, C kh kw, L), rows ordered (c, ki, kj)."""
    x = torch.randn(1, channels, h, w)
    store[f"{name}.x"] = x[0]
    store[f"{name}.out"] = F.unfold(x, kernel, dilation, padding, stride)[0]


def im2col_cases(store):
    im2col_case(store, "im2col_same3x3", 2, 5, 5, (3, 3), 1, 1, 1)  # out as wide as the input
    im2col_case(store, "im2col_stride2", 2, 6, 5, (3, 3), 2, 1, 1)
    im2col_case(store, "im2col_valid2x2", 1, 4, 6, (2, 2), 1, 0, 1)
    im2col_case(store, "im2col_dilated", 2, 5, 5, (3, 3), 1, 2, 2)
    im2col_case(store, "im2col_kernel2x3", 3, 4, 5, (2, 3), 1, 0, 1)
    im2col_case(store, "im2col_1x1_padded", 1, 3, 3, (1, 1), 1, 1, 1)
    case(store, "conv2d_same", lambda x, weight, bias: F.conv2d(x, weight, bias, 1, 1),
         dict(x=torch.randn(2, 3, 6, 6), weight=torch.randn(4, 3, 3, 3), bias=torch.randn(4)))
    case(store, "conv2d_stride2", lambda x, weight: F.conv2d(x, weight, None, 2, 1),
         dict(x=torch.randn(2, 2, 7, 6), weight=torch.randn(3, 2, 3, 3)))


def group_norm_cases(store):
    """01.6: GroupNorm backward, with and without the affine weight."""
    case(store, "gn_affine", lambda x, weight, bias: F.group_norm(x, 2, weight, bias),
         dict(x=torch.randn(2, 6, 3, 3) * 2 + 1, weight=torch.randn(6), bias=torch.randn(6)))
    case(store, "gn_plain", lambda x: F.group_norm(x, 3), dict(x=torch.randn(3, 6, 5)))
    case(store, "gn_one_group", lambda x, weight, bias: F.group_norm(x, 1, weight, bias),
         dict(x=torch.randn(1, 4, 2, 2) - 3, weight=torch.randn(4), bias=torch.randn(4)))


def timestep_embedding(t, dim, max_period):
    """02.1: improved-diffusion's sinusoidal embedding, [cos(t f), sin(t f)] (+ a zero column)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    args = t.double()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb.float()


def timestep_embedding_cases(store):
    t = torch.tensor([0.0, 1.0, 2.5, 100.0, 999.0])
    for name, dim, period in [("temb_even", 8, 10000.0), ("temb_odd", 7, 10000.0),
                              ("temb_period", 6, 100.0)]:
        store[f"{name}.t"] = t
        store[f"{name}.out"] = timestep_embedding(t, dim, period)


def qkv_attention(qkv, heads):
    """02.3: improved-diffusion's QKVAttention (legacy head layout: each head's q, k, v rows)."""
    batch, width, length = qkv.shape
    ch = width // (3 * heads)
    q, k, v = qkv.reshape(batch * heads, 3 * ch, length).split(ch, dim=1)
    scale = 1 / math.sqrt(math.sqrt(ch))
    weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale), dim=-1)
    return torch.einsum("bts,bcs->bct", weight, v).reshape(batch, -1, length)


def qkv_attention_cases(store):
    case(store, "qkv_one_head", lambda qkv: qkv_attention(qkv, 1), dict(qkv=torch.randn(2, 12, 5)))
    case(store, "qkv_two_heads", lambda qkv: qkv_attention(qkv, 2),
         dict(qkv=torch.randn(2, 24, 6) * 2))


def resblock_case(store, name, channels, out_channels, emb_channels, groups):
    """02.2: improved-diffusion's ResBlock with use_scale_shift_norm, every parameter random
    (its last conv included, which the real block initialises to zero)."""
    block = torch.nn.ModuleDict({
        "in_layers": torch.nn.Sequential(torch.nn.GroupNorm(groups, channels), torch.nn.SiLU(),
                                         torch.nn.Conv2d(channels, out_channels, 3, padding=1)),
        "emb_layers": torch.nn.Sequential(torch.nn.SiLU(),
                                          torch.nn.Linear(emb_channels, 2 * out_channels)),
        "out_layers": torch.nn.Sequential(torch.nn.GroupNorm(groups, out_channels), torch.nn.SiLU(),
                                          torch.nn.Dropout(0.0),
                                          torch.nn.Conv2d(out_channels, out_channels, 3, padding=1)),
    })
    if channels != out_channels:
        block["skip_connection"] = torch.nn.Conv2d(channels, out_channels, 1)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
    x, emb = torch.randn(2, channels, 5, 5), torch.randn(2, emb_channels)
    h = block["in_layers"](x)
    scale, shift = block["emb_layers"](emb)[:, :, None, None].chunk(2, dim=1)
    h = block["out_layers"][0](h) * (1 + scale) + shift
    for layer in list(block["out_layers"])[1:]:
        h = layer(h)
    skip = block["skip_connection"](x) if channels != out_channels else x
    for key, value in block.state_dict().items():
        store[f"{name}.param.{key}"] = value
    store[f"{name}.x"], store[f"{name}.emb"] = x, emb
    store[f"{name}.out"] = (skip + h).detach()


def resblock_cases(store):
    resblock_case(store, "resblock_widen", 4, 8, 6, 2)
    resblock_case(store, "resblock_same", 4, 4, 3, 4)


def main():
    torch.manual_seed(0)
    store = {}
    div_cases(store)
    softmax_cases(store)
    im2col_cases(store)
    group_norm_cases(store)
    timestep_embedding_cases(store)
    qkv_attention_cases(store)
    resblock_cases(store)
    save("exercises", store)


if __name__ == "__main__":
    main()

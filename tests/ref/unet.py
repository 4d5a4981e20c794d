"""PyTorch reference for lesson 02's UNetModel (lessons/02_improved_diffusion/unet.hpp).

The model is written here from improved-diffusion's description (Nichol & Dhariwal 2021;
openai/improved-diffusion, improved_diffusion/unet.py), with the same module names, so that
its state_dict keys are the reference's. GroupNorm takes a group count (the reference's 32
needs at least 32 channels; these tiny models use 2 or 3 groups).

Writes tests/ref/fixtures/unet.safetensors, read by tests/test_unet.cpp. For each case:
  <case>.state.<key>    the weights: random, rounded to float16 and stored as F16 (exact in
                        float32; half the bytes), loaded with a strict load_state_dict
  <case>.x, .t, .y      the inputs (y only for a class-conditional model)
  <case>.out            the output, in training mode (dropout 0), computed in float64 (so
                        that the C++ test measures tinydiff's float32 error alone)
  <case>.grad_out       the gradient fed to backward
  <case>.grad.x         the input gradient; <case>.grad.<key> every parameter's gradient
Metadata: "<case>.keys", the state_dict keys in PyTorch's order, and "<case>.config", the
model's settings, both as JSON.

Run with Debian's PyTorch: /usr/bin/python3 tests/ref/unet.py
"""
import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn

from common import FIXTURES


def timestep_embedding(t, dim, max_period=10000.0):
    """improved-diffusion's sinusoidal embedding, in t's dtype: [cos(t f_i), sin(t f_i)] with
    f_i = exp(-ln(max_period) i / half), i < half = dim // 2."""
    half = dim // 2
    i = torch.arange(half, dtype=t.dtype, device=t.device)
    freqs = torch.exp(-math.log(max_period) * i / half)
    args = t[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def group_norm(channels, groups):
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    def __init__(self, channels, out_channels, emb_channels, groups, scale_shift):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(group_norm(channels, groups), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        emb_out = 2 * out_channels if scale_shift else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(group_norm(out_channels, groups), nn.SiLU(),
                                        nn.Dropout(0.0),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = (nn.Identity() if out_channels == channels
                                else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x, emb):
        h = self.in_layers(x)
        e = self.emb_layers(emb)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        b, c, height, width = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat)).reshape(b * self.heads, 3 * c // self.heads, -1)
        q, k, v = qkv.split(c // self.heads, dim=1)
        s = 1 / math.sqrt(math.sqrt(c // self.heads))
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * s, k * s), dim=-1)
        h = torch.einsum("bts,bcs->bct", w, v).reshape(b, c, -1)
        return (flat + self.proj_out(h)).reshape(b, c, height, width)


class Downsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepEmbedSequential(nn.Sequential):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, in_channels, model_channels, out_channels, num_res_blocks,
                 attention_resolutions, channel_mult, num_classes, num_heads, scale_shift,
                 groups):
        super().__init__()
        mc, emb = model_channels, 4 * model_channels
        self.model_channels, self.num_classes = mc, num_classes
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        if num_classes:
            self.label_emb = nn.Embedding(num_classes, emb)
        res = lambda cin, cout: ResBlock(cin, cout, emb, groups, scale_shift)  # noqa: E731
        attn = lambda ch: AttentionBlock(ch, num_heads, groups)  # noqa: E731

        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(in_channels, mc, 3, padding=1))])
        skips, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [res(ch, mult * mc)]
                ch = mult * mc
                if ds in attention_resolutions:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                skips.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(res(ch, ch), attn(ch), res(ch, ch))
        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res(ch + skips.pop(), mult * mc)]
                ch = mult * mc
                if ds in attention_resolutions:
                    layers.append(attn(ch))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(group_norm(ch, groups), nn.SiLU(),
                                 nn.Conv2d(ch, out_channels, 3, padding=1))

    def forward(self, x, t, y=None):
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if self.num_classes:
            emb = emb + self.label_emb(y.long())
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


def randomise(model, seed):
    """Every parameter random and exactly representable in float16: weights ~ N(0, 1/fan_in),
    GroupNorm scales 1 + N(0, 0.1^2), other vectors N(0, 0.1^2). (The reference starts some
    convolutions at zero, which would hide mistakes behind them.)"""
    gen = torch.Generator().manual_seed(seed)
    norms = {id(m.weight) for m in model.modules() if isinstance(m, nn.GroupNorm)}
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() >= 2:
                p.copy_(noise / math.sqrt(p[0].numel()))
            else:
                p.copy_((1.0 if id(p) in norms else 0.0) + 0.1 * noise)
            p.copy_(p.half().float())


def model_case(store, meta, name, config, x, t, y, seed):
    torch.manual_seed(seed)
    model = UNetModel(**config)
    randomise(model, seed)
    for key, value in model.state_dict().items():
        store[f"{name}.state.{key}"] = value.detach().half()
    model.double()
    x = x.double().requires_grad_(True)
    out = model(x, t.double(), y)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
    out.backward(grad_out.double())
    store[f"{name}.x"], store[f"{name}.t"] = x.detach(), t
    if y is not None:
        store[f"{name}.y"] = y
    store[f"{name}.out"], store[f"{name}.grad_out"] = out.detach(), grad_out
    store[f"{name}.grad.x"] = x.grad
    for key, p in model.named_parameters():
        store[f"{name}.grad.{key}"] = p.grad
    meta[f"{name}.keys"] = json.dumps(list(model.state_dict().keys()))
    meta[f"{name}.config"] = json.dumps(config)


def save_mixed(name, tensors, metadata):
    """common.save, but float16 tensors stay F16 (the C++ loader converts them exactly)."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for key in sorted(tensors):
        value = tensors[key].detach()
        value = value if value.dtype == torch.float16 else value.float()
        half = value.dtype == torch.float16
        data = np.ascontiguousarray(value.numpy().astype(np.float16 if half else np.float32))
        raw = data.tobytes()
        header[key] = {"dtype": "F16" if half else "F32", "shape": list(data.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (len(text) + 8) % 8) % 8)
    path = os.path.join(FIXTURES, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def main():
    store, meta = {}, {}
    # Scale-shift norm, attention at 2x downsampling with 2 heads, 3 classes, learned sigma
    # (out_channels = 2 in_channels).
    full = dict(in_channels=3, model_channels=6, out_channels=6, num_res_blocks=1,
                attention_resolutions=[2], channel_mult=[1, 2], num_classes=3, num_heads=2,
                scale_shift=True, groups=3)
    model_case(store, meta, "full", full, randn(2, 3, 8, 8, seed=1), torch.tensor([3.0, 741.0]),
               torch.tensor([2.0, 0.0]), seed=2)
    # The plain ResBlock (emb added), attention only in the middle block, unconditional,
    # fixed sigma (out_channels = in_channels), a 12x12 gray input.
    plain = dict(in_channels=1, model_channels=4, out_channels=1, num_res_blocks=1,
                 attention_resolutions=[], channel_mult=[1, 2], num_classes=0, num_heads=1,
                 scale_shift=False, groups=2)
    model_case(store, meta, "plain", plain, randn(2, 1, 12, 12, seed=3),
               torch.tensor([0.0, 250.0]), None, seed=4)
    save_mixed("unet", store, meta)


if __name__ == "__main__":
    main()

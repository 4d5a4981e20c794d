"""PyTorch reference for tinydiff's layers (nn/*.hpp) and a small UNet-like interop model.

Writes tests/ref/fixtures/layers.safetensors, read by tests/test_layers_parity.cpp. For each
case "<case>":
  <case>.state.<key>    the layer's state_dict before the forward (loaded into the C++ layer)
  <case>.<input>        the inputs: x, and for attention context / mask
  <case>.out            the output; <case>.grad_out, the gradient fed to backward
  <case>.grad.<input>   the gradient of each input that takes one
  <case>.grad.<key>     the gradient of each parameter
  <case>.after.<key>    each buffer after the forward (BatchNorm's running statistics)
The metadata "interop_keys" lists the interop model's state_dict keys in PyTorch's order.

Run with Debian's PyTorch: /usr/bin/python3 tests/ref/layers.py
tests/ref/check_interop.py imports TinyUNet from here.
"""
import json
import math

import torch
from torch import nn

from common import save


def timestep_embedding(t, dim, max_period=10000.0):
    """improved-diffusion's sinusoidal embedding: [cos(t f_i), sin(t f_i)] with
    f_i = exp(-ln(max_period) i / half), i < half = dim // 2, and a zero column for odd dim."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros(t.shape[0], 1)], dim=1)
    return emb


class TinyUNet(nn.Module):
    """A small UNet-like model touching every layer kind the lessons use: an embedding MLP for
    the timestep plus a class embedding, a conv block with BatchNorm (as ContextUnet's),
    a strided conv down with GroupNorm, self-attention at the bottleneck, a transposed conv up
    and a skip connection. x (B, 3, 8, 8), t (B), y (B) -> (B, 3, 8, 8)."""

    def __init__(self, channels=3, width=8, emb_dim=16, num_classes=10, heads=2):
        super().__init__()
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes, emb_dim)
        self.init_conv = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1),
                                       nn.BatchNorm2d(width), nn.GELU())
        self.down = nn.Sequential(nn.GroupNorm(4, width), nn.SiLU(),
                                  nn.Conv2d(width, 2 * width, 3, stride=2, padding=1))
        self.emb_proj = nn.Linear(emb_dim, 2 * width)
        self.attn_norm = nn.GroupNorm(4, 2 * width)
        self.attn = nn.MultiheadAttention(2 * width, heads, batch_first=True)
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.out = nn.Sequential(nn.GroupNorm(4, 2 * width), nn.SiLU(),
                                 nn.Conv2d(2 * width, channels, 3, padding=1))

    def forward(self, x, t, y):
        emb = self.time_mlp(timestep_embedding(t, self.width)) + self.label_emb(y.long())
        h0 = self.init_conv(x)
        h = self.down(h0) + self.emb_proj(emb)[:, :, None, None]
        b, c, hh, ww = h.shape
        a = self.attn_norm(h).flatten(2).transpose(1, 2)
        a, _ = self.attn(a, a, a, need_weights=False)
        h = h + a.transpose(1, 2).reshape(b, c, hh, ww)
        h = self.up(h)
        return self.out(torch.cat([h, h0], dim=1))


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def perturb(module, seed, scale=0.3):
    """Moves every parameter away from its default (GroupNorm's 1 and 0 would hide mix-ups)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def module_case(store, name, module, inputs, fn=None, seed=0):
    """Stores the state, runs out = fn(module, **inputs), back-propagates a random grad_out
    and stores the output, the input and parameter gradients and the buffers afterwards."""
    fn = fn or (lambda m, x: m(x))
    for key, value in module.state_dict().items():
        store[f"{name}.state.{key}"] = value.detach().float().clone()
    leaves = {}
    for key, value in inputs.items():
        value = value.detach().clone()
        if key not in ("mask", "idx_x", "t", "y"):
            value.requires_grad_(True)
        leaves[key] = value
    module.zero_grad()
    out = fn(module, **leaves)
    grad_out = randn(*out.shape, seed=seed + 1)
    out.backward(grad_out)
    for key, value in leaves.items():
        store[f"{name}.{key}"] = value.detach().float()
        if value.grad is not None:
            store[f"{name}.grad.{key}"] = value.grad.clone()
    for key, p in module.named_parameters():
        store[f"{name}.grad.{key}"] = p.grad.clone()  # zero_grad later reuses p.grad
    for key, b in module.named_buffers():
        store[f"{name}.after.{key}"] = b.detach().float().clone()
    store[f"{name}.out"] = out.detach()
    store[f"{name}.grad_out"] = grad_out


def layer_cases(store):
    torch.manual_seed(0)
    x = lambda *shape: randn(*shape, seed=sum(shape))  # noqa: E731
    module_case(store, "linear", nn.Linear(5, 4), {"x": x(2, 3, 5)})
    module_case(store, "linear_nobias", nn.Linear(5, 4, bias=False), {"x": x(3, 5)})
    module_case(store, "conv2d", nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
                {"x": x(2, 4, 7, 7)})
    module_case(store, "conv2d_dilated", nn.Conv2d(3, 4, 3, padding=2, dilation=2, bias=False),
                {"x": x(1, 3, 6, 6)})
    module_case(store, "conv_transpose2d",
                nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
                {"x": x(2, 4, 4, 4)})
    module_case(store, "conv_transpose2d_k4", nn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False),
                {"x": x(1, 3, 3, 3)})

    norms = [("group_norm", nn.GroupNorm(2, 6), (2, 6, 3, 3)),
             ("group_norm_noaffine", nn.GroupNorm(3, 6, affine=False), (2, 6, 2, 3)),
             ("layer_norm", nn.LayerNorm(8), (2, 3, 8)),
             ("layer_norm_2d_noaffine", nn.LayerNorm([3, 4], elementwise_affine=False), (2, 3, 4))]
    for name, module, shape in norms:
        perturb(module, seed=len(name))
        module_case(store, name, module, {"x": 2 * x(*shape) + 1})

    bn = nn.BatchNorm2d(3, momentum=0.2)
    perturb(bn, seed=5)
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.5]))
    bn.num_batches_tracked.fill_(3)
    module_case(store, "batch_norm_train", bn, {"x": 2 * x(4, 3, 3, 3) + 1})
    module_case(store, "batch_norm_eval", bn.eval(), {"x": x(2, 3, 2, 2)})

    module_case(store, "embedding", nn.Embedding(10, 4),
                {"idx_x": torch.tensor([[1.0, 7.0, 1.0], [9.0, 0.0, 7.0]])},
                fn=lambda m, idx_x: m(idx_x.long()))

    module_case(store, "max_pool2d", nn.MaxPool2d(2), {"x": x(1, 2, 6, 6)})
    module_case(store, "max_pool2d_pad", nn.MaxPool2d(3, stride=2, padding=1), {"x": x(1, 2, 7, 7)})
    module_case(store, "avg_pool2d", nn.AvgPool2d(2), {"x": x(1, 2, 6, 6)})
    module_case(store, "avg_pool2d_pad", nn.AvgPool2d(3, stride=2, padding=1), {"x": x(1, 2, 7, 7)})
    module_case(store, "upsample", nn.Upsample(scale_factor=2, mode="nearest"),
                {"x": x(1, 2, 3, 3)})
    for name, module in [("relu", nn.ReLU()), ("gelu", nn.GELU()), ("gelu_tanh", nn.GELU("tanh")),
                         ("silu", nn.SiLU()), ("identity", nn.Identity())]:
        module_case(store, name, module, {"x": 2 * x(2, 3, 4)})
    module_case(store, "flatten", nn.Flatten(), {"x": x(2, 3, 2, 2)})
    module_case(store, "sequential", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)),
                {"x": x(5, 4)})


def attention_cases(store):
    torch.manual_seed(1)
    self_attn = lambda m, x: m(x, x, x, need_weights=False)[0]  # noqa: E731
    cross_attn = lambda m, x, context: m(x, context, context, need_weights=False)[0]  # noqa: E731

    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    perturb(mha, seed=11)
    module_case(store, "mha_self", mha, {"x": randn(2, 5, 8, seed=12)}, fn=self_attn)

    # mask: 1 = attend (tinydiff), PyTorch's boolean attn_mask is True where masked out
    causal = torch.tril(torch.ones(4, 4))
    module_case(store, "mha_mask", mha, {"x": randn(2, 4, 8, seed=13), "mask": causal},
                fn=lambda m, x, mask: m(x, x, x, attn_mask=mask == 0, need_weights=False)[0])

    cross = nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True)
    perturb(cross, seed=14)
    module_case(store, "mha_cross", cross,
                {"x": randn(2, 3, 8, seed=15), "context": randn(2, 5, 6, seed=16)}, fn=cross_attn)

    packed = nn.MultiheadAttention(8, 4, batch_first=True)
    perturb(packed, seed=17)
    module_case(store, "mha_cross_packed", packed,
                {"x": randn(2, 3, 8, seed=18), "context": randn(2, 4, 8, seed=19)}, fn=cross_attn)

    nobias = nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
    module_case(store, "mha_nobias", nobias, {"x": randn(1, 3, 8, seed=20)}, fn=self_attn)


def timestep_cases(store):
    t = torch.tensor([0.0, 1.0, 10.0, 250.5, 999.0])
    store["timestep_even.t"] = t
    store["timestep_even.out"] = timestep_embedding(t, 16)
    store["timestep_odd.t"] = t
    store["timestep_odd.out"] = timestep_embedding(t, 9, max_period=1000.0)


def interop_case(store):
    """TinyUNet in training mode: forward and backward, and the BatchNorm buffers after it."""
    torch.manual_seed(2)
    model = TinyUNet()
    perturb(model, seed=21, scale=0.1)
    inputs = {"x": randn(2, 3, 8, 8, seed=22), "t": torch.tensor([3.0, 480.0]),
              "y": torch.tensor([1.0, 7.0])}
    module_case(store, "interop", model, inputs, fn=lambda m, x, t, y: m(x, t, y), seed=23)
    return list(model.state_dict().keys())


def main():
    store = {}
    layer_cases(store)
    attention_cases(store)
    timestep_cases(store)
    keys = interop_case(store)
    save("layers", store, metadata={"interop_keys": json.dumps(keys)})


if __name__ == "__main__":
    main()

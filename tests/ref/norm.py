"""PyTorch reference for normalisation, dropout, embedding and attention.

Writes tests/ref/fixtures/norm.safetensors, read by tests/test_norm_parity.cpp.
Run from anywhere with Debian's PyTorch: /usr/bin/python3 tests/ref/norm.py
"""
import math

import torch
import torch.nn.functional as F

from common import case, save


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape) * scale + shift


def group_norm_cases(store):
    def gn(groups, affine=True):
        if affine:
            return lambda x, weight, bias: F.group_norm(x, groups, weight, bias)
        return lambda x: F.group_norm(x, groups)

    c = 6
    case(store, "gn_groups1", gn(1), dict(x=randn(2, c, 3, 3), weight=randn(c), bias=randn(c)))
    case(store, "gn_groups2_3d", gn(2), dict(x=randn(2, c, 5), weight=randn(c), bias=randn(c)))
    case(store, "gn_groupsC_noaffine", gn(c, affine=False), dict(x=randn(2, c, 3, 3)))
    case(store, "gn_weight_only", lambda x, weight: F.group_norm(x, 2, weight),
         dict(x=randn(2, 4, 3), weight=randn(4)))
    # The ContextUnet's GroupNorm(8, 128) on a small image, with inputs far from mean 0, var 1.
    case(store, "gn_contextunet", gn(8),
         dict(x=randn(2, 128, 4, 4, scale=3.0, shift=1.5), weight=randn(128), bias=randn(128)))


def layer_norm_cases(store):
    case(store, "ln_1axis", lambda x, weight, bias: F.layer_norm(x, [10], weight, bias),
         dict(x=randn(4, 7, 10, scale=2.0, shift=-1.0), weight=randn(10), bias=randn(10)))
    case(store, "ln_2axes", lambda x, weight, bias: F.layer_norm(x, [4, 6], weight, bias),
         dict(x=randn(3, 5, 4, 6), weight=randn(4, 6), bias=randn(4, 6)))
    case(store, "ln_noaffine", lambda x: F.layer_norm(x, [8]), dict(x=randn(5, 8)))
    # 100 columns: the weight/bias gradient kernel works in blocks of 64 columns.
    case(store, "ln_wide", lambda x, weight, bias: F.layer_norm(x, [100], weight, bias),
         dict(x=randn(6, 100), weight=randn(100), bias=randn(100)))


def batch_norm_case(store, name, x, affine, training, momentum):
    """Also stores the running statistics before ("<name>.running_mean") and after the call."""
    c = x.shape[1]
    running_mean, running_var = randn(c, scale=0.3), torch.rand(c) + 0.5
    store[f"{name}.running_mean"] = running_mean.clone()
    store[f"{name}.running_var"] = running_var.clone()
    inputs = dict(x=x, weight=randn(c), bias=randn(c)) if affine else dict(x=x)

    def bn(x, weight=None, bias=None):
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum)

    case(store, name, bn, inputs)
    store[f"{name}.running_mean_after"] = running_mean
    store[f"{name}.running_var_after"] = running_var


def dropout_cases(store):
    case(store, "dropout_eval", lambda x: F.dropout(x, 0.5, training=False), dict(x=randn(3, 4)))
    # PyTorch's mask differs from ours (another RNG): the C++ test compares the kept elements.
    case(store, "dropout_train", lambda x: F.dropout(x, 0.3, training=True), dict(x=randn(50, 40)))


def embedding_cases(store):
    idx = torch.tensor([[0, 3, 3, 9], [3, 1, 0, 3], [7, 7, 2, 9]], dtype=torch.float32)
    case(store, "emb_repeat", lambda idx_indices, weight: F.embedding(idx_indices.long(), weight),
         dict(idx_indices=idx, weight=randn(10, 6)))


def sdpa(q, k, v, mask=None, scale=None):
    """softmax(q k^T scale + bias) v, bias = -1e9 where mask == 0 (PyTorch 1.13 has no F.sdpa)."""
    scale = scale if scale else 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        scores = scores + (mask == 0).float() * -1e9
    return torch.softmax(scores, dim=-1) @ v


def attention_cases(store):
    case(store, "attn_self", lambda x: sdpa(x, x, x), dict(x=randn(2, 3, 8, 16)))
    case(store, "attn_cross", sdpa,
         dict(q=randn(2, 2, 6, 8), k=randn(2, 2, 10, 8), v=randn(2, 2, 10, 5)))
    case(store, "attn_scale", lambda q, k, v: sdpa(q, k, v, scale=0.3),
         dict(q=randn(1, 4, 5, 8), k=randn(1, 4, 5, 8), v=randn(1, 4, 5, 8)))
    # Padding mask (B, 1, 1, Lk): sample 0 has 5 valid keys of 7, sample 1 all 7.
    padding = torch.ones(2, 1, 1, 7)
    padding[0, :, :, 5:] = 0
    store["attn_padding.mask"] = padding
    case(store, "attn_padding", lambda q, k, v: sdpa(q, k, v, padding),
         dict(q=randn(2, 2, 6, 8), k=randn(2, 2, 7, 8), v=randn(2, 2, 7, 8)))
    # Causal mask (Lq, Lk), broadcast over batch and heads.
    causal = torch.tril(torch.ones(6, 6))
    store["attn_causal.mask"] = causal
    case(store, "attn_causal", lambda q, k, v: sdpa(q, k, v, causal),
         dict(q=randn(2, 2, 6, 4), k=randn(2, 2, 6, 4), v=randn(2, 2, 6, 4)))


def main():
    torch.manual_seed(0)
    store = {}
    group_norm_cases(store)
    layer_norm_cases(store)
    batch_norm_case(store, "bn_train", randn(4, 3, 5, 5, scale=2.0, shift=1.0), True, True, 0.1)
    batch_norm_case(store, "bn_train_2d_noaffine", randn(8, 5), False, True, 0.3)
    batch_norm_case(store, "bn_eval", randn(4, 3, 5, 5), True, False, 0.1)
    dropout_cases(store)
    embedding_cases(store)
    attention_cases(store)
    save("norm", store)


if __name__ == "__main__":
    main()

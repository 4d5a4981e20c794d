"""Shared helpers for the PyTorch reference scripts (run with Debian's /usr/bin/python3).

Each script in tests/ref/ builds ops or models in PyTorch, runs them on fixed inputs and
writes one fixture file tests/ref/fixtures/<name>.safetensors. The C++ parity tests read
these files. Fixtures are committed, so CI never needs PyTorch.

Key convention inside a fixture: "<case>.<what>", e.g. "conv2d_stride2.x",
"conv2d_stride2.weight", "conv2d_stride2.out", "conv2d_stride2.grad_out" (the gradient
fed to backward), "conv2d_stride2.grad.x" (the resulting input gradient).
"""
import json
import os
import struct

import numpy as np
import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def save(name, tensors, metadata=None):
    """Writes a dict of tensors (torch or numpy, stored as F32) as fixtures/<name>.safetensors."""
    os.makedirs(FIXTURES, exist_ok=True)
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for key in sorted(tensors):
        value = tensors[key]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.array(value, dtype=np.float32, order="C")  # keeps 0-d scalars 0-d
        data = array.tobytes()
        header[key] = {"dtype": "F32", "shape": list(array.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (len(text) + 8) % 8) % 8)
    path = os.path.join(FIXTURES, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


def load(path):
    """Reads a safetensors file written by tinydiff or save(); returns (tensors, metadata)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
    out = {}
    for key, e in header.items():
        b, end = e["data_offsets"]
        out[key] = torch.from_numpy(np.frombuffer(data[b:end], dtype=dtypes[e["dtype"]])
                                    .reshape(e["shape"]).copy())
    return out, meta


def case(store, name, fn, inputs, seed=0):
    """Runs out = fn(**inputs), back-propagates a fixed random grad_out, and stores inputs,
    out, grad_out and the gradient of every floating input that requires grad."""
    torch.manual_seed(seed)
    leaves = {}
    for k, v in inputs.items():
        v = v.detach().clone()
        if v.is_floating_point() and not k.startswith("idx_"):
            v.requires_grad_(True)
        leaves[k] = v
    out = fn(**leaves)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
    out.backward(grad_out)
    for k, v in leaves.items():
        store[f"{name}.{k}"] = v.detach().float()
        if v.grad is not None:
            store[f"{name}.grad.{k}"] = v.grad
    store[f"{name}.out"] = out.detach()
    store[f"{name}.grad_out"] = grad_out

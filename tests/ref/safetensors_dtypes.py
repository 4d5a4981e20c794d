"""Writes tests/ref/fixtures/safetensors_dtypes.safetensors: tensors stored in the dtypes that
tinydiff converts to float32 on load (F64, I64, I32, U8, F16, BF16), each next to
"<name>.expected", the float32 values PyTorch's .float() gives for it.

The file is written here byte by byte (common.save stores F32 only), with metadata that needs
JSON escapes: quotes, a backslash, control characters and non-ASCII text (\\u00e9 and a
surrogate pair for an emoji, since json.dumps escapes everything outside ASCII).

Run with Debian's PyTorch: /usr/bin/python3 tests/ref/safetensors_dtypes.py
"""
import json
import os
import struct

import torch

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "safetensors_dtypes.safetensors")

DTYPE_NAMES = {torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8",
               torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}

METADATA = {
    "note": 'a "quoted" word, a back\\slash,\na newline and\ta tab',
    "unicode": "caf\u00e9 \U0001F600",
    "format": "pt",
}


def raw_bytes(t):
    """Little-endian bytes of a contiguous tensor (numpy has no bfloat16: view it as int16)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def tensors():
    g = torch.Generator().manual_seed(0)
    inf, nan = float("inf"), float("nan")
    t = {
        "f64": torch.tensor([[3.141592653589793, -1e-30, 1e30], [0.1, -2.5, 1 / 3]], dtype=torch.float64),
        "f64_scalar": torch.tensor(2.718281828459045, dtype=torch.float64),  # 0-d
        "i64": torch.tensor([0, -1, 2 ** 40, -(2 ** 31) - 5, 123456789, 2 ** 62], dtype=torch.int64),
        "i32": torch.tensor([[-2 ** 31, 2 ** 31 - 1], [7, -7]], dtype=torch.int32),
        "i32_empty": torch.zeros(0, 3, dtype=torch.int32),
        "u8": torch.tensor([[0, 1], [128, 255]], dtype=torch.uint8),
        # zero, -0, normal, the largest half, the smallest subnormal, a subnormal, +-inf, 0.1
        "f16": torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 2 ** -24, 1e-5, inf, -inf, 0.1],
                            dtype=torch.float16),
        "f16_randn": torch.randn(3, 4, 5, generator=g).to(torch.float16),
        "f16_nan": torch.tensor([nan], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.140625, 1e30, 1e-30, inf, 0.1, -0.0], dtype=torch.bfloat16),
        "bf16_randn": torch.randn(2, 3, generator=g).to(torch.bfloat16),
    }
    for name in list(t):
        t[name + ".expected"] = t[name].float()
    return t


def write(path, named, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(named):
        data = raw_bytes(named[name])
        header[name] = {"dtype": DTYPE_NAMES[named[name].dtype], "shape": list(named[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header)  # ensure_ascii: non-ASCII metadata becomes \u escapes
    text += " " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("ascii"))
        for blob in blobs:
            f.write(blob)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(named)} tensors)")


if __name__ == "__main__":
    write(FIXTURE, tensors(), METADATA)

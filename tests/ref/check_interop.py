"""The reverse direction of tests/test_interop.cpp: a tinydiff checkpoint runs in PyTorch.

The C++ test saves its own (freshly initialised, one BatchNorm step taken) TinyUNet's
state_dict to build/interop_model.safetensors and the model's eval-mode output on fixed
inputs to build/interop_output.safetensors. This script loads that state_dict strictly into
PyTorch's TinyUNet (tests/ref/layers.py), runs the same inputs and compares the outputs.
Not run in CI (it needs PyTorch). Run it by hand from the repository root after `make test`:

    /usr/bin/python3 tests/ref/check_interop.py [BUILD_DIR]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load  # noqa: E402
from layers import TinyUNet  # noqa: E402


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    state, _ = load(os.path.join(build, "interop_model.safetensors"))
    io, _ = load(os.path.join(build, "interop_output.safetensors"))
    model = TinyUNet()
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped key
    model.eval()
    with torch.no_grad():
        out = model(io["x"], io["t"], io["y"])
    expected = io["out"]
    abs_err = (out - expected).abs().max().item()
    rel_err = abs_err / expected.abs().max().item()
    print(f"loaded {len(state)} tensors strictly; output {list(out.shape)}: "
          f"max abs error {abs_err:.3g}, relative to max |out| {rel_err:.3g}")
    if rel_err > 1e-4:
        print("FAILED: PyTorch's output differs from tinydiff's")
        sys.exit(1)
    print("OK: tinydiff's checkpoint gives the same output in PyTorch")


if __name__ == "__main__":
    main()

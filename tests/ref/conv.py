"""PyTorch references for linear, conv2d, conv_transpose2d, pooling and upsampling.

Writes tests/ref/fixtures/conv.safetensors, read by tests/test_conv_parity.cpp. Run with
Debian's PyTorch: /usr/bin/python3 tests/ref/conv.py

Inputs are float32 values; PyTorch computes in float64 and the results are rounded to
float32, so the fixtures carry no float32 rounding of their own and the C++ tests can hold
tinydiff to a tight tolerance.
"""
import torch
import torch.nn.functional as F

from common import case, save


def randn(*shape, seed):
    """float32 normal values, widened to float64 exactly."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).double()


def float32_out(fn):
    """Runs fn in float64 and returns its output rounded to float32 (case() stores floats)."""
    return lambda **kw: fn(**kw).float()


def linear_cases(store):
    linear = float32_out(lambda x, weight, bias=None: F.linear(x, weight, bias))
    case(store, "linear_bias", linear,
         {"x": randn(4, 5, seed=1), "weight": randn(3, 5, seed=2), "bias": randn(3, seed=3)})
    case(store, "linear_nobias", linear, {"x": randn(4, 5, seed=4), "weight": randn(3, 5, seed=5)})
    case(store, "linear_3d", linear,
         {"x": randn(2, 3, 5, seed=6), "weight": randn(4, 5, seed=7), "bias": randn(4, seed=8)})


# name: (x shape, weight shape, bias?, stride, padding, dilation, groups)
CONV2D = {
    "conv2d_stride1_pad1": ((2, 3, 6, 6), (4, 3, 3, 3), True, 1, 1, 1, 1),
    "conv2d_stride2_pad1": ((2, 3, 7, 7), (4, 3, 3, 3), True, 2, 1, 1, 1),
    "conv2d_pad0": ((2, 3, 6, 6), (4, 3, 3, 3), True, 1, 0, 1, 1),
    "conv2d_pad2_stride2": ((2, 3, 6, 6), (4, 3, 3, 3), True, 2, 2, 1, 1),
    "conv2d_dilation2": ((2, 3, 7, 7), (4, 3, 3, 3), True, 1, 2, 2, 1),
    "conv2d_groups2": ((2, 4, 5, 5), (6, 2, 3, 3), True, 1, 1, 1, 2),
    "conv2d_depthwise": ((2, 4, 5, 5), (4, 1, 3, 3), True, 1, 1, 1, 4),
    "conv2d_nobias": ((2, 3, 5, 5), (4, 3, 3, 3), False, 1, 1, 1, 1),
    "conv2d_1x1": ((2, 3, 4, 5), (5, 3, 1, 1), True, 1, 0, 1, 1),
    "conv2d_1x1_stride2": ((2, 3, 5, 5), (5, 3, 1, 1), True, 2, 0, 1, 1),
    "conv2d_nonsquare": ((2, 3, 5, 8), (4, 3, 3, 2), True, 2, 1, 1, 1),
    "conv2d_wide": ((3, 16, 8, 8), (16, 16, 3, 3), True, 1, 1, 1, 1),
}

# name: (x shape, weight shape, bias?, stride, padding, output_padding, groups, dilation)
CONV_TRANSPOSE2D = {
    "conv_transpose2d_k2s2": ((2, 6, 4, 4), (6, 3, 2, 2), True, 2, 0, 0, 1, 1),
    "conv_transpose2d_k4s4": ((2, 6, 1, 1), (6, 4, 4, 4), True, 4, 0, 0, 1, 1),
    "conv_transpose2d_s2p1op1": ((2, 3, 4, 4), (3, 4, 3, 3), True, 2, 1, 1, 1, 1),
    "conv_transpose2d_groups2": ((2, 4, 3, 3), (4, 3, 3, 3), True, 1, 1, 0, 2, 1),
    "conv_transpose2d_dilation2": ((2, 3, 4, 5), (3, 2, 3, 3), False, 1, 1, 0, 1, 2),
    "conv_transpose2d_1x1": ((2, 3, 4, 4), (3, 5, 1, 1), True, 1, 0, 0, 1, 1),
}


def conv_cases(store):
    seed = 100
    for name, (xs, ws, has_bias, stride, padding, dilation, groups) in CONV2D.items():
        inputs = {"x": randn(*xs, seed=seed), "weight": randn(*ws, seed=seed + 1)}
        if has_bias:
            inputs["bias"] = randn(ws[0], seed=seed + 2)
        fn = float32_out(lambda x, weight, bias=None, s=stride, p=padding, d=dilation, g=groups:
                         F.conv2d(x, weight, bias, s, p, d, g))
        case(store, name, fn, inputs, seed=seed)
        seed += 10
    for name, (xs, ws, has_bias, stride, padding, out_pad, groups, dilation) in \
            CONV_TRANSPOSE2D.items():
        inputs = {"x": randn(*xs, seed=seed), "weight": randn(*ws, seed=seed + 1)}
        if has_bias:
            inputs["bias"] = randn(ws[1] * groups, seed=seed + 2)
        fn = float32_out(lambda x, weight, bias=None, s=stride, p=padding, o=out_pad, g=groups,
                         d=dilation: F.conv_transpose2d(x, weight, bias, s, p, o, g, d))
        case(store, name, fn, inputs, seed=seed)
        seed += 10


def pool_cases(store):
    def max_pool(k, s, p):
        return float32_out(lambda x: F.max_pool2d(x, k, s, p))

    def avg_pool(k, s, p):
        return float32_out(lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=True))

    case(store, "max_pool2d_k2", max_pool(2, 2, 0), {"x": randn(2, 3, 6, 6, seed=300)})
    case(store, "max_pool2d_k3s2p1", max_pool(3, 2, 1), {"x": randn(2, 3, 7, 7, seed=301)})
    # Whole numbers in {0, 1, 2}: most windows hold ties, and the gradient must go to the
    # first maximum of each window in row-major order.
    ties = torch.randint(0, 3, (2, 2, 6, 6), generator=torch.Generator().manual_seed(302))
    case(store, "max_pool2d_ties", max_pool(3, 2, 1), {"x": ties.double()})
    case(store, "avg_pool2d_k2", avg_pool(2, 2, 0), {"x": randn(2, 3, 6, 6, seed=303)})
    case(store, "avg_pool2d_k4", avg_pool(4, 4, 0), {"x": randn(2, 3, 4, 4, seed=304)})
    case(store, "avg_pool2d_k3s2p1", avg_pool(3, 2, 1), {"x": randn(2, 3, 7, 6, seed=305)})
    for scale in (2, 3):
        up = float32_out(lambda x, s=scale: F.interpolate(x, scale_factor=s, mode="nearest"))
        case(store, f"upsample_nearest2d_x{scale}", up, {"x": randn(2, 3, 3, 4, seed=306)})


if __name__ == "__main__":
    store = {}
    linear_cases(store)
    conv_cases(store)
    pool_cases(store)
    save("conv", store, {"torch": torch.__version__})

"""PyTorch reference for tinydiff's tensor-level ops (shape, indexing, elementwise, reductions,
matmul); read by tests/test_tensor_ops_parity.cpp.

Run with Debian's PyTorch:  /usr/bin/python3 tests/ref/tensor_ops.py
Writes tests/ref/fixtures/tensor_ops.safetensors. Each case stores its inputs, the output, a
random grad_out and the input gradients (see common.case). Ops that return several tensors
(split, chunk) are joined as cat(piece_i * (i + 1)) so that every piece gets its own gradient.
Index tensors are named idx_* and stored as float32, as tinydiff keeps them.
"""
import torch

from common import case, save


def uniform(shape, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * (hi - lo) + lo


def away_from_zero(shape, seed):
    """Values of magnitude in [0.2, 1] with random signs: no kinks of abs/relu nearby."""
    sign = torch.where(uniform(shape, -1, 1, seed + 1) > 0, 1.0, -1.0)
    return uniform(shape, 0.2, 1, seed) * sign


def index(values):
    return torch.tensor(values, dtype=torch.float32)


def joined(pieces, axis):
    return torch.cat([p * (i + 1) for i, p in enumerate(pieces)], axis)


def shape_cases(s):
    x234 = uniform((2, 3, 4), -1, 1, 1)
    case(s, "reshape_contiguous", lambda x: x.reshape(4, -1), {"x": x234})
    case(s, "reshape_transposed", lambda x: x.transpose(0, 2).reshape(6, 4), {"x": x234})
    case(s, "permute", lambda x: x.permute(2, 0, 1), {"x": x234})
    case(s, "transpose", lambda x: x.transpose(0, 2), {"x": x234})
    case(s, "expand", lambda x: x.expand(2, 3, 4), {"x": uniform((3, 1), -1, 1, 2)})
    case(s, "squeeze", lambda x: x.squeeze(1), {"x": uniform((2, 1, 3), -1, 1, 3)})
    case(s, "unsqueeze", lambda x: x.unsqueeze(-1), {"x": uniform((2, 3), -1, 1, 4)})
    case(s, "flatten", lambda x: x.flatten(1, 2), {"x": uniform((2, 3, 2, 2), -1, 1, 5)})
    case(s, "narrow", lambda x: x.narrow(1, 1, 3), {"x": uniform((4, 5), -1, 1, 6)})
    case(s, "slice_step", lambda x: x[:, 1:6:2], {"x": uniform((5, 7), -1, 1, 7)})
    case(s, "slice_negative_start", lambda x: x[-4:100:3], {"x": uniform((5, 7), -1, 1, 8)})
    case(s, "cat_axis1", lambda a, b, c: torch.cat([a, b, c], 1),
         {"a": uniform((2, 3), -1, 1, 9), "b": uniform((2, 1), -1, 1, 10),
          "c": uniform((2, 4), -1, 1, 11)})
    case(s, "cat_axis0_3d", lambda a, b: torch.cat([a, b], 0),
         {"a": uniform((1, 2, 3), -1, 1, 12), "b": uniform((2, 2, 3), -1, 1, 13)})
    case(s, "stack_axis1", lambda a, b, c: torch.stack([a, b, c], 1),
         {"a": uniform((2, 3), -1, 1, 14), "b": uniform((2, 3), -1, 1, 15),
          "c": uniform((2, 3), -1, 1, 16)})
    case(s, "split_uneven", lambda x: joined(torch.split(x, 3, 0), 0),
         {"x": uniform((7, 3), -1, 1, 17)})
    case(s, "chunk_axis1", lambda x: joined(torch.chunk(x, 3, 1), 1),
         {"x": uniform((2, 7), -1, 1, 18)})
    case(s, "contiguous", lambda x: x.transpose(0, 1).contiguous(),
         {"x": uniform((3, 4), -1, 1, 19)})
    case(s, "clone", lambda x: x.clone(), {"x": uniform((3, 4), -1, 1, 20)})
    case(s, "to_device", lambda x: (x * 2).to("cpu"), {"x": uniform((3, 4), -1, 1, 21)})
    case(s, "repeat", lambda x: x.repeat(2, 1, 2), {"x": uniform((2, 3), -1, 1, 22)})


def indexing_cases(s):
    case(s, "index_select_repeated", lambda x, idx_i: x.index_select(1, idx_i.long()),
         {"x": uniform((3, 4, 2), -1, 1, 30), "idx_i": index([3, 0, 3, 1])})
    case(s, "gather_axis1", lambda x, idx_i: x.gather(1, idx_i.long()),
         {"x": uniform((3, 4), -1, 1, 31),
          "idx_i": index([[0, 3, 3, 1, 2], [2, 2, 0, 1, 0], [3, 1, 1, 1, 0]])})
    case(s, "gather_axis0_smaller_index", lambda x, idx_i: x.gather(0, idx_i.long()),
         {"x": uniform((3, 4, 2), -1, 1, 32),
          "idx_i": index([[[2, 0], [1, 1]], [[0, 0], [2, 1]]])})
    case(s, "scatter_add_axis1", lambda x, idx_i, src: x.scatter_add(1, idx_i.long(), src),
         {"x": uniform((3, 5), -1, 1, 33),
          "idx_i": index([[0, 4, 4, 1], [2, 2, 2, 3], [1, 0, 3, 4]]),
          "src": uniform((3, 4), -1, 1, 34)})
    case(s, "scatter_add_smaller_index", lambda x, idx_i, src: x.scatter_add(0, idx_i.long(), src),
         {"x": uniform((3, 4), -1, 1, 35), "idx_i": index([[2, 0], [2, 1]]),
          "src": uniform((2, 2), -1, 1, 36)})


def elementwise_cases(s):
    a = uniform((2, 3, 4), -1, 1, 40)
    b_small = uniform((3, 1), 0.5, 2, 41)
    a_small = uniform((3, 1), -1, 1, 42)
    b_big = uniform((2, 1, 4), 0.5, 2, 43)
    binary = [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)]
    for name, fn in binary:
        case(s, f"{name}_broadcast_b", lambda a, b, fn=fn: fn(a, b), {"a": a, "b": b_small})
        case(s, f"{name}_broadcast_both", lambda a, b, fn=fn: fn(a, b), {"a": a_small, "b": b_big})
    case(s, "add_scalar", lambda x: x + 1.5, {"x": a})
    case(s, "mul_scalar", lambda x: x * -2.5, {"x": a})
    case(s, "rsub_scalar", lambda x: 3.0 - x, {"x": a})
    case(s, "pow_tensor", torch.pow, {"input": uniform((2, 3), 0.5, 2, 44),
                                      "exponent": uniform((3,), -1.5, 1.5, 45)})
    case(s, "pow_scalar", lambda x: x ** 2.5, {"x": uniform((2, 3), 0.5, 2, 46)})
    case(s, "pow_scalar_negative_base", lambda x: x ** 3.0, {"x": uniform((2, 3), -2, 2, 47)})
    case(s, "maximum_broadcast", torch.maximum, {"input": a, "other": a_small})
    case(s, "minimum_broadcast", torch.minimum, {"input": a_small, "other": a})
    case(s, "where_broadcast", lambda idx_cond, x, y: torch.where(idx_cond > 0, x, y),
         {"idx_cond": index([[1, 0, 1, 1]]), "x": uniform((3, 4), -1, 1, 48),
          "y": uniform((3, 1), -1, 1, 49)})
    x = away_from_zero((3, 4), 50)
    pos = uniform((3, 4), 0.5, 2, 51)
    unary = {
        "neg": (torch.neg, x), "square": (torch.square, x), "sqrt": (torch.sqrt, pos),
        "rsqrt": (torch.rsqrt, pos), "exp": (torch.exp, x), "log": (torch.log, pos),
        "log1p": (torch.log1p, uniform((3, 4), -0.5, 1, 52)), "abs": (torch.abs, x),
        "sin": (torch.sin, x * 3), "cos": (torch.cos, x * 3), "tanh": (torch.tanh, x * 2),
        "sigmoid": (torch.sigmoid, x * 3), "relu": (torch.relu, x),
        "gelu": (torch.nn.functional.gelu, x * 3),
        "gelu_tanh": (lambda v: torch.nn.functional.gelu(v, approximate="tanh"), x * 3),
        "silu": (torch.nn.functional.silu, x * 3),
        "clamp": (lambda v: torch.clamp(v, -0.5, 0.5), x),
    }
    for name, (fn, value) in unary.items():
        case(s, name, lambda x, fn=fn: fn(x), {"x": value})


def reduction_cases(s):
    x = uniform((3, 2, 4), -1, 1, 60)
    case(s, "sum_axis1", lambda x: x.sum(1), {"x": x})
    case(s, "sum_axes02_keepdim", lambda x: x.sum((0, 2), keepdim=True), {"x": x})
    case(s, "sum_all", lambda x: x.sum(), {"x": x})
    case(s, "mean_axes02", lambda x: x.mean((0, 2)), {"x": x})
    case(s, "mean_all", lambda x: x.mean(), {"x": x})
    case(s, "var_axes02", lambda x: x.var((0, 2)), {"x": x})
    case(s, "var_axis2_biased_keepdim", lambda x: x.var(2, unbiased=False, keepdim=True), {"x": x})
    case(s, "max_axis1", lambda x: x.amax(1), {"x": x})
    case(s, "max_axes02_keepdim", lambda x: x.amax((0, 2), keepdim=True), {"x": x})
    case(s, "max_all", lambda x: x.amax(), {"x": x})
    case(s, "min_axis2", lambda x: x.amin(2), {"x": x})
    case(s, "min_all", lambda x: x.amin(), {"x": x})
    case(s, "logsumexp_axis2", lambda x: torch.logsumexp(x * 4, 2), {"x": x})
    case(s, "logsumexp_axes01_keepdim", lambda x: torch.logsumexp(x * 4, (0, 1), keepdim=True),
         {"x": x})
    x243 = {"x": uniform((2, 4, 3), -1, 1, 61)}
    case(s, "softmax_middle", lambda x: torch.softmax(x * 3, 1), x243)
    case(s, "softmax_last", lambda x: torch.softmax(x * 3, -1), x243)
    case(s, "log_softmax_middle", lambda x: torch.log_softmax(x * 3, 1), x243)


def matmul_cases(s):
    def mm(a, b):
        return torch.matmul(a, b)

    shapes = {
        "matmul_2d": ((3, 4), (4, 5)),
        "matmul_batched": ((2, 3, 4), (2, 4, 2)),
        "matmul_broadcast_batch": ((2, 1, 3, 4), (3, 4, 2)),
        "matmul_vector_matrix": ((4,), (2, 4, 3)),
        "matmul_matrix_vector": ((2, 3, 4), (4,)),
        "matmul_vector_vector": ((4,), (4,)),
    }
    for seed, (name, (shape_a, shape_b)) in enumerate(shapes.items()):
        case(s, name, mm, {"a": uniform(shape_a, -1, 1, 70 + 2 * seed),
                           "b": uniform(shape_b, -1, 1, 71 + 2 * seed)})
    case(s, "matmul_transposed", lambda a, b: a.transpose(-1, -2) @ b.transpose(-1, -2),
         {"a": uniform((2, 4, 3), -1, 1, 82), "b": uniform((2, 5, 4), -1, 1, 83)})


def main():
    store = {}
    shape_cases(store)
    indexing_cases(store)
    elementwise_cases(store)
    reduction_cases(store)
    matmul_cases(store)
    save("tensor_ops", store, {"torch": torch.__version__})


if __name__ == "__main__":
    main()

"""Reference values for tests/test_optim.cpp: torch.optim on fixed gradients.

Each optimizer case starts from the same two parameters, "weight" (3, 4) and "bias" (4,), and
takes 5 steps on gradients drawn here. The fixture stores, for case C and step k = 0..4:
  C.init.<p>       the initial parameters
  C.grad<k>.<p>    the gradient given at step k (absent: the parameter has no gradient then)
  C.param<k>.<p>   the parameters after step k
  C.state.<buffer>.<p>, C.state.step.<p>   the optimizer state after the last step
The hyperparameters of each case are repeated in the C++ test.

clip_grad_norm_ cases store the gradients before (C.grad.<p>) and after (C.clipped.<p>) and
the returned total norm (C.total_norm).

Run with Debian's PyTorch: /usr/bin/python3 tests/ref/optim.py
"""
import torch

from common import save

STEPS = 5


def optimizer_case(store, name, make_optimizer, seed, skip=()):
    """skip: (step, parameter) pairs whose gradient is None at that step."""
    gen = torch.Generator().manual_seed(seed)
    params = {"weight": torch.randn(3, 4, generator=gen), "bias": torch.randn(4, generator=gen)}
    for p_name, p in params.items():
        store[f"{name}.init.{p_name}"] = p.clone()
        p.requires_grad_(True)
    opt = make_optimizer(list(params.values()))
    for k in range(STEPS):
        for p_name, p in params.items():
            if (k, p_name) in skip:
                p.grad = None
                continue
            p.grad = torch.randn(p.shape, generator=gen) * (0.5 + k)
            store[f"{name}.grad{k}.{p_name}"] = p.grad.clone()
        opt.step()
        for p_name, p in params.items():
            store[f"{name}.param{k}.{p_name}"] = p.detach().clone()
    for p_name, p in params.items():
        for key, value in opt.state[p].items():
            if torch.is_tensor(value):
                store[f"{name}.state.{key}.{p_name}"] = value.detach().float().clone()


def clip_case(store, name, max_norm, seed):
    gen = torch.Generator().manual_seed(seed)
    params = {"a": torch.randn(5, 3, generator=gen), "b": torch.randn(7, generator=gen),
              "no_grad": torch.randn(2, generator=gen)}
    for p_name in ("a", "b"):
        params[p_name].grad = torch.randn(params[p_name].shape, generator=gen)
        store[f"{name}.grad.{p_name}"] = params[p_name].grad.clone()
    total = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    store[f"{name}.total_norm"] = total.reshape(1)
    for p_name in ("a", "b"):
        store[f"{name}.clipped.{p_name}"] = params[p_name].grad.clone()


def main():
    store = {}
    optim = torch.optim
    optimizer_case(store, "sgd_plain_wd", lambda p: optim.SGD(p, lr=0.1, weight_decay=0.05), 10)
    optimizer_case(store, "sgd_momentum", lambda p: optim.SGD(p, lr=0.1, momentum=0.9), 11)
    optimizer_case(store, "sgd_nesterov_wd",
                   lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
                   12)
    optimizer_case(store, "sgd_dampening",
                   lambda p: optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.1),
                   13)
    optimizer_case(store, "adam", lambda p: optim.Adam(p, lr=0.01), 14)
    optimizer_case(store, "adam_wd",
                   lambda p: optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                   15, skip={(2, "bias")})
    optimizer_case(store, "adamw", lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1), 16)
    optimizer_case(store, "adamw_defaults", lambda p: optim.AdamW(p, lr=0.05), 17,
                   skip={(0, "bias"), (3, "weight")})
    clip_case(store, "clip", max_norm=1.0, seed=1)
    clip_case(store, "noclip", max_norm=100.0, seed=2)
    save("optim", store)


if __name__ == "__main__":
    main()

"""PyTorch reference for the losses, the diffusion likelihood terms and checkpointing.

Writes tests/ref/fixtures/loss.safetensors for tests/test_loss_parity.cpp and
tests/test_checkpoint.cpp. Run with Debian's PyTorch: /usr/bin/python3 tests/ref/loss.py

Inputs are drawn in float32 and the references are computed in float64 from exactly those
values, then stored as float32. improved-diffusion's normal_kl and discretized Gaussian
log-likelihood and VQ-Diffusion's multinomial_kl are written out below from their formulas
(neither package is a dependency). For each case the script also prints how far PyTorch's
own float32 result is from the float64 one, in units of the C++ tolerance (<= 1 passes):
the floor any float32 implementation can reach.
"""
import math

import torch
import torch.nn.functional as F

from common import case, save

torch.set_default_dtype(torch.float32)


def draw(seed, *shape, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) * (hi - lo) + lo).double()


def classes(seed, num_classes, *shape):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, shape, generator=g).double()


# ---- the reference formulas, written out ----

def normal_kl(mean1, logvar1, mean2, logvar2):
    # KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_cdf(z):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    # bins of half-width 1/255 around the 256 levels in [-1, 1]; edge bins open to +-inf
    inv_s = torch.exp(-log_scales)
    cdf_plus = approx_cdf(inv_s * (x - means + 1.0 / 255.0))
    cdf_min = approx_cdf(inv_s * (x - means - 1.0 / 255.0))
    log_lowest = torch.log(cdf_plus.clamp(min=1e-12))
    log_highest = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_inner = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_lowest, torch.where(x > 0.999, log_highest, log_inner))


def multinomial_kl(log_prob1, log_prob2, axis):
    return (log_prob1.exp() * (log_prob1 - log_prob2)).sum(dim=axis)


def mlp(x, w1, b1, w2, b2):
    # the function tests/test_checkpoint.cpp wraps in checkpoint
    return x + F.linear(F.silu(F.linear(x, w1, b1)), w2, b2)


def cases():
    """(name, fn, inputs): fn computes in the inputs' dtype."""
    logp_a = torch.log_softmax(draw(41, 2, 5, 3, lo=-2, hi=2), 1)
    logp_b = torch.log_softmax(draw(42, 2, 5, 3, lo=-2, hi=2), 1)
    levels = torch.randint(0, 256, (2, 3, 4, 4), generator=torch.Generator().manual_seed(50))
    levels.view(-1)[:4] = torch.tensor([0, 255, 0, 255])  # both edge bins appear
    x = (levels.double() / 127.5 - 1.0).float().double()
    near_x = (x + draw(51, 2, 3, 4, 4, lo=-0.15, hi=0.15)).float().double()
    return [
        ("mse_mean", lambda pred, target: F.mse_loss(pred, target),
         dict(pred=draw(1, 3, 5), target=draw(2, 3, 5))),
        ("mse_sum_broadcast", lambda pred, target: ((pred - target) ** 2).sum(),
         dict(pred=draw(3, 2, 3, 4), target=draw(4, 3, 1))),
        ("mse_none", lambda pred, target: F.mse_loss(pred, target, reduction="none"),
         dict(pred=draw(5, 4, 3), target=draw(6, 4, 3))),
        ("nll_mean", lambda log_probs, idx_target: F.nll_loss(log_probs, idx_target.long()),
         dict(log_probs=draw(7, 5, 4, lo=-3, hi=0), idx_target=classes(8, 4, 5))),
        ("nll_none_spatial",
         lambda log_probs, idx_target: F.nll_loss(log_probs, idx_target.long(), reduction="none"),
         dict(log_probs=draw(9, 2, 3, 2, 2, lo=-3, hi=0), idx_target=classes(10, 3, 2, 2, 2))),
        ("nll_sum_spatial",
         lambda log_probs, idx_target: F.nll_loss(log_probs, idx_target.long(), reduction="sum"),
         dict(log_probs=draw(11, 3, 4, 5, lo=-3, hi=0), idx_target=classes(12, 4, 3, 5))),
        ("ce_mean", lambda logits, idx_target: F.cross_entropy(logits, idx_target.long()),
         dict(logits=draw(13, 6, 5, lo=-3, hi=3), idx_target=classes(14, 5, 6))),
        ("ce_sum_spatial",
         lambda logits, idx_target: F.cross_entropy(logits, idx_target.long(), reduction="sum"),
         dict(logits=draw(15, 2, 4, 3, lo=-3, hi=3), idx_target=classes(16, 4, 2, 3))),
        ("ce_none_spatial",
         lambda logits, idx_target: F.cross_entropy(logits, idx_target.long(), reduction="none"),
         dict(logits=draw(17, 2, 3, 2, 2, lo=-3, hi=3), idx_target=classes(18, 3, 2, 2, 2))),
        ("ce_mean_spatial", lambda logits, idx_target: F.cross_entropy(logits, idx_target.long()),
         dict(logits=draw(19, 3, 4, 2, 3, lo=-3, hi=3), idx_target=classes(20, 4, 3, 2, 3))),
        ("normal_kl", normal_kl,
         dict(mean1=draw(21, 2, 3, 4), logvar1=draw(22, 2, 3, 4, lo=-2, hi=1),
              mean2=draw(23, 2, 3, 4), logvar2=draw(24, 2, 3, 4, lo=-2, hi=1))),
        ("normal_kl_broadcast", normal_kl,
         dict(mean1=draw(25, 2, 3), logvar1=draw(26, 2, 3, lo=-2, hi=1),
              mean2=draw(27, 1), logvar2=draw(28, 3, lo=-2, hi=1))),
        ("dgll", discretized_gaussian_log_likelihood,
         dict(x=x, means=near_x, log_scales=draw(52, 2, 3, 4, 4, lo=-3, hi=-0.5))),
        ("dgll_broadcast", discretized_gaussian_log_likelihood,
         dict(x=x, means=near_x, log_scales=draw(53, 1, 3, 1, 1, lo=-2.5, hi=-1))),
        ("multinomial_kl", lambda log_prob1, log_prob2: multinomial_kl(log_prob1, log_prob2, 1),
         dict(log_prob1=logp_a, log_prob2=logp_b)),
        ("multinomial_kl_last_axis",
         lambda log_prob1, log_prob2: multinomial_kl(log_prob1, log_prob2, -1),
         dict(log_prob1=logp_a.transpose(1, 2).contiguous(),
              log_prob2=logp_b.transpose(1, 2).contiguous())),
        ("checkpoint_mlp", mlp,
         dict(x=draw(60, 4, 6), w1=draw(61, 8, 6, lo=-0.5, hi=0.5), b1=draw(62, 8, lo=-0.5, hi=0.5),
              w2=draw(63, 6, 8, lo=-0.5, hi=0.5), b2=draw(64, 6, lo=-0.5, hi=0.5))),
    ]


def float32_gap(name, fn, inputs, reference, seed):
    """max |f32 - f64| / (1e-5 + 1e-4 |f64|) over the output and the gradients."""
    scratch = {}
    case(scratch, name, lambda **kw: fn(**kw).float(),
         {k: v.float() for k, v in inputs.items()}, seed=seed)
    worst = 0.0
    for key, value in scratch.items():
        expected = reference[key].double()
        worst = max(worst, ((value.double() - expected).abs() / (1e-5 + 1e-4 * expected.abs()))
                    .max().item())
    return worst


def main():
    store = {}
    for seed, (name, fn, inputs) in enumerate(cases()):
        # float64 inside, float32 out: grad_out (float32) flows back through the cast.
        case(store, name, lambda fn=fn, **kw: fn(**kw).float(), inputs, seed=seed)
        print(f"{name}: float32 PyTorch gap {float32_gap(name, fn, inputs, store, seed):.3f}")
    save("loss", store)


if __name__ == "__main__":
    main()

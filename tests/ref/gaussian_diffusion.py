"""Reference numbers for lesson 02's Gaussian diffusion (diffusion/gaussian_diffusion.hpp,
respace.hpp), computed in float64 PyTorch from the equations of Ho et al. 2020 and Nichol &
Dhariwal 2021, following improved-diffusion's conventions (step index t = 0..T-1, the
clipped posterior log variance, FIXED_LARGE's first variance, the frozen mean of the hybrid
loss, bits per dimension).

A fixed toy model stands in for the UNet; the C++ test defines the same one:
    model(x, t_model) = tanh(x_rep * a + b * t_model * 0.01)
with x_rep = x for fixed variances and cat([x, x], 1) for learned ones (2C output channels),
a and b of shape (1, C_out, 1, 1).

Writes fixtures/gaussian_diffusion.safetensors. Inputs are drawn in float32 and widened, so
the stored inputs are exactly those used.
Run with Debian's PyTorch: /usr/bin/python3 tests/ref/gaussian_diffusion.py
"""
import math

import torch

from common import save

T = 20
STEPS = [0, 7, 19]            # t of the three samples (t = 0 exercises the decoder L_0)
# The losses' gradients at t = 19 (alpha_bar ~ 6e-6, x_0 = 408 x_t - 408 eps) cancel terms
# of size 1e4, which float32 cannot match to 1e-4: the loss cases stop at t = 15.
LOSS_STEPS = [0, 7, 15]
SHAPE = (3, 2, 4, 4)          # x is (B, C, H, W)
MEAN_TYPES = ["epsilon", "start_x", "previous_x"]
VAR_TYPES = ["learned", "fixed_small", "fixed_large", "learned_range"]
LOSS_TYPES = ["mse", "rescaled_mse", "kl", "rescaled_kl"]


# ---- schedules ----

def named_betas(name, steps):
    if name == "linear":
        scale = 1000.0 / steps
        return torch.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=torch.float64)
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((i + 1) / steps) / f(i / steps), 0.999) for i in range(steps)],
                        dtype=torch.float64)


def space_steps(steps, text):
    if text.startswith("ddim"):
        want = int(text[4:])
        for stride in range(1, steps):
            kept = list(range(0, steps, stride))
            if len(kept) == want:
                return kept
        raise ValueError(text)
    counts = [int(c) for c in text.split(",")]
    per, extra = divmod(steps, len(counts))
    kept, start = [], 0
    for i, count in enumerate(counts):
        size = per + (1 if i < extra else 0)
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        pos = 0.0
        for _ in range(count):
            kept.append(start + round(pos))  # Python rounds half to even
            pos += stride
        start += size
    return sorted(set(kept))


# ---- the diffusion, in float64 ----

class Diffusion:
    def __init__(self, betas, mean_type, var_type, loss_type, rescale, kept=None):
        original = len(betas)
        if kept is not None:  # respacing: keep the alpha_bar of the kept steps
            ab = torch.cumprod(1 - betas, 0)
            prev, new = 1.0, []
            for s in kept:
                new.append(1 - ab[s] / prev)
                prev = ab[s]
            betas = torch.stack(new)
        self.kept = kept if kept is not None else list(range(len(betas)))
        self.original = original
        self.mean_type, self.var_type, self.loss_type, self.rescale = (
            mean_type, var_type, loss_type, rescale)
        self.T = len(betas)
        b = betas
        ab = torch.cumprod(1 - b, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=b.dtype), ab[:-1]])
        post_var = b * (1 - ab_prev) / (1 - ab)
        self.tables = {
            "betas": b,
            "alphas_cumprod": ab,
            "alphas_cumprod_prev": ab_prev,
            "alphas_cumprod_next": torch.cat([ab[1:], torch.zeros(1, dtype=b.dtype)]),
            "sqrt_alphas_cumprod": ab.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - ab).sqrt(),
            "log_one_minus_alphas_cumprod": (1 - ab).log(),
            "sqrt_recip_alphas_cumprod": (1 / ab).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1 / ab - 1).sqrt(),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": torch.cat([post_var[1:2], post_var[1:]]).log(),
            "posterior_mean_coef1": b * ab_prev.sqrt() / (1 - ab),
            "posterior_mean_coef2": (1 - ab_prev) * (1 - b).sqrt() / (1 - ab),
        }

    def at(self, name_or_table, t):
        table = self.tables[name_or_table] if isinstance(name_or_table, str) else name_or_table
        return table[t].view(-1, 1, 1, 1)

    def model_t(self, t):
        mapped = torch.tensor([float(self.kept[i]) for i in t], dtype=torch.float64)
        return mapped * (1000.0 / self.original) if self.rescale else mapped

    def q_mean_variance(self, x0, t):
        ab = self.at("alphas_cumprod", t).expand(x0.shape)
        return ab.sqrt() * x0, 1 - ab, (1 - ab).log()

    def q_sample(self, x0, t, noise):
        return (self.at("sqrt_alphas_cumprod", t) * x0
                + self.at("sqrt_one_minus_alphas_cumprod", t) * noise)

    def q_posterior(self, x0, xt, t):
        mean = self.at("posterior_mean_coef1", t) * x0 + self.at("posterior_mean_coef2", t) * xt
        return (mean, self.at("posterior_variance", t).expand(xt.shape),
                self.at("posterior_log_variance_clipped", t).expand(xt.shape))

    def xstart_from_eps(self, xt, t, eps):
        return (self.at("sqrt_recip_alphas_cumprod", t) * xt
                - self.at("sqrt_recipm1_alphas_cumprod", t) * eps)

    def eps_from_xstart(self, xt, t, x0):
        return ((self.at("sqrt_recip_alphas_cumprod", t) * xt - x0)
                / self.at("sqrt_recipm1_alphas_cumprod", t))

    def p_from_output(self, out, x, t, clip):
        C = x.shape[1]
        learned = self.var_type in ("learned", "learned_range")
        mean_out = out[:, :C] if learned else out
        if self.var_type == "learned":
            log_var = out[:, C:]
            var = log_var.exp()
        elif self.var_type == "learned_range":  # Nichol & Dhariwal Eq. 15
            lo = self.at("posterior_log_variance_clipped", t)
            hi = self.at(self.tables["betas"].log(), t)
            frac = (out[:, C:] + 1) / 2
            log_var = frac * hi + (1 - frac) * lo
            var = log_var.exp()
        elif self.var_type == "fixed_large":
            large = torch.cat([self.tables["posterior_variance"][1:2], self.tables["betas"][1:]])
            var = self.at(large, t).expand(x.shape)
            log_var = self.at(large.log(), t).expand(x.shape)
        else:
            var = self.at("posterior_variance", t).expand(x.shape)
            log_var = self.at("posterior_log_variance_clipped", t).expand(x.shape)
        proc = (lambda v: v.clamp(-1, 1)) if clip else (lambda v: v)
        if self.mean_type == "previous_x":
            c1, c2 = self.at("posterior_mean_coef1", t), self.at("posterior_mean_coef2", t)
            x0 = proc((mean_out - c2 * x) / c1)
            mean = mean_out
        else:
            x0 = mean_out if self.mean_type == "start_x" else self.xstart_from_eps(x, t, mean_out)
            x0 = proc(x0)
            mean = self.q_posterior(x0, x, t)[0]
        return mean, var, log_var, x0

    def p_mean_variance(self, model, x, t, clip):
        return self.p_from_output(model(x, self.model_t(t)), x, t, clip)

    def vb_from_output(self, out, x0, xt, t, clip):
        true_mean, _, true_log_var = self.q_posterior(x0, xt, t)
        mean, _, log_var, pred_x0 = self.p_from_output(out, xt, t, clip)
        kl = normal_kl(true_mean, true_log_var, mean, log_var).mean(dim=(1, 2, 3)) / math.log(2)
        nll = -discretized_log_likelihood(x0, mean, 0.5 * log_var).mean(dim=(1, 2, 3)) / math.log(2)
        first = torch.tensor([s == 0 for s in t])
        return torch.where(first, nll, kl), pred_x0

    def training_losses(self, model, x0, t, noise):
        xt = self.q_sample(x0, t, noise)
        if self.loss_type in ("kl", "rescaled_kl"):
            vb, _ = self.vb_from_output(model(xt, self.model_t(t)), x0, xt, t, False)
            return (vb * self.T if self.loss_type == "rescaled_kl" else vb), None, vb
        out = model(xt, self.model_t(t))
        C = x0.shape[1]
        vb = None
        mean_out = out
        if self.var_type in ("learned", "learned_range"):
            mean_out = out[:, :C]
            frozen = torch.cat([mean_out.detach(), out[:, C:]], 1)
            vb, _ = self.vb_from_output(frozen, x0, xt, t, False)
            if self.loss_type == "rescaled_mse":
                vb = vb * (self.T / 1000.0)
        target = {"epsilon": noise, "start_x": x0,
                  "previous_x": self.q_posterior(x0, xt, t)[0]}[self.mean_type]
        mse = ((target - mean_out) ** 2).mean(dim=(1, 2, 3))
        return (mse + vb if vb is not None else mse), mse, vb

    def prior_bpd(self, x0):
        mean, _, log_var = self.q_mean_variance(x0, [self.T - 1] * x0.shape[0])
        zero = torch.zeros((), dtype=x0.dtype)
        return normal_kl(mean, log_var, zero, zero).mean(dim=(1, 2, 3)) / math.log(2)

    def calc_bpd_loop(self, model, x0, clip, noises):
        vb, xstart_mse, mse = [], [], []
        for i in reversed(range(self.T)):
            t = [i] * x0.shape[0]
            xt = self.q_sample(x0, t, noises[i])
            out = model(xt, self.model_t(t))
            term, pred_x0 = self.vb_from_output(out, x0, xt, t, clip)
            vb.append(term)
            xstart_mse.append(((pred_x0 - x0) ** 2).mean(dim=(1, 2, 3)))
            eps = self.eps_from_xstart(xt, t, pred_x0)
            mse.append(((eps - noises[i]) ** 2).mean(dim=(1, 2, 3)))
        vb, xstart_mse, mse = torch.stack(vb, 1), torch.stack(xstart_mse, 1), torch.stack(mse, 1)
        prior = self.prior_bpd(x0)
        return {"total_bpd": vb.sum(1) + prior, "prior_bpd": prior, "vb": vb,
                "xstart_mse": xstart_mse, "mse": mse}

    def p_sample(self, model, x, t, clip, z):
        mean, _, log_var, x0 = self.p_mean_variance(model, x, t, clip)
        mask = torch.tensor([float(s != 0) for s in t], dtype=x.dtype).view(-1, 1, 1, 1)
        return mean + mask * (0.5 * log_var).exp() * z

    def ddim_sample(self, model, x, t, clip, eta, z):
        _, _, _, x0 = self.p_mean_variance(model, x, t, clip)
        eps = self.eps_from_xstart(x, t, x0)
        ab, ab_prev = self.at("alphas_cumprod", t), self.at("alphas_cumprod_prev", t)
        sigma = eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
        mask = torch.tensor([float(s != 0) for s in t], dtype=x.dtype).view(-1, 1, 1, 1)
        return x0 * ab_prev.sqrt() + (1 - ab_prev - sigma ** 2).sqrt() * eps + mask * sigma * z


# ---- the likelihood terms (Ho et al. Eq. 5 and 13) ----

def normal_kl(m1, lv1, m2, lv2):
    return 0.5 * (-1 + lv2 - lv1 + (lv1 - lv2).exp() + (m1 - m2) ** 2 * (-lv2).exp())


def approx_cdf(z):
    return 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))


def discretized_log_likelihood(x, mean, log_scale):
    inv = (-log_scale).exp()
    plus = approx_cdf(inv * (x - mean + 1 / 255))
    minus = approx_cdf(inv * (x - mean - 1 / 255))
    low = plus.clamp(min=1e-12).log()
    high = (1 - minus).clamp(min=1e-12).log()
    mid = (plus - minus).clamp(min=1e-12).log()
    return torch.where(x < -0.999, low, torch.where(x > 0.999, high, mid))


# ---- the toy model ----

def toy_model(a, b):
    def model(x, t_model):
        xr = torch.cat([x, x], 1) if a.shape[1] == 2 * x.shape[1] else x
        return torch.tanh(xr * a + b * t_model.view(-1, 1, 1, 1) * 0.01)
    return model


def draw(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).double()


def grad_case(store, name, fn, inputs, seed):
    """As common.case, in float64: stores inputs, out, a float32 grad_out and the grads."""
    leaves = {}
    for k, v in inputs.items():
        v = v.detach().clone()
        if not k.startswith("idx_"):
            v.requires_grad_(True)
        leaves[k] = v
    out = fn(**leaves)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).double()
    out.backward(grad_out)
    for k, v in leaves.items():
        store[f"{name}.{k}"] = v.detach()
        if v.grad is not None:
            store[f"{name}.grad.{k}"] = v.grad
    store[f"{name}.out"] = out.detach()
    store[f"{name}.grad_out"] = grad_out


def main():
    gen = torch.Generator().manual_seed(2021)
    store = {}
    levels = torch.randint(0, 256, SHAPE, generator=gen).float()
    levels.view(-1)[:4] = torch.tensor([0.0, 255.0, 0.0, 255.0])  # edge bins of L_0
    x0 = (levels / 127.5 - 1).double()
    noise, x_t, z = draw(gen, *SHAPE), draw(gen, *SHAPE), draw(gen, *SHAPE)
    a2, b2 = draw(gen, 1, 4, 1, 1, scale=0.5), draw(gen, 1, 4, 1, 1, scale=0.5)
    # Mean channels tanh(~1.4 x) stay within ~0.14 of x_0 at t = 0, so the decoder L_0 is
    # evaluated a few standard deviations from its mean, where float32 CDFs keep their digits
    # (far out both float32 and float64 floor the bin at 1e-12, differently).
    a2[0, :2, 0, 0] = torch.tensor([1.5, 1.3], dtype=torch.float64)
    a1, b1 = a2[:, :2].clone(), b2[:, :2].clone()
    store.update({"x0": x0, "noise": noise, "x_t": x_t, "z": z, "t": torch.tensor(STEPS),
                  "loss_t": torch.tensor(LOSS_STEPS),
                  "a_learned": a2, "b_learned": b2, "a_fixed": a1, "b_fixed": b1})

    for name, steps in [("linear", 50), ("cosine", T), ("linear", 1000), ("cosine", 1000)]:
        d = Diffusion(named_betas(name, steps), "epsilon", "fixed_small", "mse", False)
        keys = d.tables if steps < 1000 else ["betas", "alphas_cumprod"]
        for k in keys:
            store[f"tables_{name}{steps}.{k}"] = d.tables[k]

    cosine = named_betas("cosine", T)
    base = Diffusion(cosine, "epsilon", "fixed_small", "mse", False)
    mean, var, log_var = base.q_mean_variance(x0, STEPS)
    store.update({"q_mean_variance.mean": mean, "q_mean_variance.variance": var,
                  "q_mean_variance.log_variance": log_var,
                  "q_sample.out": base.q_sample(x0, STEPS, noise)})
    mean, var, log_var = base.q_posterior(x0, x_t, STEPS)
    store.update({"q_posterior.mean": mean, "q_posterior.variance": var,
                  "q_posterior.log_variance": log_var})
    store["prior_bpd.out"] = base.prior_bpd(x0)

    for var_type in VAR_TYPES:
        learned = var_type.startswith("learned")
        model = toy_model(a2, b2) if learned else toy_model(a1, b1)
        for mean_type in MEAN_TYPES:
            for clip in (True, False):
                d = Diffusion(cosine, mean_type, var_type, "mse", rescale=clip)
                out = d.p_mean_variance(model, x_t, STEPS, clip)
                key = f"p_mean_variance.{var_type}.{mean_type}.{'clip' if clip else 'noclip'}"
                for k, v in zip(["mean", "variance", "log_variance", "pred_xstart"], out):
                    store[f"{key}.{k}"] = v

    cases = [(loss, var, "epsilon") for loss in LOSS_TYPES for var in VAR_TYPES]
    cases += [("rescaled_mse", "learned_range", "start_x"),
              ("rescaled_mse", "learned_range", "previous_x"), ("kl", "fixed_small", "start_x")]
    for i, (loss_type, var_type, mean_type) in enumerate(cases):
        learned = var_type.startswith("learned")
        d = Diffusion(cosine, mean_type, var_type, loss_type, rescale=i % 2 == 0)
        name = f"training_losses.{loss_type}.{var_type}.{mean_type}"

        def fn(a, b, x0, noise, idx_t, d=d):
            return d.training_losses(toy_model(a, b), x0, idx_t.tolist(), noise)[0]

        a, b = (a2, b2) if learned else (a1, b1)
        grad_case(store, name, fn, {"a": a, "b": b, "x0": x0, "noise": noise,
                                    "idx_t": torch.tensor(LOSS_STEPS)}, seed=100 + i)
        with torch.no_grad():
            _, mse, vb = d.training_losses(toy_model(a, b), x0, LOSS_STEPS, noise)
        if mse is not None:
            store[f"{name}.mse"] = mse
        if vb is not None:
            store[f"{name}.vb"] = vb

    noises = draw(gen, T, *SHAPE)
    store["bpd.noise"] = noises
    for var_type, clip in [("learned_range", True), ("fixed_large", False)]:
        learned = var_type.startswith("learned")
        d = Diffusion(cosine, "epsilon", var_type, "mse", rescale=True)
        model = toy_model(a2, b2) if learned else toy_model(a1, b1)
        for k, v in d.calc_bpd_loop(model, x0, clip, noises).items():
            store[f"bpd.{var_type}.{k}"] = v

    for var_type in ["fixed_large", "learned_range"]:
        model = toy_model(a2, b2) if var_type == "learned_range" else toy_model(a1, b1)
        d = Diffusion(cosine, "epsilon", var_type, "mse", rescale=True)
        store[f"p_sample.{var_type}.out"] = d.p_sample(model, x_t, STEPS, True, z)
        for eta in (0.0, 0.5):
            out = d.ddim_sample(model, x_t, STEPS, True, eta, z)
            store[f"ddim_sample.{var_type}.eta{eta}.out"] = out

    for text, steps in [("ddim5", T), ("3,4", T), ("ddim50", 1000), ("250", 1000),
                        ("10,15,20", 300), ("7", 10)]:
        store[f"space.{text}.{steps}"] = torch.tensor(space_steps(steps, text), dtype=torch.float64)
    for text in ["ddim5", "3,4"]:
        kept = space_steps(T, text)
        d = Diffusion(cosine, "epsilon", "learned_range", "rescaled_mse", True, kept=kept)
        store[f"spaced.{text}.betas"] = d.tables["betas"]
        t = [0, 2, len(kept) - 1]
        out = d.p_mean_variance(toy_model(a2, b2), x_t, t, True)
        for k, v in zip(["mean", "variance", "log_variance", "pred_xstart"], out):
            store[f"spaced.{text}.p_mean_variance.{k}"] = v
        loss, mse, vb = d.training_losses(toy_model(a2, b2), x0, t, noise)
        store[f"spaced.{text}.training_losses.loss"] = loss
        store[f"spaced.{text}.training_losses.vb"] = vb

    save("gaussian_diffusion", store)


if __name__ == "__main__":
    main()

"""Reference numbers for lesson 01's diffusion math (diffusion/), computed in float64 PyTorch.

Writes fixtures/diffusion_lesson01.safetensors with
  schedule.{beta,alpha,alpha_bar}     the course's linear schedule, T = 500 (501 entries each)
  q_sample.{x0,t,noise,out,out_course} DDPM Eq. 4, and the course's (1 - alpha_bar) variant
  ddpm.{x_t,eps,z,out}                 one step of DDPM Algorithm 2 at t = 300
  ddim.{x_t,eps,z,out_eta0,out_eta05}  one DDIM step (Eq. 12, sigma from Eq. 16), 300 -> 275
Inputs are drawn in float32 and widened, so the stored inputs are exactly those used.
Run with Debian's PyTorch: /usr/bin/python3 tests/ref/diffusion_lesson01.py
"""
import torch

from common import save

T, BETA1, BETA2 = 500, 1e-4, 0.02
DDPM_T, DDIM_T, DDIM_T_PREV = 300, 300, 275


def course_schedule():
    """The course's tables on T + 1 points, in float64."""
    beta = BETA1 + (BETA2 - BETA1) * torch.linspace(0, 1, T + 1, dtype=torch.float64)
    alpha = 1 - beta
    alpha_bar = torch.exp(torch.cumsum(torch.log(alpha), dim=0))
    alpha_bar[0] = 1
    return beta, alpha, alpha_bar


def draw(gen, *shape):
    return torch.randn(*shape, generator=gen).double()


def q_sample(alpha_bar, x0, t, noise, course):
    ab = alpha_bar[t].view(-1, 1, 1, 1)
    scale = (1 - ab) if course else (1 - ab).sqrt()
    return ab.sqrt() * x0 + scale * noise


def ddpm_step(beta, alpha, alpha_bar, x, t, eps, z):
    mean = (x - beta[t] / (1 - alpha_bar[t]).sqrt() * eps) / alpha[t].sqrt()
    return mean + beta[t].sqrt() * z


def ddim_step(alpha_bar, x, t, t_prev, eps, eta, z):
    ab, ab_prev = alpha_bar[t], alpha_bar[t_prev]
    sigma = eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
    x0_pred = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
    return ab_prev.sqrt() * x0_pred + (1 - ab_prev - sigma ** 2).sqrt() * eps + sigma * z


def main():
    gen = torch.Generator().manual_seed(2024)
    beta, alpha, alpha_bar = course_schedule()
    store = {"schedule.beta": beta, "schedule.alpha": alpha, "schedule.alpha_bar": alpha_bar}

    x0, noise = draw(gen, 3, 1, 4, 4), draw(gen, 3, 1, 4, 4)
    t = torch.tensor([1, 250, 500])
    store.update({"q_sample.x0": x0, "q_sample.t": t, "q_sample.noise": noise,
                  "q_sample.out": q_sample(alpha_bar, x0, t, noise, False),
                  "q_sample.out_course": q_sample(alpha_bar, x0, t, noise, True)})

    x, eps, z = draw(gen, 2, 3, 4, 4), draw(gen, 2, 3, 4, 4), draw(gen, 2, 3, 4, 4)
    store.update({"ddpm.x_t": x, "ddpm.eps": eps, "ddpm.z": z,
                  "ddpm.out": ddpm_step(beta, alpha, alpha_bar, x, DDPM_T, eps, z)})

    x, eps, z = draw(gen, 2, 3, 4, 4), draw(gen, 2, 3, 4, 4), draw(gen, 2, 3, 4, 4)
    store.update({"ddim.x_t": x, "ddim.eps": eps, "ddim.z": z,
                  "ddim.out_eta0": ddim_step(alpha_bar, x, DDIM_T, DDIM_T_PREV, eps, 0.0, z),
                  "ddim.out_eta05": ddim_step(alpha_bar, x, DDIM_T, DDIM_T_PREV, eps, 0.5, z)})
    save("diffusion_lesson01", store,
         {"T": T, "beta1": BETA1, "beta2": BETA2, "ddpm_t": DDPM_T, "ddim_t": DDIM_T,
          "ddim_t_prev": DDIM_T_PREV})


if __name__ == "__main__":
    main()

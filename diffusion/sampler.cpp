// The DDPM and DDIM sampling loops (see sampler.hpp).
#include "diffusion/sampler.hpp"

#include "autograd/ops.hpp"
#include "diffusion/ddim.hpp"
#include "diffusion/ddpm.hpp"
#include "diffusion/guidance.hpp"

namespace tinydiff {

namespace {

// shape (B, ...), context (B, K) or undefined: throws naming `op` when they do not fit.
void check_inputs(const Shape& shape, const Tensor& context, const SampleOptions& options,
                  const char* op) {
  TD_CHECK(shape.size() >= 2 && numel_of(shape) > 0, op, ": sample shape ", str(shape),
           " must be (B, ...) with B > 0");
  TD_CHECK(!context.defined() || (context.dim() == 2 && context.size(0) == shape[0]), op,
           ": context ", context.defined() ? str(context.shape()) : "",
           " must be (B, K) with B = ", shape[0], " (sample shape ", str(shape), ")");
  TD_CHECK(options.guidance_w == 0 || context.defined(), op, ": guidance w = ", options.guidance_w,
           " needs a context to guide towards");
  TD_CHECK(options.keep_every >= 0, op, ": keep_every = ", options.keep_every, " must be >= 0");
}

// x (B, ...), context (B, K) or undefined -> eps (B, ...). With w != 0 the conditional and
// the unconditional (all-zero context) predictions come from one batch of 2B, then Eq. 6.
Tensor predict_eps(const EpsModel& model, const Tensor& x, int64_t t, const Tensor& context,
                   double w, const NoiseSchedule& s) {
  int64_t B = x.size(0);
  float t_normalised = float(double(t) / double(s.T));
  if (w == 0) {
    Tensor eps = model(x, full({B}, t_normalised, x.device()), context);
    TD_CHECK(eps.shape() == x.shape(), "sampler: the model returned ", str(eps.shape()),
             " for x_t ", str(x.shape()));
    return eps;
  }
  Tensor x2 = cat({x, x}, 0);
  Tensor both =
      model(x2, full({2 * B}, t_normalised, x.device()), cat({context, zeros_like(context)}, 0));
  TD_CHECK(both.shape() == x2.shape(), "sampler: the model returned ", str(both.shape()),
           " for x_t ", str(x2.shape()), " (conditional and unconditional halves)");
  return guided_eps(narrow(both, 0, 0, B), narrow(both, 0, B, B), w);
}

// Keeps x as a frame after `done` of `total` steps when keep_every asks for it.
void keep_frame(Samples& out, const Tensor& x, int64_t t, int64_t done, int64_t total,
                int64_t keep_every) {
  if (keep_every == 0 || (done % keep_every != 0 && done != total)) return;
  out.frames.push_back(x);
  out.frame_steps.push_back(t);
}

}  // namespace

// (B, C, H, W) -> Samples. Ho et al. 2020, Algorithm 2.
Samples sample_ddpm(const EpsModel& model, const Shape& shape, const Tensor& context,
                    const NoiseSchedule& s, const SampleOptions& options) {
  check_inputs(shape, context, options, "sample_ddpm");
  NoGradGuard no_grad;
  Samples out;
  Tensor x = randn(shape, options.gen, options.device);  // x_T ~ N(0, I)
  keep_frame(out, x, s.T, 0, s.T, options.keep_every);
  for (int64_t t = s.T; t >= 1; --t) {
    Tensor eps = predict_eps(model, x, t, context, options.guidance_w, s);
    Tensor z = t > 1 ? randn_like(x, options.gen) : Tensor();  // z = 0 at the last step
    x = ddpm_step(x, t, eps, z, s);
    keep_frame(out, x, t - 1, s.T - t + 1, s.T, options.keep_every);
  }
  out.x0 = x;
  return out;
}

// (B, C, H, W) -> Samples. Song et al. 2021, Eq. 12 along tau_S -> ... -> tau_0.
Samples sample_ddim(const EpsModel& model, const Shape& shape, const Tensor& context,
                    const NoiseSchedule& s, const SampleOptions& options) {
  check_inputs(shape, context, options, "sample_ddim");
  std::vector<int64_t> tau = ddim_timesteps(s.T, options.ddim_steps);
  int64_t S = options.ddim_steps;
  NoGradGuard no_grad;
  Samples out;
  Tensor x = randn(shape, options.gen, options.device);  // x_T ~ N(0, I)
  keep_frame(out, x, s.T, 0, S, options.keep_every);
  for (int64_t i = S; i >= 1; --i) {
    Tensor eps = predict_eps(model, x, tau[i], context, options.guidance_w, s);
    bool noisy = options.eta > 0 && tau[i - 1] > 0;  // sigma = 0 on the step to tau_0 = 0
    Tensor z = noisy ? randn_like(x, options.gen) : Tensor();
    x = ddim_step(x, tau[i], tau[i - 1], eps, options.eta, z, s);
    keep_frame(out, x, tau[i - 1], S - i + 1, S, options.keep_every);
  }
  out.x0 = x;
  return out;
}

}  // namespace tinydiff

// BatchNorm (Ioffe & Szegedy 2015, Algorithm 1): normalise each channel over the batch and
// the spatial positions, then scale and shift per channel:
//   y = (x - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c]
// Training uses the batch's statistics (biased variance, Algorithm 1) and moves the running
// estimates towards them, with the unbiased variance as PyTorch does (Algorithm 2, step 10):
//   running_mean = (1 - momentum) running_mean + momentum mean
//   running_var  = (1 - momentum) running_var  + momentum var n / (n - 1),   n = N * spatial
// Inference uses the running estimates, which are then constants for the gradient
// (the training formula is derived in tensor/kernels/norm.hpp):
//   training:  dx = rstd w (dy - mean(dy) - x_hat mean(dy x_hat))
//   inference: dx = rstd w dy
// Both:        dweight[c] = sum dy x_hat,  dbias[c] = sum dy
#include "nn/functional/normalization.hpp"
#include "tensor/kernels/norm.hpp"

namespace tinydiff {

namespace {

float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// weight, bias, running_mean or running_var: undefined, or (C) on the input's device.
void check_per_channel(const char* name, const Tensor& p, int64_t channels, const Tensor& x) {
  if (!p.defined()) return;
  TD_CHECK(p.shape() == Shape{channels}, "batch_norm: ", name, " has shape ", str(p.shape()),
           " but the input has ", channels, " channels (expected [", channels, "]; input ",
           str(x.shape()), ")");
  TD_CHECK(p.device() == x.device(), "batch_norm: ", name, " is on ", p.device().str(),
           " but the input is on ", x.device().str());
}

Tensor grad_buffer(const Tensor& p) {
  return p.defined() && p.requires_grad() ? Tensor::empty(p.shape(), p.device()) : Tensor();
}

// Moves the running buffers towards the batch statistics, in place (no graph).
void update_running(const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                    const Tensor& var, int64_t n, float momentum) {
  TD_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
           "batch_norm: running_mean and running_var must be contiguous to be updated in place");
  TD_DISPATCH(mean.device(), batch_norm_update_running, running_mean.data(), running_var.data(),
              mean.data(), var.data(), mean.numel(), momentum, float(n) / float(n - 1));
}

}  // namespace

// x (N, C, *); running_mean, running_var, weight, bias (C) or undefined -> same shape as x
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, float momentum,
                  float eps) {
  TD_CHECK(x.dim() >= 2, "batch_norm: input must be (N, C, *), got ", str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t S = numel_of(Shape(x.shape().begin() + 2, x.shape().end()));
  check_per_channel("weight", weight, C, x);
  check_per_channel("bias", bias, C, x);
  check_per_channel("running_mean", running_mean, C, x);
  check_per_channel("running_var", running_var, C, x);
  TD_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: pass both running_mean and running_var, or neither");
  const bool batch_stats = training || !running_mean.defined();
  Tensor xc = x.contiguous().detach();
  Tensor mean, rstd;
  if (batch_stats) {
    TD_CHECK(N * S > 1, "batch_norm: batch statistics need more than one value per channel, got "
             "input ", str(x.shape()));
    mean = Tensor::empty({C}, x.device()), rstd = Tensor::empty({C}, x.device());
    Tensor var = Tensor::empty({C}, x.device());
    TD_DISPATCH(x.device(), batch_norm_stats, xc.data(), mean.data(), var.data(), rstd.data(), N,
                C, S, eps);
    if (training && running_mean.defined())
      update_running(running_mean, running_var, mean, var, N * S, momentum);
  } else {
    // Fresh tensors: a later training call updates the buffers in place before this backward.
    NoGradGuard no_grad;
    mean = running_mean.detach().clone(), rstd = rsqrt(add(running_var.detach(), eps));
  }
  Tensor w = weight.defined() ? weight.contiguous().detach() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.device());
  TD_DISPATCH(x.device(), batch_norm_forward, xc.data(), mean.data(), rstd.data(),
              data_or_null(w), data_or_null(b), y.data(), N, C, S);
  return record("batch_norm", y, {x, weight, bias},
                [xc, w, weight, bias, mean, rstd, N, C, S, batch_stats](const Tensor& g) {
                  Tensor gc = g.contiguous();
                  Tensor dx = Tensor::empty(gc.shape(), gc.device());
                  Tensor dw = grad_buffer(weight), db = grad_buffer(bias);
                  TD_DISPATCH(gc.device(), batch_norm_backward, xc.data(), mean.data(),
                              rstd.data(), data_or_null(w), gc.data(), dx.data(),
                              data_or_null(dw), data_or_null(db), N, C, S, batch_stats);
                  return TensorList{dx, dw, db};
                });
}

}  // namespace tinydiff

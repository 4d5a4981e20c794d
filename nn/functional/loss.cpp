// Training losses: mean squared error, negative log-likelihood and cross-entropy over class
// indices, and the Gumbel noise used to sample categorical distributions.
#include <cmath>

#include "nn/functional/loss.hpp"
#include "tensor/kernels/loss.hpp"
#include "tensor/kernels/reduce.hpp"

namespace tinydiff {

namespace {

// Applies `reduction` to per-element losses; autograd differentiates sum and mean.
Tensor reduce(const Tensor& losses, Reduction reduction) {
  if (reduction == Reduction::Sum) return sum(losses);
  if (reduction == Reduction::Mean) return mean(losses);
  return losses;
}

// scores (N, C, d...) and target (N, d...) as the kernels see them: (outer, c, inner).
struct ClassLayout {
  int64_t outer, c, inner;
};

// Checks the shapes and the class indices of a class-index loss named `op`.
ClassLayout check_class_target(const char* op, const Tensor& scores, const Tensor& target) {
  TD_CHECK(scores.dim() >= 2, op, ": input must be (N, C) or (N, C, d...), got ",
           str(scores.shape()));
  Shape expected = scores.shape();
  expected.erase(expected.begin() + 1);
  TD_CHECK(target.shape() == expected, op, ": target has shape ", str(target.shape()),
           " but input ", str(scores.shape()), " needs a target of shape ", str(expected));
  TD_CHECK(scores.device() == target.device(), op, ": input and target are on different devices");
  ClassLayout layout{scores.shape()[0], scores.shape()[1], 1};
  for (int64_t i = 2; i < scores.dim(); ++i) layout.inner *= scores.shape()[i];
  std::vector<float> classes = target.tolist();
  for (size_t i = 0; i < classes.size(); ++i) {
    float k = classes[i];
    TD_CHECK(k == std::floor(k), op, ": target ", i, " is ", k, ", not a whole number");
    TD_CHECK(k >= 0 && k < float(layout.c), op, ": target class ", k, " (element ", i,
             ") is out of range for ", layout.c, " classes (input ", str(scores.shape()), ")");
  }
  return layout;
}

}  // namespace

// mse_loss: L_i = (pred_i - target_i)^2, then reduced. Composed from sub and square, whose
// derivatives dL_i/dpred_i = 2 (pred_i - target_i) = -dL_i/dtarget_i autograd applies.
// pred, target broadcast to a common shape S -> [] (Mean, Sum) or S (None)
Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction reduction) {
  broadcast_shapes(pred.shape(), target.shape(), "mse_loss");
  return reduce(square(sub(pred, target)), reduction);
}

// nll_loss: L_{n,j} = -log_probs[n, target[n,j], j]
//   dL_{n,j}/dlog_probs[n,k,j] = -[k == target[n,j]]
// log_probs (N, C, d...), target (N, d...) -> [] (Mean, Sum) or (N, d...) (None)
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  ClassLayout s = check_class_target("nll_loss", log_probs, target);
  Tensor lp = log_probs.contiguous(), t = target.detach().contiguous();
  Tensor losses = Tensor::empty(target.shape(), lp.device());
  TD_DISPATCH(lp.device(), nll_loss, lp.data(), t.data(), losses.data(), s.outer, s.c, s.inner);
  Shape in_shape = log_probs.shape();
  losses = record("nll_loss", losses, {log_probs}, [t, s, in_shape](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor glp = Tensor::empty(in_shape, gc.device());
    TD_DISPATCH(gc.device(), nll_loss_backward, t.data(), gc.data(), glp.data(), s.outer, s.c,
                s.inner);
    return TensorList{glp};
  });
  return reduce(losses, reduction);
}

// cross_entropy: L_{n,j} = -log softmax(logits[n, :, j])[target[n,j]]
//                        = logsumexp_k logits[n,k,j] - logits[n, target[n,j], j]
//   dL_{n,j}/dlogits[n,k,j] = softmax(logits[n, :, j])_k - [k == target[n,j]]
// Fused: the forward keeps only log_softmax (the backward needs its exponent, the softmax),
// and the backward writes softmax - one-hot in one pass.
// logits (N, C, d...), target (N, d...) -> [] (Mean, Sum) or (N, d...) (None)
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  ClassLayout s = check_class_target("cross_entropy", logits, target);
  Tensor x = logits.contiguous(), t = target.detach().contiguous();
  Tensor logp = Tensor::empty(x.shape(), x.device());
  TD_DISPATCH(x.device(), softmax, x.data(), logp.data(), s.outer, s.c, s.inner, true);
  Tensor losses = Tensor::empty(target.shape(), x.device());
  TD_DISPATCH(x.device(), nll_loss, logp.data(), t.data(), losses.data(), s.outer, s.c, s.inner);
  losses = record("cross_entropy", losses, {logits}, [logp, t, s](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(logp.shape(), gc.device());
    TD_DISPATCH(gc.device(), cross_entropy_backward, logp.data(), t.data(), gc.data(), gx.data(),
                s.outer, s.c, s.inner);
    return TensorList{gx};
  });
  return reduce(losses, reduction);
}

// Gumbel(0, 1): G = -log(-log U), U ~ Uniform(0, 1). For any logits l, argmax_k (l_k + G_k)
// is distributed as softmax(l) (the Gumbel-max trick). rand draws from the open interval
// (0, 1), so both logarithms stay finite. Not differentiable (no inputs).
// shape -> shape
Tensor gumbel_noise(const Shape& shape, Generator* gen, Device device) {
  NoGradGuard no_grad;
  return neg(log(neg(log(rand(shape, gen, device)))));
}

}  // namespace tinydiff

// Gradient checkpointing: trade compute for memory (Chen et al. 2016).
//
// A block's forward normally leaves its intermediate activations in the graph until the
// backward pass reaches it. `checkpoint` runs the block with grad mode off instead, so only
// its inputs and output are kept, and records one node whose backward
//   1. replays the block's random draws (see RngReplay below),
//   2. re-runs fn on detached copies of the inputs with grad mode on, building a small graph
//      for this block alone,
//   3. back-propagates the incoming gradient through that graph,
//   4. returns the gradients of the inputs and the parameters to the outer backward pass.
// Peak memory drops from "every block's activations" to "every block's inputs plus one
// block's activations", for the price of running each checkpointed forward twice.
#include "autograd/checkpoint.hpp"

#include "autograd/ops.hpp"
#include "tensor/rng.hpp"

namespace tinydiff {

namespace {

// Why the RNG state matters: fn may draw random numbers, e.g. a dropout mask. The recomputed
// forward must draw the same mask as the first one, or the gradient would belong to a
// different function than the output the loss saw (and would not match training without
// checkpointing). Every draw is a pure function of the generator's (seed, offset), so setting
// the default generator back to the state it had before the first forward replays the mask
// exactly. Afterwards the state the backward found is put back, so that recomputation does
// not shift the random stream that the rest of the program sees.
class RngReplay {
 public:
  explicit RngReplay(RngState forward_state) : found_(default_generator().state()) {
    default_generator().set_state(forward_state);
  }
  ~RngReplay() { default_generator().set_state(found_); }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;

 private:
  RngState found_;
};

// The parameters' gradients must reach the outer backward through the node's returned list,
// like every other node's: the outer engine then accumulates them into .grad, in its own
// order, exactly once. But the local backward of step 3 accumulates into each parameter's
// .grad, a side effect. So this guard sets the parameters' .grad aside (whatever earlier
// nodes of the outer pass, or earlier steps, put there) and clears it; `take` reads off what
// the local backward wrote (the parameter's gradient from this block alone) and the
// destructor puts the old .grad back, also when fn throws. (A tensor that fn uses but that is
// not listed in `params` still gets the right gradient, by that side effect: list them all
// anyway, so that the gradient flows like every other one.)
class ParamGradStash {
 public:
  explicit ParamGradStash(const TensorList& params) : params_(params) {
    for (const Tensor& p : params_) {
      saved_.push_back(p.grad());
      p.set_grad(Tensor());
    }
  }
  // In reverse order, so that a parameter listed twice gets its first saved .grad back.
  ~ParamGradStash() {
    for (size_t i = params_.size(); i-- > 0;) params_[i].set_grad(saved_[i]);
  }
  ParamGradStash(const ParamGradStash&) = delete;
  ParamGradStash& operator=(const ParamGradStash&) = delete;

  Tensor take(size_t i) {
    Tensor g = params_[i].grad();
    params_[i].set_grad(Tensor());
    return g;
  }

 private:
  TensorList params_;
  TensorList saved_;
};

// Leaves sharing the inputs' data: the recomputed graph starts here and stops here.
TensorList detached_leaves(const TensorList& inputs) {
  TensorList leaves;
  for (const Tensor& x : inputs) {
    Tensor leaf = x.defined() ? x.detach() : Tensor();
    if (x.defined() && x.requires_grad()) leaf.requires_grad_();
    leaves.push_back(leaf);
  }
  return leaves;
}

// Steps 1-4 of the header comment; returns one gradient per input, then one per parameter.
TensorList recompute_and_backward(const std::function<Tensor(const TensorList&)>& fn,
                                  const TensorList& inputs, const TensorList& params,
                                  RngState forward_rng, const Tensor& grad_out) {
  TensorList leaves = detached_leaves(inputs);
  ParamGradStash stash(params);
  Tensor out;
  {
    RngReplay replay(forward_rng);
    EnableGradGuard grad_on;
    out = fn(leaves);
  }
  if (out.requires_grad()) out.backward(grad_out);
  TensorList grads;
  for (const Tensor& leaf : leaves) grads.push_back(leaf.defined() ? leaf.grad() : Tensor());
  for (size_t i = 0; i < params.size(); ++i) grads.push_back(stash.take(i));
  return grads;
}

}  // namespace

// fn: inputs -> out (any shape); the node's inputs are inputs followed by params.
Tensor checkpoint(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                  const TensorList& params, bool enabled) {
  // The recomputed graph must end at leaves: the local backward of a non-leaf would run on
  // into the outer graph and free its nodes. Inputs are detached for that reason; parameters
  // are captured by fn, so they must be leaves already (and so must any other tensor fn
  // captures that requires grad: pass tensors computed from others as inputs).
  for (size_t i = 0; i < params.size(); ++i) {
    TD_CHECK(params[i].defined(), "checkpoint: parameter ", i, " of ", params.size(),
             " is an undefined tensor");
    TD_CHECK(params[i].is_leaf(), "checkpoint: parameter ", i, " ", describe(params[i]),
             " is computed from other tensors; pass it in `inputs`, parameters must be leaves");
  }
  if (!enabled || !grad_enabled()) return fn(inputs);
  RngState forward_rng = default_generator().state();
  Tensor out;
  {
    NoGradGuard no_grad;
    out = fn(inputs);
  }
  TD_CHECK(out.defined(), "checkpoint: the checkpointed function returned an undefined tensor");
  TensorList node_inputs = inputs;
  node_inputs.insert(node_inputs.end(), params.begin(), params.end());
  // detach: a new handle, so that the node never attaches to a tensor fn merely passed through.
  return record("checkpoint", out.detach(), node_inputs,
                [fn, inputs, params, forward_rng](const Tensor& g) {
                  return recompute_and_backward(fn, inputs, params, forward_rng, g);
                });
}

}  // namespace tinydiff

// Gradient checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory cost"),
// as improved-diffusion's checkpoint(func, inputs, params, flag).
#pragma once
#include <functional>

#include "autograd/graph.hpp"

namespace tinydiff {

// Runs fn(inputs) in no-grad mode, so none of its intermediate activations are kept, and
// records one "checkpoint" node. Its backward re-runs fn with the graph recorded (after
// restoring the default generator's state to what it was before the forward, so dropout
// draws the same mask) and back-propagates through it into `inputs` and `params` (the
// parameters fn uses). With enabled == false it simply returns fn(inputs).
Tensor checkpoint(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                  const TensorList& params, bool enabled = true);

}  // namespace tinydiff

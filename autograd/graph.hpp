// The autograd graph. Every differentiable op that runs while grad mode is on and has an
// input that requires grad records a Node: the op's name, its inputs and a closure that maps
// d(loss)/d(output) to d(loss)/d(input_i) for each input. `Tensor::backward` (engine.cpp)
// walks the nodes in reverse topological order and applies these closures: the chain rule.
//
//   out = f(a, b)          forward, run eagerly
//   ga, gb = vjp(gout)     the node's backward: vector-Jacobian products
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace tinydiff {

using TensorList = std::vector<Tensor>;
// Given d(loss)/d(out), returns d(loss)/d(inputs[i]) for each input (an undefined Tensor
// for an input that gets no gradient, e.g. an index).
using BackwardFn = std::function<TensorList(const Tensor& grad_out)>;

struct Node {
  const char* op;        // the op's name, as in autograd/op_list.hpp
  TensorList inputs;     // the tensors the output was computed from
  BackwardFn backward;   // released after backward() unless retain_graph
  uint64_t sequence;     // creation order: a later node never feeds an earlier one
};

// Grad mode: on by default; NoGradGuard turns it off for a scope (inference, optimizer
// updates, and the backward pass itself).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
// Turns grad mode on for a scope (gradient checkpointing re-runs a forward inside backward).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a Node to `out` when grad mode is on and any input requires grad; returns `out`.
// `op` must be listed in autograd/op_list.hpp (so that the gradcheck coverage test sees it).
// The closure must not capture `out` itself (that would be a reference cycle): capture
// `out.detach()` when the backward needs the output, as exp and sigmoid do.
Tensor record(const char* op, Tensor out, TensorList inputs, BackwardFn backward);

// Reverse-mode autodiff from `root` (engine.cpp).
void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph);

}  // namespace tinydiff

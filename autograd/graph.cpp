// Grad mode and node recording: how the forward pass builds the graph.
#include "autograd/graph.hpp"

#include <algorithm>
#include <atomic>

#include "autograd/op_list.hpp"

namespace tinydiff {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { g_grad_enabled = previous_; }

Tensor record(const char* op, Tensor out, TensorList inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any = std::any_of(inputs.begin(), inputs.end(),
                         [](const Tensor& t) { return t.defined() && t.requires_grad(); });
  if (!any) return out;
  TD_CHECK(is_registered_op(op), "autograd: op '", op,
           "' records a graph node but is not listed in autograd/op_list.cpp");
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->sequence = g_sequence++;
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
  return out;
}

}  // namespace tinydiff

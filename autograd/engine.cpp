// The backward engine: reverse-mode automatic differentiation.
//
// For a scalar loss L and a node y = f(x1, ..., xn), the chain rule gives
//   dL/dxi = sum over the uses of xi of (dL/dy)^T dy/dxi
// Each node's backward closure computes the vector-Jacobian products (dL/dy)^T dy/dxi.
// So we visit the nodes from the loss back to the inputs, in an order where a node comes
// only after every node that consumed its output (reverse topological order), handing each
// node the sum of the gradients flowing into its output.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autograd/graph.hpp"
#include "autograd/ops.hpp"

namespace tinydiff {

namespace {

// Adds `g` to *slot, or sets it when empty.
void accumulate(Tensor* slot, const Tensor& g) { *slot = slot->defined() ? add(*slot, g) : g; }

// True when nothing but this one handle can reach g's numbers: g is contiguous and spans the
// whole of a storage that no other tensor shares.
bool sole_owner(const Tensor& g) {
  const std::shared_ptr<TensorImpl>& impl = g.impl_ptr();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && g.offset() == 0 &&
         g.is_contiguous() && g.numel() == impl->storage->numel();
}

// A leaf's .grad gets its own contiguous storage, since optimizers and clip_grad_norm_ write
// into it in place: an incoming gradient that is a view (of another gradient, or an expand
// with zero strides) or that another tensor shares is cloned. One that nothing else can reach,
// the usual case, is kept as it is (PyTorch's AccumulateGrad "steals" it too), which saves a
// copy of every parameter's gradient per step.
void accumulate_leaf(const Tensor& leaf, const Tensor& g) {
  Tensor old = leaf.grad();
  if (old.defined())
    leaf.set_grad(add(old, g));
  else
    leaf.set_grad(sole_owner(g) ? g : g.clone());
}

// Every node reachable from `root`, newest first. Nodes are numbered in creation order and an
// op's inputs always exist before it runs, so sorting by that number, newest first, is a
// valid reverse topological order: a node is visited only after all nodes that use it.
std::vector<Node*> nodes_newest_first(Node* root) {
  // BEGIN EXERCISE 00.4 the topological order (#3-reverse-mode-autodiff)
  std::vector<Node*> nodes, stack{root};
  std::unordered_set<Node*> seen{root};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    nodes.push_back(node);
    for (const Tensor& input : node->inputs) {
      Node* next = input.defined() ? input.grad_fn() : nullptr;
      if (next && seen.insert(next).second) stack.push_back(next);
    }
  }
  std::sort(nodes.begin(), nodes.end(),
            [](Node* a, Node* b) { return a->sequence > b->sequence; });
  return nodes;
  // END EXERCISE
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  TD_CHECK(root.requires_grad(), "backward: the tensor ", describe(root),
           " does not require grad (hint: did an input have requires_grad_() set, and was grad "
           "mode on?)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    TD_CHECK(root.numel() == 1, "backward: the output ", describe(root),
             " is not a scalar; pass its gradient explicitly: out.backward(grad)");
    seed = ones(root.shape(), root.device());
  }
  TD_CHECK(seed.shape() == root.shape(), "backward: gradient shape ", str(seed.shape()),
           " does not match the output shape ", str(root.shape()));
  NoGradGuard no_grad;
  if (root.is_leaf()) {
    accumulate_leaf(root, seed);
    return;
  }
  std::unordered_map<Node*, Tensor> grads{{root.grad_fn(), seed}};
  // BEGIN EXERCISE 00.5 the backward loop: visit, call, accumulate (#3-reverse-mode-autodiff)
  for (Node* node : nodes_newest_first(root.grad_fn())) {
    auto it = grads.find(node);
    if (it == grads.end()) continue;
    Tensor g = std::move(it->second);
    grads.erase(it);
    TD_CHECK(node->backward, "backward: the graph through '", node->op,
             "' was already freed by an earlier backward() (hint: pass retain_graph=true)");
    TensorList input_grads = node->backward(g);
    TD_CHECK(input_grads.size() == node->inputs.size(), "autograd: backward of '", node->op,
             "' returned ", input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      if (!input.defined() || !input.requires_grad() || !input_grads[i].defined()) continue;
      TD_CHECK(input_grads[i].shape() == input.shape(), "autograd: backward of '", node->op,
               "' gave a gradient of shape ", str(input_grads[i].shape()), " for input ", i,
               " of shape ", str(input.shape()));
      if (input.is_leaf()) {
        accumulate_leaf(input, input_grads[i]);
      } else {
        accumulate(&grads[input.grad_fn()], input_grads[i]);
      }
    }
    if (!retain_graph) node->backward = nullptr;  // frees the tensors the closure saved
  }
  // END EXERCISE
}

}  // namespace tinydiff

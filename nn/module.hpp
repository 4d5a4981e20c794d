// Module: the base of every layer and model. A module owns named parameters (trainable
// tensors), buffers (state that is saved but not trained, e.g. BatchNorm's running mean) and
// child modules. Names compose with dots exactly as PyTorch's state_dict keys do:
// "down1.model.0.conv1.0.weight"; Sequential numbers its children 0, 1, 2, ...
//
// A layer subclass declares its tensors and children as members and registers them in its
// constructor:
//   struct Linear : Module {
//     Tensor weight, bias;
//     Linear(int64_t in, int64_t out) { register_parameter("weight", &weight, ...); }
//     Tensor forward(const Tensor& x) override;
//   };
// Registration keeps pointers to the members, so load_state_dict and to(device) update the
// member tensors in place. Modules are therefore held by shared_ptr and never copied.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.hpp"

namespace tinydiff {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name shown by summary(), e.g. "Conv2d".
  virtual std::string type_name() const = 0;
  // The full dotted name inside the root module ("" for the root), e.g. "down1.model.0".
  const std::string& name() const { return name_; }
  // The type and the name, for error messages: "Conv2d 'down1.model.0'" (just "Conv2d" for
  // a root module).
  std::string label() const {
    return name_.empty() ? type_name() : type_name() + " '" + name_ + "'";
  }
  // The single-input forward; modules with other inputs (x, t, c) define their own methods.
  virtual Tensor forward(const Tensor& x);
  // Calls forward and, while a summary trace is running, records the input and output shapes.
  Tensor operator()(const Tensor& x);

  // ---- the parameter tree ----
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  TensorList parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }
  // Parameters then buffers, keyed by their full names.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the registered tensors. strict: a missing key, an unexpected key or a
  // shape mismatch is an Error naming the key (and both shapes).
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves every parameter and buffer to `device` (parameters stay leaves that require grad).
  void to(Device device);
  int64_t num_parameters() const;

  // The parameter table (name, [shape], count, then the total) followed by the forward trace
  // of every child's input and output shapes when `example_input` is given.
  std::string summary(const Tensor& example_input = Tensor());
  // The same for a model whose forward takes several inputs: run_forward calls it once.
  std::string summary(const std::function<void()>& run_forward);
  // Runs fn while recording (module name, type, input shape, output shape) for every
  // module called through operator() (or trace_call), for summary().
  struct TraceEntry {
    std::string name, type;
    Shape input, output;
  };
  static std::vector<TraceEntry> trace(const std::function<void()>& fn);

 protected:
  // Registers a member tensor; parameters get requires_grad.
  void register_parameter(const std::string& name, Tensor* member, Tensor value);
  void register_buffer(const std::string& name, Tensor* member, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }
  // For modules whose forward takes several inputs: records a trace entry for this module.
  void trace_call(const Tensor& input, const Tensor& output) const;

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void set_name(const std::string& qualified);
  // Throws unless `name` is a valid, not yet used name for a parameter, buffer or child.
  void check_new_name(const std::string& name) const;
  // Calls fn(full name, member, is_buffer) for every registered tensor in PyTorch's
  // state_dict order: this module's parameters, its buffers, then each child's, recursively.
  void visit_tensors(const std::string& prefix,
                     const std::function<void(const std::string&, Tensor*, bool)>& fn) const;
  std::string name_;  // the full dotted name inside the root module ("" for the root)
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor*>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Sets every parameter of `m` to zero and returns it (improved-diffusion's zero_module, used
// for output convolutions so each residual block starts as the identity).
void zero_parameters(Module& m);
template <class M>
std::shared_ptr<M> zero_module(std::shared_ptr<M> m) {
  zero_parameters(*m);
  return m;
}

}  // namespace tinydiff

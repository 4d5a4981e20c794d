// Sequential: runs its children in order, each on the previous one's output, as
// torch.nn.Sequential. Children are named "0", "1", ... so parameter names read
// "down.0.weight" as in PyTorch.
#pragma once
#include "nn/module.hpp"

namespace tinydiff {

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& layers);
  std::string type_name() const override { return "Sequential"; }
  // x -> layers[n-1](... layers[0](x))
  Tensor forward(const Tensor& x) override;

  // Appends a layer named by its position.
  void push_back(std::shared_ptr<Module> layer);
  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  // The i-th layer as its own type, e.g. seq.at<Conv2d>(0)->weight; an Error when it is not one.
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    TD_CHECK(typed != nullptr, label(), ": layer ", i, " is a ", (*this)[i]->type_name(),
             ", not the type asked for");
    return typed;
  }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

// sequential({conv, norm, act}): a shared Sequential of the given layers.
inline std::shared_ptr<Sequential> sequential(const std::vector<std::shared_ptr<Module>>& layers) {
  return std::make_shared<Sequential>(layers);
}

}  // namespace tinydiff

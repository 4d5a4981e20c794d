// lesson02 summary: the UNet's parameter table (improved-diffusion's state_dict keys) and the
// shapes through one forward pass, for the model that `train` would build with the same flags.
#include <iostream>

#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"

namespace tinydiff::lesson02 {

int summary(const std::vector<std::string>& args) {
  Flags f("lesson02", "summary", "Prints the UNet's parameters (improved-diffusion's state_dict "
                                 "keys) and the shapes through one forward pass.");
  f.add_choice("dataset", "mnist", {"mnist", "sprites"}, "which data set's model");
  f.add_choice("preset", "quick", {"quick", "paper"}, "the preset whose model is shown");
  add_model_flags(f);
  if (!f.parse(args)) return 0;
  Lesson02Settings s = preset_settings(f.get_string("preset"), f.get_string("dataset"));
  apply_model_flags(f, s);
  UNetModel model(unet_config(s));
  DatasetShape d = dataset_shape(s.dataset);
  Tensor x = zeros({2, d.channels, d.side, d.side}), t = full({2}, 500.f);
  Tensor y = s.class_cond ? class_labels(2, 0, d.num_classes).first : Tensor();
  std::cout << model.summary([&]() { model.forward(x, t, y); });
  return 0;
}

}  // namespace tinydiff::lesson02

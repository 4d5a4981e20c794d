// Scoring samples with the lesson-00 classifier, for the lessons' `eval`:
//   accuracy   the fraction of class-conditional samples that the classifier assigns to the
//              class that was asked for
//   FD         the Fréchet distance (frechet.hpp) between the classifier's features of the
//              samples and of held-out real images, beside the same distance between two
//              disjoint sets of real images: the floor a perfect generator would reach with
//              this many images
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lessons/00_autograd/classifier.hpp"
#include "lessons/common/dataset.hpp"
#include "lessons/common/flags.hpp"

namespace tinydiff {

// --ckpt, --data, --classifier.
void add_eval_flags(Flags& f, const std::string& default_ckpt);
// --classifier, or runs/lesson00-DATASET/ckpt.safetensors when it is not given.
std::string classifier_path(const Flags& f, const std::string& dataset);

// The lesson-00 classifier for `dataset` from a lesson00 checkpoint, in eval mode. Errors
// start with `who` ("lesson01 eval"): a missing file (with the command that trains one), or a
// classifier trained on another data set.
std::shared_ptr<Classifier> load_eval_classifier(const std::string& path,
                                                 const std::string& dataset,
                                                 const std::string& who);

// Classifier features (N, hidden) and predicted classes (N) of images (N, C, H, W), 250
// images at a time.
std::pair<Tensor, Tensor> classifier_embed(Classifier& classifier, const Tensor& images);

// The fraction of `predicted` (N) equal to `classes` (N).
double class_accuracy(const Tensor& predicted, const std::vector<int64_t>& classes);

// Throws unless `real` holds the 2 n images that frechet_scores draws.
void require_real_images(int64_t n, const Dataset& real, const std::string& who);

struct FrechetScores {
  double fd = 0;       // samples against real images
  double fd_real = 0;  // real against real: the floor
};
// The Fréchet distances of the samples' features `fake_features` (n, hidden), from two
// disjoint random draws of n real images. The draws use seed + 1, not the samples' seed.
FrechetScores frechet_scores(Classifier& classifier, const Tensor& fake_features,
                             const Dataset& real, uint64_t seed);

}  // namespace tinydiff

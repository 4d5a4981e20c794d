// lesson02 eval: the lesson's quality numbers.
//   bits/dim   the variational bound on -log2 p(x_0) per pixel, L_0 + ... + L_{T-1} + L_T
//              over all T steps (calc_bpd_loop; Ho et al. Eq. 5, Nichol & Dhariwal Sec. 3.1),
//              on held-out images (given their labels when the model is class-conditional)
//   accuracy   the fraction of class-conditional samples that the lesson-00 classifier
//              assigns to the class asked for
//   FD         the Fréchet distance between the classifier's features of the samples and of
//              held-out images, beside the same distance between two sets of real images
//              (the floor a perfect generator would reach with this many images)
#include <cstdio>

#include "lessons/02_improved_diffusion/commands.hpp"
#include "lessons/02_improved_diffusion/lesson.hpp"
#include "lessons/common/flags.hpp"
#include "lessons/common/progress.hpp"
#include "lessons/common/sample_scores.hpp"

namespace tinydiff::lesson02 {

namespace {

Flags eval_flags() {
  Flags f("lesson02", "eval",
          "Bits/dim on held-out images, classifier accuracy and FD of samples.");
  add_eval_flags(f, "runs/lesson02/ckpt.safetensors");
  f.add_int("bpd-images", 64, "held-out images for bits/dim (0: skip), each over all T steps");
  f.add_int("bpd-batch", 16, "images per calc_bpd_loop call");
  f.add_int("n", 500, "samples to score (a multiple of the number of classes; 0: skip)");
  f.add_string("respace", "50",
               "sampling steps for the scored samples (N, ddimN or 'all'; 'all' is also the "
               "default when T <= 50)");
  f.add_int("seed", 0, "seed of the noise and of the held-out image draws");
  return f;
}

struct BpdNumbers {
  double total = 0, prior = 0, decoder = 0;  // means over the images: L_0..L_T, L_T, L_0
};

// The whole bound on `images` held-out images, bpd_batch at a time.
BpdNumbers bits_per_dim(UNetModel& model, const Lesson02Settings& s, const Dataset& real,
                        int64_t images, int64_t bpd_batch, uint64_t seed) {
  SpacedDiffusion diffusion = make_diffusion(s);
  DataLoader draw(real, seed);
  Generator gen(seed);
  BpdNumbers sums;
  int64_t batches = (images + bpd_batch - 1) / bpd_batch;
  ProgressBar progress(batches, 0, ProgressOptions("bits/dim", bpd_batch));
  for (int64_t b = 0; b < batches; ++b) {
    auto [x0, labels] = draw.next_batch(std::min(bpd_batch, images - b * bpd_batch));
    BpdResult r = diffusion.calc_bpd_loop(diffusion_model(model, s.class_cond ? labels : Tensor()),
                                          x0, true, &gen);
    sums.total += sum(r.total_bpd).item();
    sums.prior += sum(r.prior_bpd).item();
    sums.decoder += sum(narrow(r.vb, 1, s.diffusion_steps - 1, 1)).item();  // column T-1: t = 0
    progress.update(b + 1);
  }
  progress.finish();
  return {sums.total / double(images), sums.prior / double(images), sums.decoder / double(images)};
}

struct SampleScores {
  double accuracy = -1, fd = 0, fd_real = 0;  // accuracy -1: unconditional
};

// Samples n images (n / classes of each class) and scores them with the classifier.
SampleScores score_samples(UNetModel& model, const Lesson02Settings& s, const Flags& f,
                           const std::string& respacing, const Dataset& real,
                           Classifier& classifier) {
  DatasetShape d = dataset_shape(s.dataset);
  int64_t n = f.get_int("n");
  auto [y, classes] = class_labels(n, -1, d.num_classes);
  Generator gen(uint64_t(f.get_int("seed")));
  DiffusionSampleOptions options;
  options.gen = &gen;
  ProgressBar progress(make_diffusion(s, respacing).num_timesteps, 0, ProgressOptions("sample"));
  options.on_step = [&](int64_t done, int64_t) { progress.update(done); };
  Samples samples = draw_samples(model, s, respacing, {n, d.channels, d.side, d.side},
                                 s.class_cond ? y : Tensor(), options);
  progress.finish();

  SampleScores scores;
  auto [fake_features, predicted] = classifier_embed(classifier, samples.x0);
  if (s.class_cond) scores.accuracy = class_accuracy(predicted, classes);
  FrechetScores fd = frechet_scores(classifier, fake_features, real, uint64_t(f.get_int("seed")));
  scores.fd = fd.fd, scores.fd_real = fd.fd_real;
  return scores;
}

// "0.123456" or "null" for a number that was not measured.
std::string json_number(double v, bool measured) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6f", v);
  return measured ? buffer : "null";
}

}  // namespace

int eval(const std::vector<std::string>& args) {
  Flags f = eval_flags();
  if (!f.parse(args)) return 0;
  NoGradGuard no_grad;
  TrainedModel m = load_trained_model(f.get_string("ckpt"), Device::cpu());
  const Lesson02Settings& s = m.settings;
  const std::string respacing = respacing_flag(f, "respace", s.diffusion_steps);
  Dataset real = load_dataset(s.dataset, resolve_data_dir(f.get_string("data")), Split::test);
  int64_t bpd_images = f.get_int("bpd-images"), n = f.get_int("n");
  TD_CHECK(bpd_images >= 0 && n >= 0 && f.get_int("bpd-batch") > 0, "lesson02 eval: --bpd-images "
           "and --n must be >= 0 and --bpd-batch positive");
  require_real_images(n, real, "lesson02 eval");
  std::shared_ptr<Classifier> classifier;  // loaded first: a missing file fails fast
  if (n > 0)
    classifier = load_eval_classifier(classifier_path(f, s.dataset), s.dataset, "lesson02 eval");
  BpdNumbers bpd;
  if (bpd_images > 0)
    bpd = bits_per_dim(*m.model, s, real, bpd_images, f.get_int("bpd-batch"),
                       uint64_t(f.get_int("seed")));
  SampleScores scores;
  if (n > 0) scores = score_samples(*m.model, s, f, respacing, real, *classifier);

  bool has_bpd = bpd_images > 0, has_acc = n > 0 && s.class_cond;
  std::printf("%-30s %s\n%-30s %lld\n", "dataset", s.dataset.c_str(), "train steps",
              (long long)m.step);
  if (has_bpd)
    std::printf("%-30s %.4f (%lld images, T %lld)\n%-30s %.4f\n%-30s %.4f\n", "bits/dim (L_0..L_T)",
                bpd.total, (long long)bpd_images, (long long)s.diffusion_steps, "  prior L_T",
                bpd.prior, "  decoder L_0", bpd.decoder);
  if (n > 0)
    std::printf("%-30s %lld (respacing %s)\n%-30s %s\n%-30s %.3f\n%-30s %.3f\n", "samples",
                (long long)n, respacing_name(respacing).c_str(), "conditional accuracy",
                has_acc ? json_number(scores.accuracy, true).c_str() : "n/a (unconditional)",
                "Frechet distance (samples)", scores.fd, "Frechet distance (real)", scores.fd_real);
  std::printf("{\"dataset\": \"%s\", \"steps\": %lld, \"bpd\": %s, \"bpd_images\": %lld, "
              "\"prior_bpd\": %s, \"samples\": %lld, \"respace\": \"%s\", \"accuracy\": %s, "
              "\"fd\": %s, \"fd_real\": %s}\n",
              s.dataset.c_str(), (long long)m.step, json_number(bpd.total, has_bpd).c_str(),
              (long long)bpd_images, json_number(bpd.prior, has_bpd).c_str(), (long long)n,
              respacing_name(respacing).c_str(), json_number(scores.accuracy, has_acc).c_str(),
              json_number(scores.fd, n > 0).c_str(), json_number(scores.fd_real, n > 0).c_str());
  return 0;
}

}  // namespace tinydiff::lesson02

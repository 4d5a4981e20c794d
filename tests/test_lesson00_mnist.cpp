// The end-to-end check that autograd trains: lesson 00's CNN on MNIST, a few hundred Adam
// steps, must classify >= 97% of the 10000 test digits. Skipped without the data; shortened
// under TINYDIFF_QUICK_TESTS (the sanitizer run), where it checks learning, not the number.
#include <cstdlib>

#include "lessons/00_autograd/classifier.hpp"
#include "lessons/common/dataset.hpp"
#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

TEST_SUITE("lesson00") {

TEST_CASE("lesson00: the CNN reaches 97% MNIST test accuracy in a few hundred steps") {
  std::string data = tinydiff::test::data_dir();
  if (data.empty()) return tinydiff::test::skip("no data folder: set TINYDIFF_DATA to ../shared/data");
  bool quick = std::getenv("TINYDIFF_QUICK_TESTS") != nullptr;
  int64_t steps = quick ? 40 : 400, batch = 64;
  Dataset train = load_mnist(data, Split::train), test = load_mnist(data, Split::test);
  if (quick) test = select_rows(test, [] { std::vector<int64_t> r(1000); for (int64_t i = 0; i < 1000; ++i) r[i] = i; return r; }());

  manual_seed(0);
  Classifier model(ClassifierConfig{});
  Adam optimizer(model.named_parameters(), AdamOptions{1e-3});
  DataLoader loader(train, 0);
  for (int64_t step = 0; step < steps; ++step) {
    auto [images, labels] = loader.next_batch(batch);
    Tensor loss = cross_entropy(model(images), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  NoGradGuard no_grad;
  model.eval();
  Tensor predicted = argmax(model(test.images), 1);
  double accuracy = sum(eq(predicted, test.labels)).item() / double(test.size());
  MESSAGE("MNIST test accuracy after " << steps << " steps: " << accuracy);
  CHECK(accuracy >= (quick ? 0.6 : 0.97));
}

}  // TEST_SUITE

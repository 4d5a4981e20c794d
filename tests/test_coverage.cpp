// The op inventory's promise: every differentiable op listed in autograd/op_list.cpp has a
// finite-difference gradcheck (GRADCHECK_CASE) and a PyTorch parity test (PARITY_CASE).
// Adding an op to the list without both makes this test fail.
#include "autograd/op_list.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;

TEST_CASE("every registered op has a gradcheck and a PyTorch parity case") {
  const auto& ops = registered_ops();
  CHECK(ops.size() >= 70);
  for (const std::string& op : ops) {
    CHECK_MESSAGE(test::has_gradcheck(op), op << " has no GRADCHECK_CASE");
    CHECK_MESSAGE(test::has_parity(op), op << " has no PARITY_CASE");
  }
}

TEST_CASE("record refuses an op name that is not in the inventory") {
  Tensor x = ones({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(record("not_an_op", x.detach(), {x}, [](const Tensor& g) { return TensorList{g}; }),
                       doctest::Contains("not listed in autograd/op_list.cpp"), Error);
}

// The inventory of differentiable ops. Every name that `record()` attaches to a graph node,
// and every public differentiable function, is listed in op_list.cpp; the test suite checks
// that each one has a finite-difference gradcheck and a PyTorch parity case.
#pragma once
#include <string>
#include <vector>

namespace tinydiff {

const std::vector<std::string>& registered_ops();
bool is_registered_op(const std::string& name);

}  // namespace tinydiff

// The whole public API in one include.
#pragma once
#include "autograd/checkpoint.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/graph.hpp"
#include "autograd/ops.hpp"
#include "nn/functional.hpp"
#include "nn/safetensors.hpp"
#include "tensor/rng.hpp"
#include "tensor/storage.hpp"
#include "tensor/tensor.hpp"

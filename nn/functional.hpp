// The functional neural-network ops (no parameters held), as torch.nn.functional.
#pragma once
#include "nn/functional/attention.hpp"
#include "nn/functional/conv.hpp"
#include "nn/functional/dropout.hpp"
#include "nn/functional/embedding.hpp"
#include "nn/functional/loss.hpp"
#include "nn/functional/normalization.hpp"

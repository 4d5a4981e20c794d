// Every layer of nn/ in one include: the Module base, the layers and their initialisation.
#pragma once
#include "nn/attention.hpp"
#include "nn/basic.hpp"
#include "nn/conv.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/normalization.hpp"
#include "nn/sequential.hpp"
#include "nn/timestep_embedding.hpp"

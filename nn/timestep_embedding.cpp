#include "nn/timestep_embedding.hpp"

#include <cmath>

namespace tinydiff {

// timesteps (N) -> (N, dim)
Tensor timestep_embedding(const Tensor& timesteps, int64_t dim, float max_period) {
  TD_CHECK(timesteps.dim() == 1, "timestep_embedding: timesteps must be 1-d (N), got ",
           str(timesteps.shape()));
  TD_CHECK(dim >= 2, "timestep_embedding: dim must be at least 2, got ", dim);
  TD_CHECK(max_period > 0.f, "timestep_embedding: max_period must be positive, got ", max_period);
  // BEGIN EXERCISE 02.1 the timestep embedding (#7-the-model-improved-diffusions-unet)
  int64_t half = dim / 2;
  Device device = timesteps.device();
  Tensor freqs = exp(arange(0.f, float(half), 1.f, device) * (-std::log(max_period) / float(half)));
  Tensor args = timesteps.unsqueeze(1) * freqs.unsqueeze(0);  // (N, half)
  Tensor emb = cat({cos(args), sin(args)}, 1);
  if (dim % 2) emb = cat({emb, zeros({timesteps.size(0), 1}, device)}, 1);
  return emb;
  // END EXERCISE
}

}  // namespace tinydiff

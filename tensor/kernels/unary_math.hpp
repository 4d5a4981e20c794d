// Elementwise functions and their derivatives, side by side. Each functor has
//   f(x)          the forward value
//   df(x, y)      dy/dx, given the input x and the output y = f(x)
// and optional constants a, b (the exponent of pow, the bounds of clamp). The CPU and CUDA
// kernels are both instantiated from these, so the math is written exactly once.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/kernels/dispatch.hpp"

namespace tinydiff {

enum class UnaryOp {
  Neg, Exp, Log, Log1p, Sqrt, Rsqrt, Abs, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu,
  Square, PowScalar, Clamp, AddScalar, MulScalar, RsubScalar, Sign
};

namespace math {

// y = -x; dy/dx = -1
struct Neg { TD_HD static float f(float x, float, float) { return -x; }
             TD_HD static float df(float, float, float, float) { return -1.f; } };
// y = e^x; dy/dx = e^x = y
struct Exp { TD_HD static float f(float x, float, float) { return expf(x); }
             TD_HD static float df(float, float y, float, float) { return y; } };
// y = ln x; dy/dx = 1/x
struct Log { TD_HD static float f(float x, float, float) { return logf(x); }
             TD_HD static float df(float x, float, float, float) { return 1.f / x; } };
// y = ln(1 + x); dy/dx = 1/(1 + x)
struct Log1p { TD_HD static float f(float x, float, float) { return log1pf(x); }
               TD_HD static float df(float x, float, float, float) { return 1.f / (1.f + x); } };
// y = sqrt(x); dy/dx = 1/(2 sqrt(x)) = 1/(2y)
struct Sqrt { TD_HD static float f(float x, float, float) { return sqrtf(x); }
              TD_HD static float df(float, float y, float, float) { return 0.5f / y; } };
// y = x^(-1/2); dy/dx = -1/2 x^(-3/2) = -y^3/2
struct Rsqrt { TD_HD static float f(float x, float, float) { return 1.f / sqrtf(x); }
               TD_HD static float df(float, float y, float, float) { return -0.5f * y * y * y; } };
// y = |x|; dy/dx = sign(x) (0 at 0, as PyTorch)
struct Abs { TD_HD static float f(float x, float, float) { return fabsf(x); }
             TD_HD static float df(float x, float, float, float) { return float((x > 0) - (x < 0)); } };
// y = sin x; dy/dx = cos x
struct Sin { TD_HD static float f(float x, float, float) { return sinf(x); }
             TD_HD static float df(float x, float, float, float) { return cosf(x); } };
// y = cos x; dy/dx = -sin x
struct Cos { TD_HD static float f(float x, float, float) { return cosf(x); }
             TD_HD static float df(float x, float, float, float) { return -sinf(x); } };
// y = tanh x; dy/dx = 1 - y^2
struct Tanh { TD_HD static float f(float x, float, float) { return tanhf(x); }
              TD_HD static float df(float, float y, float, float) { return 1.f - y * y; } };
// y = 1/(1 + e^-x); dy/dx = y (1 - y)
struct Sigmoid { TD_HD static float f(float x, float, float) { return 1.f / (1.f + expf(-x)); }
                 TD_HD static float df(float, float y, float, float) { return y * (1.f - y); } };
// y = max(x, 0); dy/dx = [x > 0]
struct Relu { TD_HD static float f(float x, float, float) { return x > 0 ? x : 0.f; }
              TD_HD static float df(float x, float, float, float) { return x > 0 ? 1.f : 0.f; } };
// e^x in plain float arithmetic, so that a loop over it vectorises (libm's expf is one call
// per element, which made GELU a quarter of a training step). Cody-Waite: x = n ln 2 + r with
// n = round(x / ln 2), |r| <= ln(2)/2, ln 2 split in two parts so that r is exact; e^r by its
// Taylor series to r^7 (truncation error < 6e-9 relative); 2^n written into the exponent bits.
// Adding 1.5 * 2^23 rounds x / ln 2 to an integer that lands in the low mantissa bits.
// Below -87.3 (where e^x leaves the normal floats) it returns 0, above 88.7 infinity, and NaN
// passes through (comparisons with NaN are false). Relative error < 1e-7 in between.
TD_HD float exp_approx(float x_in) {
  const float x = x_in < -87.f ? -87.f : (x_in > 88.f ? 88.f : x_in);
  const float shifter = 12582912.f;  // 1.5 * 2^23
  const float shifted = fmaf(x, 1.44269504f, shifter);
  const float n = shifted - shifter;
  float r = fmaf(n, -0.693145751953125f, x);  // ln 2, high part (exact times n)
  r = fmaf(n, -1.428606765330187e-06f, r);    // ln 2, low part
  float p = 1.f / 5040;
  p = fmaf(p, r, 1.f / 720);
  p = fmaf(p, r, 1.f / 120);
  p = fmaf(p, r, 1.f / 24);
  p = fmaf(p, r, 1.f / 6);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.f);
  p = fmaf(p, r, 1.f);
  uint32_t bits;  // shifted's bits are 0x4B400000 + n; 2^n's are (n + 127) << 23
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return x_in < -87.33654f ? 0.f : (x_in > 88.72284f ? INFINITY : p * scale);
}

// The standard normal CDF Phi(x) = erfc(-x/sqrt 2)/2, vectorisable. erfc(z) for z = |x|/sqrt 2
// is t exp(-z^2 + P(t)), t = 1/(1 + z/2), P a degree-9 polynomial (Numerical Recipes in C,
// 2nd ed., Sec. 6.2, "erfcc": relative error < 1.2e-7 for all z >= 0). Working from erfc keeps
// the relative accuracy in the left tail, where 1 + erf(x/sqrt 2) would cancel.
TD_HD float normal_cdf(float x) {
  const float z = fabsf(x) * 0.70710678f;
  const float t = 1.f / fmaf(0.5f, z, 1.f);
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
  const float half_erfc = 0.5f * t * exp_approx(p - z * z);  // Phi(-|x|)
  return x >= 0.f ? 1.f - half_erfc : half_erfc;
}

// GELU, erf form (Hendrycks & Gimpel 2016): y = x Phi(x), Phi(x) = (1 + erf(x/sqrt 2))/2;
// dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2)/sqrt(2 pi)
struct Gelu {
  TD_HD static float f(float x, float, float) { return x * normal_cdf(x); }
  TD_HD static float df(float x, float, float, float) {
    return normal_cdf(x) + x * 0.39894228f * exp_approx(-0.5f * x * x);
  }
};
// GELU, tanh form: y = x/2 (1 + tanh u), u = sqrt(2/pi)(x + 0.044715 x^3);
// dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi)(1 + 3 * 0.044715 x^2)
struct GeluTanh {
  TD_HD static float f(float x, float, float) {
    return 0.5f * x * (1.f + tanhf(0.79788456f * (x + 0.044715f * x * x * x)));
  }
  TD_HD static float df(float x, float, float, float) {
    float t = tanhf(0.79788456f * (x + 0.044715f * x * x * x));
    return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * 0.79788456f * (1.f + 0.134145f * x * x);
  }
};
// SiLU (swish): y = x sigmoid(x); dy/dx = s (1 + x (1 - s)), s = sigmoid(x)
struct Silu {
  TD_HD static float f(float x, float, float) { return x / (1.f + exp_approx(-x)); }
  TD_HD static float df(float x, float, float, float) {
    float s = 1.f / (1.f + exp_approx(-x));
    return s * (1.f + x * (1.f - s));
  }
};
// y = x^2; dy/dx = 2x
struct Square { TD_HD static float f(float x, float, float) { return x * x; }
                TD_HD static float df(float x, float, float, float) { return 2.f * x; } };
// y = x^a; dy/dx = a x^(a-1)
struct PowScalar { TD_HD static float f(float x, float a, float) { return powf(x, a); }
                   TD_HD static float df(float x, float, float a, float) { return a * powf(x, a - 1.f); } };
// y = min(max(x, a), b); dy/dx = [a <= x <= b]
struct Clamp {
  TD_HD static float f(float x, float a, float b) { return x < a ? a : (x > b ? b : x); }
  TD_HD static float df(float x, float, float a, float b) { return (x >= a && x <= b) ? 1.f : 0.f; }
};
// y = x + a; dy/dx = 1
struct AddScalar { TD_HD static float f(float x, float a, float) { return x + a; }
                   TD_HD static float df(float, float, float, float) { return 1.f; } };
// y = a x; dy/dx = a
struct MulScalar { TD_HD static float f(float x, float a, float) { return a * x; }
                   TD_HD static float df(float, float, float a, float) { return a; } };
// y = a - x; dy/dx = -1
struct RsubScalar { TD_HD static float f(float x, float a, float) { return a - x; }
                    TD_HD static float df(float, float, float, float) { return -1.f; } };
// y = sign(x) in {-1, 0, 1}; not differentiable (zero gradient)
struct Sign { TD_HD static float f(float x, float, float) { return float((x > 0) - (x < 0)); }
              TD_HD static float df(float, float, float, float) { return 0.f; } };

}  // namespace math

// Calls fn(math::Functor{}) for the functor of `op`: both backends use it to instantiate
// one kernel per op.
template <class Fn>
TD_HD void with_unary_functor(UnaryOp op, Fn&& fn) {
  switch (op) {
    case UnaryOp::Neg: fn(math::Neg{}); break;
    case UnaryOp::Exp: fn(math::Exp{}); break;
    case UnaryOp::Log: fn(math::Log{}); break;
    case UnaryOp::Log1p: fn(math::Log1p{}); break;
    case UnaryOp::Sqrt: fn(math::Sqrt{}); break;
    case UnaryOp::Rsqrt: fn(math::Rsqrt{}); break;
    case UnaryOp::Abs: fn(math::Abs{}); break;
    case UnaryOp::Sin: fn(math::Sin{}); break;
    case UnaryOp::Cos: fn(math::Cos{}); break;
    case UnaryOp::Tanh: fn(math::Tanh{}); break;
    case UnaryOp::Sigmoid: fn(math::Sigmoid{}); break;
    case UnaryOp::Relu: fn(math::Relu{}); break;
    case UnaryOp::Gelu: fn(math::Gelu{}); break;
    case UnaryOp::GeluTanh: fn(math::GeluTanh{}); break;
    case UnaryOp::Silu: fn(math::Silu{}); break;
    case UnaryOp::Square: fn(math::Square{}); break;
    case UnaryOp::PowScalar: fn(math::PowScalar{}); break;
    case UnaryOp::Clamp: fn(math::Clamp{}); break;
    case UnaryOp::AddScalar: fn(math::AddScalar{}); break;
    case UnaryOp::MulScalar: fn(math::MulScalar{}); break;
    case UnaryOp::RsubScalar: fn(math::RsubScalar{}); break;
    case UnaryOp::Sign: fn(math::Sign{}); break;
  }
}

}  // namespace tinydiff

// Elementwise functions and their derivatives, side by side. Each functor has
//   f(x)          the forward value
//   df(x, y)      dy/dx, given the input x and the output y = f(x)
// and optional constants a, b (the exponent of pow, the bounds of clamp). The CPU and CUDA
// kernels are both instantiated from these, so the math is written exactly once.
#pragma once
#include <cmath>

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
// GELU, erf form (Hendrycks & Gimpel 2016): y = x Phi(x), Phi(x) = (1 + erf(x/sqrt 2))/2;
// dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2)/sqrt(2 pi)
struct Gelu {
  TD_HD static float f(float x, float, float) { return 0.5f * x * (1.f + erff(x * 0.70710678f)); }
  TD_HD static float df(float x, float, float, float) {
    return 0.5f * (1.f + erff(x * 0.70710678f)) + x * 0.39894228f * expf(-0.5f * x * x);
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
  TD_HD static float f(float x, float, float) { return x / (1.f + expf(-x)); }
  TD_HD static float df(float x, float, float, float) {
    float s = 1.f / (1.f + expf(-x));
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

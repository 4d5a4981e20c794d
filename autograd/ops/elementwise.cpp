// Elementwise ops. Unary ops share one pattern: the kernel computes y = f(x) and the
// backward computes gx = g * f'(x, y), both from the functor in tensor/kernels/unary_math.hpp
// where each derivative is written beside its function. Binary ops broadcast; their
// gradients are summed back over broadcast axes with sum_to.
#include "autograd/ops.hpp"
#include "tensor/kernels/elementwise.hpp"

namespace tinydiff {

namespace {

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  TD_CHECK(a.device() == b.device(), op, ": inputs are on different devices (", a.device().str(),
           " ", str(a.shape()), " and ", b.device().str(), " ", str(b.shape()), ")");
}

StridedInput strided(const Tensor& t, const Shape& out_shape) {
  return {t.data(), broadcast_strides(t.shape(), t.strides(), out_shape)};
}

Tensor unary(const char* name, UnaryOp op, const Tensor& x, float a = 0.f, float b = 0.f) {
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.device());
  TD_DISPATCH(x.device(), unary, op, xc.data(), y.data(), y.numel(), a, b);
  Tensor x_saved = xc.detach(), y_saved = y.detach();
  return record(name, y, {x}, [op, a, b, x_saved, y_saved](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(gc.shape(), gc.device());
    TD_DISPATCH(gc.device(), unary_backward, op, x_saved.data(), y_saved.data(), gc.data(),
                gx.data(), gx.numel(), a, b);
    return TensorList{gx};
  });
}

// The forward of a broadcasting binary op, without a graph node.
Tensor binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.device());
  TD_DISPATCH(a.device(), binary, op, strided(a, out_shape), strided(b, out_shape), out.data(),
              out_shape);
  return out;
}

}  // namespace

// add: y = a + b; dy/da = 1, dy/db = 1
Tensor add(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  return record("add", binary("add", BinaryOp::Add, a, b), {a, b}, [sa, sb](const Tensor& g) {
    return TensorList{sum_to(g, sa), sum_to(g, sb)};
  });
}

// sub: y = a - b; dy/da = 1, dy/db = -1
Tensor sub(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  return record("sub", binary("sub", BinaryOp::Sub, a, b), {a, b}, [sa, sb](const Tensor& g) {
    return TensorList{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

// mul: y = a b; dy/da = b, dy/db = a
Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", binary("mul", BinaryOp::Mul, a, b), {a, b}, [a, b](const Tensor& g) {
    return TensorList{a.requires_grad() ? sum_to(mul(g, b), a.shape()) : Tensor(),
                      b.requires_grad() ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

// div: y = a / b; dy/da = 1/b, dy/db = -a/b^2
Tensor div(const Tensor& a, const Tensor& b) {
  return record("div", binary("div", BinaryOp::Div, a, b), {a, b}, [a, b](const Tensor& g) {
    // BEGIN EXERCISE 00.1 div's backward with broadcasting (#3-reverse-mode-autodiff)
    Tensor ga = div(g, b);
    return TensorList{sum_to(ga, a.shape()),
                      b.requires_grad() ? sum_to(neg(mul(ga, div(a, b))), b.shape()) : Tensor()};
    // END EXERCISE
  });
}

// maximum: y = max(a, b); dy/da = [a > b] + [a == b]/2 (ties share the gradient, as PyTorch)
Tensor maximum(const Tensor& a, const Tensor& b) {
  return record("maximum", binary("maximum", BinaryOp::Maximum, a, b), {a, b},
                [a, b](const Tensor& g) {
                  Tensor wa = add(gt(a, b), mul(eq(a, b), 0.5f));
                  return TensorList{sum_to(mul(g, wa), a.shape()),
                                    sum_to(mul(g, rsub(wa, 1.f)), b.shape())};
                });
}

// minimum: y = min(a, b); dy/da = [a < b] + [a == b]/2
Tensor minimum(const Tensor& a, const Tensor& b) {
  return record("minimum", binary("minimum", BinaryOp::Minimum, a, b), {a, b},
                [a, b](const Tensor& g) {
                  Tensor wa = add(lt(a, b), mul(eq(a, b), 0.5f));
                  return TensorList{sum_to(mul(g, wa), a.shape()),
                                    sum_to(mul(g, rsub(wa, 1.f)), b.shape())};
                });
}

// pow: y = a^b; dy/da = b a^(b-1), dy/db = a^b ln a
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = binary("pow", BinaryOp::Pow, a, b);
  Tensor y_saved = y.detach();
  return record("pow", y, {a, b}, [a, b, y_saved](const Tensor& g) {
    Tensor ga = mul(g, mul(b, pow(a, add(b, -1.f))));
    Tensor gb = b.requires_grad() ? sum_to(mul(g, mul(y_saved, log(a))), b.shape()) : Tensor();
    return TensorList{sum_to(ga, a.shape()), gb};
  });
}

// where: y = cond ? a : b; dy/da = [cond], dy/db = [not cond]; cond gets no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device(a, b, "where");
  check_same_device(cond, a, "where");
  Shape out_shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"),
                                     b.shape(), "where");
  Tensor out = Tensor::empty(out_shape, a.device());
  TD_DISPATCH(a.device(), where, strided(cond, out_shape), strided(a, out_shape),
              strided(b, out_shape), out.data(), out_shape);
  Tensor c = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  return record("where", out, {Tensor(), a, b}, [c, sa, sb](const Tensor& g) {
    Tensor z = zeros({}, g.device());
    return TensorList{Tensor(), sum_to(where(c, g, z), sa), sum_to(where(c, z, g), sb)};
  });
}

// Scalar forms: one-input unary kernels, recorded under the binary op's name.
Tensor add(const Tensor& a, float b) { return unary("add", UnaryOp::AddScalar, a, b); }
Tensor mul(const Tensor& a, float b) { return unary("mul", UnaryOp::MulScalar, a, b); }
Tensor rsub(const Tensor& a, float b) { return unary("sub", UnaryOp::RsubScalar, a, b); }
Tensor pow(const Tensor& a, float exponent) { return unary("pow", UnaryOp::PowScalar, a, exponent); }

// The derivative of each of these is beside its function in tensor/kernels/unary_math.hpp.
Tensor neg(const Tensor& x) { return unary("neg", UnaryOp::Neg, x); }
Tensor square(const Tensor& x) { return unary("square", UnaryOp::Square, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary("rsqrt", UnaryOp::Rsqrt, x); }
Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::Log, x); }
Tensor log1p(const Tensor& x) { return unary("log1p", UnaryOp::Log1p, x); }
Tensor abs(const Tensor& x) { return unary("abs", UnaryOp::Abs, x); }
Tensor sin(const Tensor& x) { return unary("sin", UnaryOp::Sin, x); }
Tensor cos(const Tensor& x) { return unary("cos", UnaryOp::Cos, x); }
Tensor tanh(const Tensor& x) { return unary("tanh", UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", UnaryOp::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary("relu", UnaryOp::Relu, x); }
Tensor gelu(const Tensor& x) { return unary("gelu", UnaryOp::Gelu, x); }
Tensor gelu_tanh(const Tensor& x) { return unary("gelu_tanh", UnaryOp::GeluTanh, x); }
Tensor silu(const Tensor& x) { return unary("silu", UnaryOp::Silu, x); }
Tensor clamp(const Tensor& x, float lo, float hi) {
  TD_CHECK(lo <= hi, "clamp: lower bound ", lo, " is above upper bound ", hi);
  return unary("clamp", UnaryOp::Clamp, x, lo, hi);
}
Tensor sign(const Tensor& x) {
  NoGradGuard no_grad;
  return unary("sign", UnaryOp::Sign, x);
}

// Comparisons: 0/1 results, no gradient.
Tensor eq(const Tensor& a, const Tensor& b) { return binary("eq", BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary("ne", BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary("lt", BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary("le", BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary("gt", BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary("ge", BinaryOp::Ge, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, float b) { return add(a, b); }
Tensor operator+(float a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
Tensor operator-(float a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, float b) { return mul(a, 1.f / b); }
Tensor operator/(float a, const Tensor& b) { return mul(pow(b, -1.f), a); }

}  // namespace tinydiff

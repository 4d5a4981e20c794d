// The CUDA backend below the ops: Philox streams equal on both devices, both GPU GEMMs
// (cuBLAS and the tiled kernel) on every GemmArgs combination, the convolution primitives, the
// device memory statistics and the device errors. Skipped without a GPU, except the error a
// GPU-less run must give.
#include "nn/functional.hpp"
#include "tensor/kernels/conv.hpp"
#include "tensor/kernels/matmul.hpp"
#include "tests/cuda_parity.hpp"

using namespace tinydiff;
using test::check_devices;
using test::gpu_or_skip;
using test::kGemmRtol;
using test::require_device_close;
using test::require_device_equal;
using test::ScopedEnv;
using test::values;

#define REQUIRE_GPU() \
  if (!gpu_or_skip()) return

TEST_CASE("cuda: without a GPU, asking for a CUDA tensor is a clear error") {
  if (cuda_available()) return test::skip("a GPU is visible");
  CHECK_THROWS_WITH_AS(zeros({2, 3}, Device::cuda()), doctest::Contains("a CUDA tensor was asked for"),
                       Error);
  CHECK_THROWS_WITH_AS(test::uniform({2}, 0.f, 1.f, 1).to(Device::cuda()),
                       doctest::Contains("a CUDA tensor was asked for"), Error);
}

// ---- Philox ----

TEST_CASE("cuda Philox: rand, randint and randn draw the CPU's numbers") {
  REQUIRE_GPU();
  Generator cpu_gen(42), gpu_gen(42);
  // 1001 is not a multiple of 4: the last Philox block is cut short.
  require_device_equal(rand({1001}, &gpu_gen, Device::cuda()), rand({1001}, &cpu_gen), "rand");
  // The second draw starts at a non-zero offset.
  require_device_equal(rand({7, 9}, &gpu_gen, Device::cuda()), rand({7, 9}, &cpu_gen), "rand at an offset");
  require_device_equal(randint(-3, 11, {500}, &gpu_gen, Device::cuda()), randint(-3, 11, {500}, &cpu_gen),
                       "randint");
  // Box-Muller runs logf/cosf/sinf, which may differ in the last bit between the two libms.
  require_device_close(randn({3, 333}, &gpu_gen, Device::cuda()), randn({3, 333}, &cpu_gen),
                       test::kElementwiseRtol, "randn");
  require_device_close(gumbel_noise({64}, &gpu_gen, Device::cuda()), gumbel_noise({64}, &cpu_gen),
                       test::kElementwiseRtol, "gumbel_noise");
  CHECK(gpu_gen.state().offset == cpu_gen.state().offset);
}

// ---- GEMM ----

namespace {

// C = alpha op(A) op(B) + beta C on both devices through the kernel interface itself, for
// every transpose combination, with a broadcast A (batch stride 0) and padded rows (ld > cols).
void check_gemm_args() {
  const int64_t batch = 3, m = 13, n = 21, k = 37, pad = 3;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) {
      CAPTURE(trans_a);
      CAPTURE(trans_b);
      const int64_t a_rows = trans_a ? k : m, a_cols = (trans_a ? m : k) + pad;
      const int64_t b_rows = trans_b ? n : k, b_cols = (trans_b ? k : n) + pad;
      Tensor a = test::uniform({a_rows, a_cols}, -1.f, 1.f, 1, false);
      Tensor b = test::uniform({batch, b_rows, b_cols}, -1.f, 1.f, 2, false);
      Tensor c = test::uniform({batch, m, n + pad}, -1.f, 1.f, 3, false);
      Tensor a_gpu = a.to(Device::cuda()), b_gpu = b.to(Device::cuda()), c_gpu = c.to(Device::cuda());
      GemmArgs args;
      args.trans_a = trans_a, args.trans_b = trans_b;
      args.batch = batch, args.m = m, args.n = n, args.k = k, args.alpha = 0.5f, args.beta = 2.f;
      args.lda = a_cols, args.stride_a = 0, args.ldb = b_cols, args.stride_b = b_rows * b_cols;
      args.ldc = n + pad, args.stride_c = m * (n + pad);
      GemmArgs on_gpu = args;
      args.a = a.data(), args.b = b.data(), args.c = c.data();
      on_gpu.a = a_gpu.data(), on_gpu.b = b_gpu.data(), on_gpu.c = c_gpu.data();
      TD_DISPATCH(Device::cpu(), gemm, args);
      TD_DISPATCH(Device::cuda(), gemm, on_gpu);
      require_device_close(c_gpu, c, kGemmRtol, "C");
    }
}

// The GEMM-backed op cases again, for a run with the tiled kernel.
void check_gemm_ops() {
  check_devices({values({2, 3, 17, 40}), values({40, 9})},
                [](const TensorList& in) { return matmul(in[0], in[1]); }, kGemmRtol);
  check_devices({values({6, 5}), values({7, 5})},
                [](const TensorList& in) { return matmul(in[0], transpose(in[1], 0, 1)); }, kGemmRtol);
  check_devices({values({2, 4, 6, 6}), values({6, 2, 3, 3}), values({6})},
                [](const TensorList& in) { return conv2d(in[0], in[1], in[2], 2, 1, 1, 2); }, kGemmRtol);
  check_devices({values({2, 4, 5, 5}), values({4, 3, 2, 2}), values({3})},
                [](const TensorList& in) { return conv_transpose2d(in[0], in[1], in[2], 2); }, kGemmRtol);
}

}  // namespace

TEST_CASE("cuda gemm: cuBLAS with alpha, beta, transposes and batch strides") {
  REQUIRE_GPU();
  ScopedEnv env("TINYDIFF_GEMM", "cublas");
  check_gemm_args();
}

TEST_CASE("cuda gemm: the tiled kernel with alpha, beta, transposes and batch strides") {
  REQUIRE_GPU();
  ScopedEnv env("TINYDIFF_GEMM", "tiled");
  check_gemm_args();
}

TEST_CASE("cuda gemm: matmul and convolutions through the tiled kernel") {
  REQUIRE_GPU();
  ScopedEnv env("TINYDIFF_GEMM", "tiled");
  check_gemm_ops();
}

TEST_CASE("cuda gemm: an empty inner dimension gives beta C (zeros for matmul)") {
  REQUIRE_GPU();
  Tensor a = zeros({3, 0}, Device::cuda()), b = zeros({0, 4}, Device::cuda());
  require_device_equal(matmul(a, b), zeros({3, 4}), "matmul of (3, 0) @ (0, 4)");
}

TEST_CASE("cuda gemm: an unknown TINYDIFF_GEMM is an error naming it") {
  REQUIRE_GPU();
  ScopedEnv env("TINYDIFF_GEMM", "fastest");
  Tensor a = ones({2, 2}, Device::cuda());
  CHECK_THROWS_WITH_AS(matmul(a, a), doctest::Contains("TINYDIFF_GEMM is 'fastest'"), Error);
}

// ---- convolution primitives ----

// im2col copies and col2im adds in the CPU's order, so both devices agree exactly.
TEST_CASE("cuda conv primitives: im2col and col2im of one image equal the CPU's") {
  REQUIRE_GPU();
  struct Case { int64_t kh, kw, stride, padding, dilation; };
  for (const Case& k : {Case{3, 3, 1, 1, 1}, Case{3, 2, 2, 1, 1}, Case{3, 3, 1, 2, 2},
                        Case{2, 2, 2, 0, 1}, Case{1, 1, 1, 0, 1}}) {
    INFO("kernel ", k.kh, "x", k.kw, ", stride ", k.stride, ", padding ", k.padding,
         ", dilation ", k.dilation);
    ConvGeometry g;
    g.in_channels = 3, g.in_h = 7, g.in_w = 6;
    g.kernel_h = k.kh, g.kernel_w = k.kw;
    g.stride = k.stride, g.padding = k.padding, g.dilation = k.dilation;
    g.out_h = (g.in_h + 2 * g.padding - g.dilation * (g.kernel_h - 1) - 1) / g.stride + 1;
    g.out_w = (g.in_w + 2 * g.padding - g.dilation * (g.kernel_w - 1) - 1) / g.stride + 1;
    const Shape columns_shape{g.in_channels * g.kernel_h * g.kernel_w, g.out_h * g.out_w};
    Tensor image = test::uniform({g.in_channels, g.in_h, g.in_w}, -1.f, 1.f, 1, false);
    Tensor columns = zeros(columns_shape), columns_gpu = zeros(columns_shape, Device::cuda());
    Tensor image_gpu = image.to(Device::cuda());
    TD_DISPATCH(Device::cpu(), im2col, g, image.data(), columns.data());
    TD_DISPATCH(Device::cuda(), im2col, g, image_gpu.data(), columns_gpu.data());
    require_device_equal(columns_gpu, columns, "im2col");

    Tensor grad = test::uniform(columns_shape, -1.f, 1.f, 2, false);
    Tensor grad_gpu = grad.to(Device::cuda());
    TD_DISPATCH(Device::cpu(), col2im, g, grad.data(), image.data());  // adds onto the image
    TD_DISPATCH(Device::cuda(), col2im, g, grad_gpu.data(), image_gpu.data());
    require_device_equal(image_gpu, image, "col2im");
  }
}

// ---- memory, devices ----

TEST_CASE("cuda memory: the caching allocator counts and reuses device blocks") {
  REQUIRE_GPU();
  empty_cache(Device::cuda());
  MemoryStats before = memory_stats(Device::cuda());
  {
    Tensor t = zeros({1 << 20}, Device::cuda());  // 4 MiB
    CHECK(memory_stats(Device::cuda()).current_bytes >= before.current_bytes + (4 << 20));
  }
  MemoryStats after = memory_stats(Device::cuda());
  CHECK(after.current_bytes == before.current_bytes);
  CHECK(after.cached_bytes >= (4 << 20));
  Tensor again = zeros({1 << 20}, Device::cuda());  // served from the cache
  CHECK(memory_stats(Device::cuda()).cached_bytes == after.cached_bytes - (4 << 20));
  CHECK(memory_stats(Device::cuda()).allocations == after.allocations + 1);
  empty_cache(Device::cuda());
  CHECK(memory_stats(Device::cuda()).cached_bytes == 0);
}

TEST_CASE("cuda: mixing devices in one op is an error naming both") {
  REQUIRE_GPU();
  Tensor a = ones({2, 3}), b = ones({2, 3}, Device::cuda());
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("different devices"), Error);
  CHECK_THROWS_WITH_AS((void)b.cpu_data(), doctest::Contains("lives on the GPU"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("different devices"), Error);
}

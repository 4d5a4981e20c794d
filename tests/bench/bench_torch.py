"""PyTorch twin of build/bench (tests/bench/bench.cpp): the same cases, shapes and JSON lines.

    /usr/bin/python3 tests/bench/bench_torch.py [--case PATTERN] [--repeat N] [--warmup N] [--list]

Each case runs in a fresh interpreter, so its peak RSS (ru_maxrss) is its own. As DESIGN.md
prescribes for a fair comparison on our VMs, that interpreter gets OPENBLAS_NUM_THREADS=1
(no BLAS threads on top of PyTorch's own), torch.set_num_threads(OMP_NUM_THREADS or the core
count, as tinydiff's OpenMP) and glibc malloc settings that keep freed memory instead of
returning it to the OS (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); values already in the
environment win. The models: ContextUnet is tests/ref/contextunet.py's (the course's, with its
module names); the improved-diffusion UNet is tests/ref/unet.py's.

The cases ending in _cuda run on the GPU (torch.cuda.synchronize() around each timed step) in
fp32: TF32 stays off in cuBLAS and cuDNN unless TINYDIFF_TF32=1, the same switch tinydiff reads.
They report peak_device_mb, torch.cuda.max_memory_allocated().
"""
import argparse
import fnmatch
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from contextunet import ContextUnet  # noqa: E402  (tests/ref is on the path only from here)

CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "4294967296",
             "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def course_alpha_bar(T, beta1=1e-4, beta2=0.02):
    """The course's schedule (diffusion/schedule.hpp: linear_schedule_course)."""
    beta = (beta2 - beta1) * torch.linspace(0, 1, T + 1, dtype=torch.float64) + beta1
    ab = torch.cumsum(torch.log(1 - beta), 0).exp()
    ab[0] = 1
    return ab.float()


def conv_flops(batch, cin, cout, side, kernel):
    return 2.0 * batch * cout * side * side * cin * kernel * kernel


def traced_forward_flops(model, forward):
    """FLOPs of one forward, counted per layer as tests/bench/cases_models.cpp counts them:
    Conv/Linear 2 * numel(output) * (weights of one output channel), ConvTranspose2d
    2 * numel(input) * (weights of one input channel), AttentionBlock 4 * N * T^2 * C."""
    from unet import AttentionBlock
    total = 0

    def hook(m, inputs, output):
        nonlocal total
        x = inputs[0]
        if isinstance(m, torch.nn.ConvTranspose2d):
            total += 2 * x.numel() * m.weight[0].numel()
        elif isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d, torch.nn.Linear)):
            total += 2 * output.numel() * m.weight[0].numel()
        elif isinstance(m, AttentionBlock):
            n, c = x.shape[:2]
            total += 4 * n * (x[0, 0].numel()) ** 2 * c
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        forward()
    for h in handles:
        h.remove()
    return float(total)


# ---- cases: name -> (images per step, flops per step or 0, setup() -> (prepare, run[, flops]))
# A setup that counts its model's FLOPs returns them third (they override the second entry).
def rand(shape, device="cpu"):
    return (torch.rand(shape) * 2 - 1).to(device)


def forward_case(shapes, f, device="cpu"):
    def setup():
        xs = [rand(s, device) for s in shapes]

        def run():
            with torch.no_grad():
                f(*xs)
        return None, run
    return setup


def backward_case(shapes, f, device="cpu"):
    def setup():
        xs = [rand(s, device).requires_grad_() for s in shapes]
        grad_out = rand(f(*xs).shape, device)
        state = {}

        def prepare():
            for x in xs:
                x.grad = None
            state["out"] = f(*xs)

        def run():
            state["out"].backward(grad_out)
        return prepare, run
    return setup


def op_cases(cases, device="cpu"):
    """Every op case, its inputs on `device`."""
    convs = [(100, 3, 64, 16, 3), (100, 64, 64, 16, 3), (100, 64, 128, 8, 3), (100, 128, 128, 8, 3),
             (100, 128, 64, 16, 3), (100, 3, 64, 16, 1), (100, 1, 64, 28, 3), (100, 64, 64, 28, 3),
             (100, 128, 128, 14, 3), (64, 32, 32, 28, 3), (64, 64, 64, 14, 3)]
    for b, cin, cout, side, k in convs:
        suffix = f"{cin}x{cout}_{side}x{side}_b{b}" + ("_1x1" if k == 1 else "")
        shapes = [(b, cin, side, side), (cout, cin, k, k), (cout,)]
        f = lambda x, w, bias, p=k // 2: F.conv2d(x, w, bias, 1, p)  # noqa: E731
        flops = conv_flops(b, cin, cout, side, k)
        cases["conv2d_fwd_" + suffix] = (b, flops, forward_case(shapes, f, device))
        cases["conv2d_bwd_" + suffix] = (b, 2 * flops, backward_case(shapes, f, device))
    shapes = [(100, 256, 4, 4), (256, 64, 2, 2), (64,)]
    f = lambda x, w, bias: F.conv_transpose2d(x, w, bias, 2)  # noqa: E731
    flops = conv_flops(100, 64, 256, 4, 2)
    cases["conv_transpose2d_fwd_256x64_4x4_b100"] = (100, flops, forward_case(shapes, f, device))
    cases["conv_transpose2d_bwd_256x64_4x4_b100"] = (100, 2 * flops,
                                                     backward_case(shapes, f, device))
    gn8, gn32 = [(100, 64, 16, 16), (64,), (64,)], [(64, 64, 14, 14), (64,), (64,)]
    group8 = lambda x, w, b: F.group_norm(x, 8, w, b)  # noqa: E731
    group32 = lambda x, w, b: F.group_norm(x, 32, w, b)  # noqa: E731
    batch = lambda x, w, b: F.batch_norm(x, None, None, w, b, True)  # noqa: E731
    cases["group_norm_fwd_g8_64x16x16_b100"] = (100, 0, forward_case(gn8, group8, device))
    cases["group_norm_bwd_g8_64x16x16_b100"] = (100, 0, backward_case(gn8, group8, device))
    cases["group_norm_bwd_g32_64x14x14_b64"] = (64, 0, backward_case(gn32, group32, device))
    cases["batch_norm_fwd_64x16x16_b100"] = (100, 0, forward_case(gn8, batch, device))
    cases["batch_norm_bwd_64x16x16_b100"] = (100, 0, backward_case(gn8, batch, device))
    cases["gelu_bwd_64x16x16_b100"] = (100, 0, backward_case([(100, 64, 16, 16)], F.gelu, device))
    for side in (7, 14):
        qkv = [(64, 4, side * side, 16)] * 3
        attn = lambda q, k, v: torch.softmax(q * 0.25 @ k.transpose(-1, -2), -1) @ v  # noqa: E731
        flops = 4.0 * 64 * 4 * (side * side) ** 2 * 16
        if side == 7:
            cases["attention_fwd_c64_7x7_b64"] = (64, flops, forward_case(qkv, attn, device))
        cases[f"attention_bwd_c64_{side}x{side}_b64"] = (64, 2 * flops,
                                                         backward_case(qkv, attn, device))
    cases["gemm_1024"] = (0, 2.0 * 1024 ** 3,
                          forward_case([(1024, 1024)] * 2, torch.matmul, device))


# The GPU twins of lesson 01's sprite-step ops (tests/bench/cases_ops.cpp has the same list).
GPU_OP_CASES = ["conv2d_fwd_64x64_16x16_b100", "conv2d_bwd_64x64_16x16_b100",
                "conv2d_bwd_3x64_16x16_b100", "conv2d_bwd_128x128_8x8_b100",
                "conv_transpose2d_bwd_256x64_4x4_b100", "batch_norm_bwd_64x16x16_b100",
                "gelu_bwd_64x16x16_b100", "attention_bwd_c64_14x14_b64", "gemm_1024"]


def gpu_op_cases(cases):
    on_gpu = {}
    op_cases(on_gpu, "cuda")
    for name in GPU_OP_CASES:
        cases[name + "_cuda"] = on_gpu[name]


def contextunet_train(cin, side, ncls, batch, device="cpu"):
    def setup():
        torch.manual_seed(0)
        model = ContextUnet(cin, 64, ncls, side).to(device)
        x0 = rand((batch, cin, side, side)).to(device)
        context = F.one_hot(torch.randint(0, ncls, (batch,)), ncls).float().to(device)
        flops = 3 * traced_forward_flops(
            model, lambda: model(x0, torch.full((batch,), 0.5, device=device), context))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        ab = course_alpha_bar(500).to(device)

        def run():  # lessons/01_contextunet/lesson.cpp: diffusion_loss, then Adam
            c = context * (torch.rand(batch, 1, device=device) < 0.9).float()
            noise = torch.randn_like(x0)
            t = torch.randint(1, 501, (batch,), device=device)
            a = ab[t].view(-1, 1, 1, 1)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
            loss = F.mse_loss(model(x_t, t / 500.0, c), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
        return None, run, flops
    return (batch, 0, setup)


def ddim_sample(batch=50, steps=20, T=500):
    def setup():
        torch.manual_seed(0)
        model = ContextUnet(3, 64, 5, 16).eval()
        ab = course_alpha_bar(T).tolist()
        context = F.one_hot(torch.arange(batch) // (batch // 5), 5).float()
        tau = [i * T // steps for i in range(steps + 1)]
        flops = steps * traced_forward_flops(
            model, lambda: model(torch.zeros(batch, 3, 16, 16), torch.full((batch,), 0.5), context))

        def run():  # diffusion/sampler.cpp: sample_ddim with eta 0, no guidance
            with torch.no_grad():
                x = torch.randn(batch, 3, 16, 16)
                for i in range(steps, 0, -1):
                    t, tp = tau[i], tau[i - 1]
                    eps = model(x, torch.full((batch,), t / T), context)
                    x0 = (x - (1 - ab[t]) ** 0.5 * eps) / ab[t] ** 0.5
                    x = x0 * ab[tp] ** 0.5 + eps * (1 - ab[tp]) ** 0.5
        return None, run, flops
    return (batch, 0, setup)


def checkpoint_blocks(model):
    """Gradient checkpointing as improved-diffusion's use_checkpoint: every ResBlock and
    AttentionBlock recomputes its forward during backward (non-reentrant, so that blocks whose
    inputs need no gradient still give their parameters one)."""
    import torch.utils.checkpoint
    from unet import AttentionBlock, ResBlock
    for m in model.modules():
        if isinstance(m, (ResBlock, AttentionBlock)):
            forward = m.forward
            m.forward = lambda *args, f=forward: torch.utils.checkpoint.checkpoint(
                f, *args, use_reentrant=False)


def unet_train(batch=64, T=1000, use_checkpoint=False, device="cpu"):
    def setup():
        from unet import UNetModel
        torch.manual_seed(0)
        model = UNetModel(in_channels=1, model_channels=32, out_channels=1, num_res_blocks=2,
                          attention_resolutions=[4], channel_mult=[1, 2, 2], num_classes=10,
                          num_heads=4, scale_shift=True, groups=32).to(device)
        if use_checkpoint:
            checkpoint_blocks(model)
        x0 = rand((batch, 1, 28, 28)).to(device)
        y = torch.randint(0, 10, (batch,)).float().to(device)
        flops = 3 * traced_forward_flops(
            model, lambda: model(x0, torch.full((batch,), 500.0, device=device), y))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ab = course_alpha_bar(T).to(device)

        def run():  # tests/bench/cases_models.cpp: L_simple, then AdamW
            noise = torch.randn_like(x0)
            t = torch.randint(0, T, (batch,), device=device)
            a = ab[t + 1].view(-1, 1, 1, 1)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
            loss = F.mse_loss(model(x_t, t.float(), y), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
        return None, run, flops
    return (batch, 0, setup)


def all_cases():
    cases = {}
    op_cases(cases)
    cases["contextunet_train_sprites_b100"] = contextunet_train(3, 16, 5, 100)
    cases["contextunet_train_mnist_b100"] = contextunet_train(1, 28, 10, 100)
    cases["ddim_sample_sprites"] = ddim_sample()
    cases["unet_train_mnist_b64"] = unet_train()
    cases["unet_train_mnist_b64_checkpoint"] = unet_train(use_checkpoint=True)
    # The GPU cases (PyTorch's eager CUDA step), beside build/bench's in a `make CUDA=1` build.
    cases["contextunet_train_sprites_b100_cuda"] = contextunet_train(3, 16, 5, 100, "cuda")
    cases["contextunet_train_sprites_b512_cuda"] = contextunet_train(3, 16, 5, 512, "cuda")
    cases["unet_train_mnist_b64_cuda"] = unet_train(device="cuda")
    gpu_op_cases(cases)
    return cases


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def use_gpu(name):
    """Prepares a CUDA case: fp32 everywhere unless TINYDIFF_TF32=1, as tinydiff's cuBLAS (cuDNN
    would otherwise run convolutions in TF32, PyTorch's default), and fresh memory statistics."""
    if not torch.cuda.is_available():
        sys.exit(f"bench_torch: case {name} needs a CUDA GPU, but torch.cuda.is_available() is "
                 f"False (PyTorch {torch.__version__})")
    tf32 = os.environ.get("TINYDIFF_TF32") == "1"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.cuda.reset_peak_memory_stats()


def measure(name, images, flops, setup, repeat, warmup):
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    gpu = name.endswith("_cuda")
    if gpu:
        use_gpu(name)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    prepare, run, *counted = setup()
    flops = counted[0] if counted else flops
    for _ in range(warmup):
        prepare and prepare()
        run()
    ms, cpu = [], []
    for _ in range(repeat):
        prepare and prepare()
        sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        sync()
        cpu.append((time.process_time() - cpu_start) * 1e3)
        ms.append((time.perf_counter() - start) * 1e3)
    mid = statistics.median(ms)
    device_mb = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if gpu else None
    print(json.dumps({"case": name, "ms_per_step": round(mid, 3), "min_ms": round(min(ms), 3),
                      "max_ms": round(max(ms), 3), "images_per_s": round(images * 1e3 / mid, 1),
                      "gflops": round(flops / (mid * 1e6), 1) if flops else None,
                      "gflop_per_step": round(flops * 1e-9, 3) if flops else None,
                      "peak_rss_mb": round(peak_rss_kb() / 1024, 1), "peak_device_mb": device_mb,
                      "cpu_ms": round(statistics.median(cpu), 3), "steps": repeat,
                      "threads": torch.get_num_threads(),
                      "framework": "pytorch " + torch.__version__}, separators=(",", ":")),
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", default="*", help="shell wildcard over case names")
    p.add_argument("--repeat", type=int, default=10, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--list", action="store_true", help="print the matching case names")
    p.add_argument("--run", help=argparse.SUPPRESS)  # internal: measure this case here
    a = p.parse_args()
    cases = all_cases()
    if a.run:
        measure(a.run, *cases[a.run], a.repeat, a.warmup)
        return 0
    names = [n for n in cases if fnmatch.fnmatchcase(n, a.case)]
    if not names:
        sys.exit(f"bench_torch: no case matches '{a.case}' (see --list)")
    env = {**CHILD_ENV, **os.environ}
    failures = 0
    for name in names:
        if a.list:
            print(name)
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--run", name,
               "--repeat", str(a.repeat), "--warmup", str(a.warmup)]
        failures += subprocess.run(cmd, env=env).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

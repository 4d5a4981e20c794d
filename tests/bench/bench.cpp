// build/bench: times tinydiff's lesson workloads and prints one JSON object per case.
//
//   bench [--case PATTERN] [--repeat N] [--warmup N] [--list]
//
// PATTERN is a shell wildcard over case names ("conv2d_*"; default: every case). Each case
// runs in a fresh process (bench executes itself with --run NAME), so its peak resident set
// size, read from /proc/self/status (VmHWM), is its own. The case runs `warmup` untimed
// steps, then `repeat` timed ones, and reports
//   {"case", "ms_per_step" (the median), "min_ms", "max_ms", "images_per_s", "gflops" (GFLOP/s),
//    "gflop_per_step", "peak_rss_mb", "peak_device_mb", "launches_per_step", "cpu_ms", "steps",
//    "threads", "framework"}
// peak_device_mb is the most GPU memory that live tensors held (memory_stats(cuda).peak_bytes,
// PyTorch's max_memory_allocated), and launches_per_step the kernel launches, cuBLAS calls and
// device copies of a timed step (device_launches); both null for the CPU cases. A CUDA case
// (name ending in _cuda, only in a `make CUDA=1` build) waits for the GPU before and after each
// timed step.
// cpu_ms is the median CPU time per step summed over threads: on a machine shared with other
// work it is steadier than wall time (run with OMP_WAIT_POLICY=passive so that waiting
// threads sleep rather than spin).
// tests/bench/bench_torch.py prints the same for PyTorch; tests/bench/compare.sh tables both.
#include <fnmatch.h>
#include <omp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tensor/error.hpp"
#include "tensor/storage.hpp"
#include "tests/bench/bench.hpp"

namespace tinydiff::bench {

double conv_flops(double batch, double c_in, double c_out, double out_h, double out_w,
                  double kernel) {
  return 2 * batch * c_out * out_h * out_w * c_in * kernel * kernel;
}

namespace {

struct Options {
  std::string pattern = "*";
  std::string run;  // internal: the one case this process measures
  int repeat = 10, warmup = 3;
  bool list = false;
};

std::vector<BenchCase> all_cases() {
  std::vector<BenchCase> cases = op_cases();
  for (BenchCase& c : model_cases()) cases.push_back(std::move(c));
  return cases;
}

// The peak resident set size of this process in MiB (VmHWM in /proc/self/status).
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// CPU time of this process (all threads) in milliseconds.
double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Runs one case in this process and prints its JSON line.
void measure(const BenchCase& c, const Options& o) {
  using Clock = std::chrono::steady_clock;
  Step step = c.setup();
  for (int i = 0; i < o.warmup; ++i) {
    if (step.prepare) step.prepare();
    step.run();
  }
  std::vector<double> ms, cpu;
  int64_t launches_timed = 0;
  for (int i = 0; i < o.repeat; ++i) {
    if (step.prepare) step.prepare();
    synchronize(c.device);  // the untimed work has finished
    auto start = Clock::now();
    double cpu_start = cpu_ms();
    const int64_t launches_before = device_launches(c.device);
    step.run();
    launches_timed += device_launches(c.device) - launches_before;
    synchronize(c.device);  // and so has the timed work
    cpu.push_back(cpu_ms() - cpu_start);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  double mid = median(ms), flops = step.flops > 0 ? step.flops : c.flops;
  char gflops[32] = "null", gflop[32] = "null", device_mb[32] = "null", launches[32] = "null";
  if (flops > 0) {
    std::snprintf(gflops, sizeof gflops, "%.1f", flops / (mid * 1e6));
    std::snprintf(gflop, sizeof gflop, "%.3f", flops * 1e-9);
  }
  if (c.device.is_cuda()) {
    std::snprintf(device_mb, sizeof device_mb, "%.1f",
                  memory_stats(c.device).peak_bytes / double(1 << 20));
    std::snprintf(launches, sizeof launches, "%.0f", double(launches_timed) / o.repeat);
  }
  std::printf("{\"case\":\"%s\",\"ms_per_step\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
              "\"images_per_s\":%.1f,\"gflops\":%s,\"gflop_per_step\":%s,\"peak_rss_mb\":%.1f,"
              "\"peak_device_mb\":%s,\"launches_per_step\":%s,\"cpu_ms\":%.3f,\"steps\":%d,"
              "\"threads\":%d,\"framework\":\"tinydiff\"}\n",
              c.name.c_str(), mid, *std::min_element(ms.begin(), ms.end()),
              *std::max_element(ms.begin(), ms.end()), c.images * 1000.0 / mid, gflops, gflop,
              peak_rss_mb(), device_mb, launches, median(cpu), o.repeat, omp_get_max_threads());
  std::fflush(stdout);
}

// Runs `self --run name --repeat N --warmup N` and waits for it; returns its exit status.
int run_child(const std::string& self, const std::string& name, const Options& o) {
  std::vector<std::string> args = {self, "--run", name, "--repeat", std::to_string(o.repeat),
                                   "--warmup", std::to_string(o.warmup)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid = fork();
  TD_CHECK(pid >= 0, "bench: fork failed for case ", name);
  if (pid == 0) {
    execv("/proc/self/exe", argv.data());
    std::perror("bench: exec");
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char* value_of(const std::string& flag, const char* value) {
  TD_CHECK(value, "bench: ", flag, " needs a value");
  return value;
}

int to_count(const std::string& flag, const char* value) {
  int n = std::atoi(value_of(flag, value));
  TD_CHECK(n >= 0 && std::to_string(n) == value, "bench: ", flag,
           " must be a whole number >= 0, got '", value, "'");
  return n;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--case") o.pattern = value_of(a, next), ++i;
    else if (a == "--run") o.run = value_of(a, next), ++i;
    else if (a == "--repeat") o.repeat = to_count(a, next), ++i;
    else if (a == "--warmup") o.warmup = to_count(a, next), ++i;
    else if (a == "--list") o.list = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: bench [--case PATTERN] [--repeat N] [--warmup N] [--list]\n"
                  "  --case    shell wildcard over case names (default: all)\n"
                  "  --repeat  timed steps per case (default 10; the median is reported)\n"
                  "  --warmup  untimed steps first (default 3)\n"
                  "  --list    print the matching case names and exit\n");
      std::exit(0);
    } else {
      TD_CHECK(false, "bench: unknown argument '", a, "' (see --help)");
    }
  }
  TD_CHECK(o.repeat >= 1, "bench: --repeat must be at least 1");
  return o;
}

int main_impl(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::vector<BenchCase> cases = all_cases();
  if (!o.run.empty()) {
    auto it = std::find_if(cases.begin(), cases.end(),
                           [&](const BenchCase& c) { return c.name == o.run; });
    TD_CHECK(it != cases.end(), "bench: no case named '", o.run, "' (see --list)");
    measure(*it, o);
    return 0;
  }
  int failures = 0, matched = 0;
  for (const BenchCase& c : cases) {
    if (fnmatch(o.pattern.c_str(), c.name.c_str(), 0) != 0) continue;
    ++matched;
    if (o.list) {
      std::printf("%s\n", c.name.c_str());
      continue;
    }
    int status = run_child(argv[0], c.name, o);
    if (status != 0)
      std::fprintf(stderr, "bench: case %s failed (exit status %d)\n", c.name.c_str(), status);
    failures += status != 0;
  }
  TD_CHECK(matched > 0, "bench: no case matches '", o.pattern, "' (see --list)");
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace tinydiff::bench

int main(int argc, char** argv) {
  try {
    return tinydiff::bench::main_impl(argc, argv);
  } catch (const tinydiff::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}

// How the emulator runs a grid. Blocks run one after another on the calling host thread
// (blockIdx.x fastest). Within a block, the CUDA threads run on fibers (fiber.hpp), started
// in threadIdx order, each until it returns or waits:
//   - at __syncthreads(), until every thread of the block that has not returned is there;
//   - at __shfl_down_sync(mask, ...), until every lane named in `mask` is at a shuffle with
//     the same mask; then each gets the value of the lane `delta` above it.
// A fiber starts thread after thread as plain calls until one of them waits; that thread
// keeps the fiber and a fresh one starts the next threads. So a kernel without barriers costs
// one fiber switch per block, and one that synchronises costs two switches per wait. Which
// waiting thread goes on first is set by the schedule (eager_schedule below).
//
// When every live thread waits and no barrier or shuffle can complete, a GPU would hang (or
// compute garbage): the launch throws tinydiff::Error saying where each thread waits.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/error.hpp"
#include "tests/cuda_emu/cuda_runtime.h"
#include "tests/cuda_emu/fiber.hpp"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace tinydiff_emu {

namespace {

constexpr unsigned kWarp = 32;

enum class State : uint8_t { Running, AtBarrier, AtShuffle, Ready, Done };

struct Thread {
  State state = State::Done;
  Fiber* fiber = nullptr;  // the fiber this thread runs on
  // At a barrier: the __syncthreads() call it waits at.
  const char* file = nullptr;
  int line = 0;
  // At a shuffle: its arguments and the value offered; afterwards `value` is the result.
  unsigned mask = 0, delta = 0;
  int width = 0;
  size_t size = 0;
  uint64_t value = 0;
};

// The block being run.
struct Block {
  const LaunchSite* site;
  void (*body)(void*);
  void* params;
  unsigned size;  // threads per block
  std::vector<Thread> threads;
  unsigned started = 0, done = 0, at_barrier = 0, at_shuffle = 0;
  std::deque<unsigned> ready;  // threads to resume, in this order
  unsigned current = 0;      // the thread the host thread is running
  bool eager = false;        // the schedule (eager_schedule)
  bool fiber_idle = false;   // the fiber just resumed ran out of threads to start
  std::exception_ptr error;  // what a thread threw
};

thread_local Block* running = nullptr;

std::string hex(unsigned value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

// "cuda emulator: kernel launched at file:line[, block (x, y, z)[, thread (x, y, z)]: ]"
std::string where(const LaunchSite& site) {
  std::ostringstream out;
  out << "cuda emulator: " << site.kernel << " launched at " << site.file << ":" << site.line;
  return out.str();
}
std::string where(const Block& b, bool with_thread) {
  std::ostringstream out;
  out << where(*b.site) << ", block (" << blockIdx.x << ", " << blockIdx.y << ", " << blockIdx.z
      << ")";
  if (with_thread)
    out << ", thread (" << threadIdx.x << ", " << threadIdx.y << ", " << threadIdx.z << ")";
  out << ": ";
  return out.str();
}

Block& running_block(const char* function) {
  if (!running) tinydiff::throw_error("cuda emulator: ", function, " called outside a kernel");
  return *running;
}

// ---- the fibers ----

std::vector<std::unique_ptr<Fiber>> fibers;
std::vector<Fiber*> idle_fibers;

// Sets the built-in variables for thread t (linear index, threadIdx.x fastest).
void enter(Block& b, unsigned t) {
  b.current = t;
  threadIdx = {t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y)};
}

// A fiber's work: start the block's next threads, one after another, until none is left.
// When a thread waits, this fiber stays with it; when that thread returns, none is left.
void start_threads(Fiber* self) {
  Block& b = *running;
  while (b.started < b.size && !b.error) {
    const unsigned t = b.started++;
    b.threads[t].state = State::Running;
    b.threads[t].fiber = self;
    enter(b, t);
    try {
      b.body(b.params);
    } catch (...) {
      b.error = std::current_exception();
    }
    b.threads[t].state = State::Done;
    ++b.done;
  }
  b.fiber_idle = true;
}

Fiber* take_idle_fiber() {
  if (idle_fibers.empty()) {
    fibers.push_back(std::make_unique<Fiber>(&start_threads));
    return fibers.back().get();
  }
  Fiber* fiber = idle_fibers.back();
  idle_fibers.pop_back();
  return fiber;
}

// After an error the threads still waiting will never be resumed: their fibers start over.
void reset_fibers() {
  idle_fibers.clear();
  for (auto& fiber : fibers) {
    fiber->reset();
    idle_fibers.push_back(fiber.get());
  }
}

// ---- waiting threads ----

// "threads 0..31 wait in __shfl_down_sync (mask 0xffffffff); threads 32..255 wait in
// __syncthreads()"
std::string describe_waits(const Block& b) {
  auto what = [](const Thread& t) {
    if (t.state == State::AtBarrier)
      return "wait in __syncthreads() at " + std::string(t.file) + ":" + std::to_string(t.line);
    if (t.state == State::AtShuffle) return "wait in __shfl_down_sync (mask " + hex(t.mask) + ")";
    return std::string("have returned");
  };
  std::ostringstream out;
  for (unsigned first = 0, last; first < b.size; first = last + 1) {
    last = first;
    while (last + 1 < b.size && what(b.threads[last + 1]) == what(b.threads[first])) ++last;
    out << (first ? "; " : "") << "threads " << first << ".." << last << " "
        << what(b.threads[first]);
  }
  return out.str();
}

// Queues released threads (in threadIdx order): behind the others, or, in the eager
// schedule, ahead of them.
void make_ready(Block& b, const std::vector<unsigned>& released) {
  for (unsigned t : released) b.threads[t].state = State::Ready;
  b.ready.insert(b.eager ? b.ready.begin() : b.ready.end(), released.begin(), released.end());
}

// Completes the shuffle that thread `t` waits at, if every lane of its mask waits there with
// the same mask: lane L gets the value of lane L + delta, or its own when L + delta lies
// past the end of L's width-lane segment. Returns whether it did.
bool release_shuffle(Block& b, unsigned t) {
  const Thread& caller = b.threads[t];
  const unsigned first = t - t % kWarp, mask = caller.mask;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if (!(mask >> lane & 1u)) continue;
    const Thread& other = b.threads[first + lane];
    if (other.state != State::AtShuffle || other.mask != mask) return false;
    TD_CHECK(other.width == caller.width && other.size == caller.size, where(b, false),
             "__shfl_down_sync: lanes of warp ", first / kWarp, " meet with the mask ", hex(mask),
             " at calls of different widths or operand sizes (", caller.width, "/", caller.size,
             " vs ", other.width, "/", other.size, " bytes)");
  }
  uint64_t result[kWarp];
  std::vector<unsigned> released;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if (!(mask >> lane & 1u)) continue;
    const Thread& me = b.threads[first + lane];
    const uint64_t offset = lane % unsigned(me.width) + uint64_t(me.delta);
    const unsigned source = offset < uint64_t(me.width) ? lane + me.delta : lane;
    TD_CHECK(mask >> source & 1u, where(b, false), "__shfl_down_sync: lane ", lane, " of warp ",
             first / kWarp, " reads lane ", source, ", which is not in the mask ", hex(mask),
             " (undefined on a GPU)");
    result[lane] = b.threads[first + source].value;
    released.push_back(first + lane);
  }
  for (unsigned t : released) b.threads[t].value = result[t - first];
  b.at_shuffle -= unsigned(released.size());
  make_ready(b, released);
  return true;
}

bool same_call(const Thread& a, const Thread& b) {
  return a.line == b.line && std::strcmp(a.file, b.file) == 0;
}

// Completes the barrier if every thread that has not returned waits at it. They must wait at
// one __syncthreads() call: a barrier in code that not all threads take is undefined in CUDA.
bool release_barrier(Block& b) {
  if (b.at_barrier == 0 || b.at_barrier != b.size - b.done) return false;
  std::vector<unsigned> released;
  for (unsigned t = 0; t < b.size; ++t)
    if (b.threads[t].state == State::AtBarrier) released.push_back(t);
  for (unsigned t : released)
    TD_CHECK(same_call(b.threads[t], b.threads[released[0]]), where(b, false),
             "the threads wait at different __syncthreads() calls (undefined in CUDA: a barrier "
             "must be reached by all threads or none): ",
             describe_waits(b));
  b.at_barrier = 0;
  make_ready(b, released);
  return true;
}

// Called when every thread has started and none is ready: completes what can complete, or
// reports the deadlock.
void release_waiting(Block& b) {
  bool released = false;
  for (unsigned t = 0; t < b.size; ++t)
    if (b.threads[t].state == State::AtShuffle) released |= release_shuffle(b, t);
  if (!released && !release_barrier(b))
    tinydiff::throw_error(where(b, false),
                          "every live thread waits and none of the waits can complete (a GPU "
                          "would hang or misbehave here): ",
                          describe_waits(b));
}

// The order in which a block's threads take turns ($TINYDIFF_EMU_SCHEDULE). Both are legal
// GPU schedules; each exposes missing barriers that the other hides, so CI runs both.
//   lockstep (default): every thread runs to its next wait before any wait completes, as if
//            all warps advanced in step.
//   eager:   a wait completes as soon as its last thread arrives, and the released threads
//            run before all others: one warp races ahead (catches a write to shared memory
//            that slower warps still read).
bool eager_schedule() {
  static const bool eager = [] {
    const char* name = std::getenv("TINYDIFF_EMU_SCHEDULE");
    if (!name || !*name || std::strcmp(name, "lockstep") == 0) return false;
    TD_CHECK(std::strcmp(name, "eager") == 0, "cuda emulator: TINYDIFF_EMU_SCHEDULE is '", name,
             "' (expected lockstep or eager)");
    return true;
  }();
  return eager;
}

void run_block(Block& b) {
  b.started = b.done = b.at_barrier = b.at_shuffle = 0;
  b.ready.clear();
  while (b.done < b.size) {
    Fiber* fiber;
    if (!b.ready.empty() && (b.eager || b.started == b.size)) {
      const unsigned t = b.ready.front();
      b.ready.pop_front();
      b.threads[t].state = State::Running;
      enter(b, t);
      fiber = b.threads[t].fiber;
    } else if (b.started < b.size) {
      fiber = take_idle_fiber();
    } else {
      release_waiting(b);
      continue;
    }
    b.fiber_idle = false;
    fiber->resume();
    if (b.fiber_idle) idle_fibers.push_back(fiber);
    if (b.error) std::rethrow_exception(b.error);
    if (!b.eager) continue;
    if (b.threads[b.current].state == State::AtShuffle) release_shuffle(b, b.current);
    release_barrier(b);
  }
}

// The limits of every GPU since compute capability 3.0; a GPU rejects other launches with
// cudaErrorInvalidConfiguration.
void check_shape(const LaunchSite& site, dim3 grid, dim3 block) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  auto shape = [](dim3 d) {
    std::ostringstream out;
    out << "(" << d.x << ", " << d.y << ", " << d.z << ")";
    return out.str();
  };
  TD_CHECK(block.x && block.y && block.z && grid.x && grid.y && grid.z, where(site), ": grid ",
           shape(grid), ", block ", shape(block), " has an empty dimension");
  TD_CHECK(threads <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64, where(site),
           ": block ", shape(block), " has ", threads,
           " threads; CUDA allows at most 1024, and (1024, 1024, 64) per axis");
  TD_CHECK(grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535, where(site), ": grid ",
           shape(grid), " exceeds CUDA's (2^31 - 1, 65535, 65535) blocks");
}

}  // namespace

void check_launch_options(const LaunchSite& site, size_t shared_bytes, cudaStream_t stream) {
  TD_CHECK(shared_bytes == 0, where(site), ": dynamic shared memory (", shared_bytes,
           " bytes) is not emulated");
  TD_CHECK(stream == nullptr, where(site), ": only the default stream is emulated");
}

void run_grid(const LaunchSite& site, dim3 grid, dim3 block, void (*body)(void*), void* params) {
  check_shape(site, grid, block);
  TD_CHECK(!running, where(site), ": launched from inside another kernel");
  // Launches from several host threads take turns: __shared__ variables are static.
  static std::mutex one_grid_at_a_time;
  std::lock_guard<std::mutex> lock(one_grid_at_a_time);
  Block b;
  b.site = &site, b.body = body, b.params = params, b.size = block.x * block.y * block.z;
  b.eager = eager_schedule();
  b.threads.resize(b.size);
  gridDim = grid;
  blockDim = block;
  running = &b;
  try {
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = {x, y, z};
          run_block(b);
        }
  } catch (...) {
    running = nullptr;
    reset_fibers();
    throw;
  }
  running = nullptr;
}

// A waiting thread hands the host thread back to run_block, which resumes it when released.
uint64_t shuffle_down(unsigned mask, uint64_t bits, size_t size, unsigned delta, int width) {
  Block& b = running_block("__shfl_down_sync");
  const unsigned lane = b.current % kWarp, first = b.current - lane;
  const unsigned lanes = std::min(kWarp, b.size - first);
  TD_CHECK(width >= 1 && width <= int(kWarp) && (width & (width - 1)) == 0, where(b, true),
           "__shfl_down_sync: width ", width, " is not a power of two in [1, 32]");
  TD_CHECK(mask >> lane & 1u, where(b, true), "__shfl_down_sync: the mask ", hex(mask),
           " does not name the calling lane ", lane);
  TD_CHECK(lanes == kWarp || mask >> lanes == 0, where(b, true), "__shfl_down_sync: the mask ",
           hex(mask), " names lanes past the ", lanes, " threads of this warp");
  Thread& me = b.threads[b.current];
  me.state = State::AtShuffle;
  me.mask = mask, me.delta = delta, me.width = width, me.size = size, me.value = bits;
  ++b.at_shuffle;
  me.fiber->yield();
  return me.value;
}

void syncthreads(const char* file, int line) {
  Block& b = running_block("__syncthreads()");
  Thread& me = b.threads[b.current];
  me.state = State::AtBarrier;
  me.file = file, me.line = line;
  ++b.at_barrier;
  me.fiber->yield();
}

}  // namespace tinydiff_emu

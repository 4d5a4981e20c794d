// A fiber: a function running on its own stack that can stop in the middle (yield) and be
// continued later (resume), all on one host thread. The emulator runs the CUDA threads of a
// block on fibers, so that a thread at __syncthreads() can wait while the others catch up.
#pragma once
#include <setjmp.h>
#include <ucontext.h>

#include <cstddef>

namespace tinydiff_emu {

class Fiber {
 public:
  // `work(fiber)` runs each time the fiber is resumed after it finished its last work; the
  // fiber yields when it returns. So a fiber never ends: the emulator keeps a pool of them.
  using Work = void (*)(Fiber*);
  explicit Fiber(Work work);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // From the host thread's own stack: run the fiber until it yields.
  void resume();
  // From inside the fiber: return to the resume() that ran it.
  void yield();
  // Drops whatever the fiber was in the middle of: the next resume() starts `work` afresh.
  // Used after an error, when the CUDA threads it was running will never be resumed.
  void reset();

 private:
  static void start();  // the first function on the fiber's stack

  Work work_;
  size_t guard_;  // bytes of the inaccessible page below the stack
  char* stack_;   // the stack's lowest address
  bool started_ = false;
  ucontext_t start_context_;  // used once per start: to step onto the new stack
  jmp_buf context_;           // where the fiber stopped
  jmp_buf caller_;            // where resume() was called
  const void* caller_stack_ = nullptr;  // the caller's stack, for AddressSanitizer
  size_t caller_stack_size_ = 0;
};

}  // namespace tinydiff_emu

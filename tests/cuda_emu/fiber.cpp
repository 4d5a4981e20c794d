// Fibers on makecontext and _setjmp/_longjmp. makecontext steps onto a fresh stack once per
// fiber; every later switch is a _setjmp/_longjmp pair, which saves and restores only the
// callee-saved registers: about 20 ns for a round trip, where swapcontext takes 1.5 us on the
// development VMs (it also saves the signal mask, a system call). A kernel whose blocks meet
// at barriers switches a few times per thread and barrier, so this decides whether the
// device suite runs in minutes or in an hour.
//
// Under AddressSanitizer each switch is announced (__sanitizer_start_switch_fiber /
// __sanitizer_finish_switch_fiber): ASan then knows which stack is live and does not take
// the fiber's frames for a stack overflow or a bad access.
#undef _FORTIFY_SOURCE  // its __longjmp_chk refuses to jump to another stack

#include "tests/cuda_emu/fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tensor/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TINYDIFF_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TINYDIFF_EMU_ASAN 1
#endif
#endif
#ifdef TINYDIFF_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace tinydiff_emu {

namespace {

// Kernel frames are small, but AddressSanitizer pads every local. Only the touched pages of
// a stack take memory.
constexpr size_t kStackBytes = 256 << 10;

thread_local Fiber* starting = nullptr;  // the fiber that Fiber::start is starting

void start_switch(void** fake_stack, const void* stack, size_t size) {
#ifdef TINYDIFF_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack, stack, size);
#endif
}
void finish_switch(void* fake_stack, const void** stack, size_t* size) {
#ifdef TINYDIFF_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, stack, size);
#endif
}

}  // namespace

// A guard page below the stack turns an overflow into a crash at the faulting frame instead
// of a silent overwrite of the next fiber's stack.
Fiber::Fiber(Work work) : work_(work), guard_(size_t(sysconf(_SC_PAGESIZE))) {
  void* memory = mmap(nullptr, guard_ + kStackBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED)
    tinydiff::throw_error("cuda emulator: cannot map a fiber stack of ", guard_ + kStackBytes,
                          " bytes: ", std::strerror(errno));
  mprotect(memory, guard_, PROT_NONE);
  stack_ = static_cast<char*>(memory) + guard_;
}

Fiber::~Fiber() { munmap(stack_ - guard_, guard_ + kStackBytes); }

void Fiber::start() {
  Fiber* self = starting;
  finish_switch(nullptr, &self->caller_stack_, &self->caller_stack_size_);
  for (;;) {
    self->work_(self);
    self->yield();
  }
}

void Fiber::resume() {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, stack_, kStackBytes);
  if (_setjmp(caller_) == 0) {
    if (started_) _longjmp(context_, 1);
    started_ = true;
    getcontext(&start_context_);
    start_context_.uc_stack.ss_sp = stack_;
    start_context_.uc_stack.ss_size = kStackBytes;
    start_context_.uc_link = nullptr;
    makecontext(&start_context_, &Fiber::start, 0);
    starting = this;
    setcontext(&start_context_);
  }
  finish_switch(fake_stack, nullptr, nullptr);
}

void Fiber::yield() {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, caller_stack_, caller_stack_size_);
  if (_setjmp(context_) == 0) _longjmp(caller_, 1);
  finish_switch(fake_stack, &caller_stack_, &caller_stack_size_);
}

// The abandoned frames may have left AddressSanitizer's redzones poisoned on the stack.
void Fiber::reset() {
  started_ = false;
#ifdef TINYDIFF_EMU_ASAN
  __asan_unpoison_memory_region(stack_, kStackBytes);
#endif
}

}  // namespace tinydiff_emu

// Exceptions inside OpenMP loops.
//
// An exception must not leave an OpenMP parallel region: the runtime would call
// std::terminate and the program would abort instead of printing its error. A loop whose body
// can throw (conv2d's calls im2col, which a lesson-00 handout leaves as a stub that throws
// NotImplemented; any body can throw std::bad_alloc) runs the body through guard(), which
// keeps the first exception, and calls rethrow() after the loop, on the calling thread.
#pragma once
#include <exception>

namespace tinydiff::cpu {

class ParallelErrors {
 public:
  template <typename Body>
  void guard(Body&& body) noexcept {
    try {
      body();
    } catch (...) {
#pragma omp critical(tinydiff_parallel_errors)
      if (!first_) first_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::exception_ptr first_;
};

}  // namespace tinydiff::cpu

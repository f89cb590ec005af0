#pragma once
/// \file elementwise.hpp
/// Element-wise maps and row/column broadcasts on the CPU: plain loops the compiler
/// vectorises, split over threads in contiguous chunks (results independent of the split).

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

// out may be one of the inputs (ops::map's contract), never partly over one: no element is read
// after another is written. INVAR_INDEPENDENT_ITERATIONS says so to GCC (ivdep), so that it need
// not check the overlap at run time and send a map written over its input (the ReLU backward
// over dy, an in-place axpby) to the scalar loop. clang has no hint that does only this: its
// vectorize(assume_safety) also demands vectorisation and warns (-Wpass-failed, on by default,
// not silenced by a diagnostic pragma) wherever a functor cannot be vectorised, in every program
// that includes this header; under clang the loop keeps its run-time overlap check.
#if defined(__clang__)
#define INVAR_INDEPENDENT_ITERATIONS
#elif defined(__GNUC__)
#define INVAR_INDEPENDENT_ITERATIONS _Pragma("GCC ivdep")
#else
#define INVAR_INDEPENDENT_ITERATIONS
#endif

template <class T, class F, class... In>
void map(index_t n, T* out, F f, const In*... in) {
  parallel_for(n, 1, [&](index_t begin, index_t end) {
    INVAR_INDEPENDENT_ITERATIONS
    for (index_t i = begin; i < end; ++i) out[i] = static_cast<T>(f(in[i]...));
  });
}

template <class T, class F>
void broadcast_rows(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  parallel_for(rows, cols, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      const T vi = v[i];
      const T* xi = x + i * cols;
      T* oi = out + i * cols;
      for (index_t j = 0; j < cols; ++j) oi[j] = static_cast<T>(f(xi[j], vi));
    }
  });
}

template <class T, class F>
void broadcast_cols(index_t rows, index_t cols, T* out, const T* x, const T* v, F f) {
  parallel_for(rows, cols, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      const T* xi = x + i * cols;
      T* oi = out + i * cols;
      for (index_t j = 0; j < cols; ++j) oi[j] = static_cast<T>(f(xi[j], v[j]));
    }
  });
}

}  // namespace invar::cpu

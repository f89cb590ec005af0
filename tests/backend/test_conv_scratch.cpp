// The CPU convolutions' scratch buffers (backend/cpu/conv_scratch.hpp): aligned, one per purpose
// (a call inside another never gets its caller's buffer), kept between calls, one per thread.
#include <doctest/doctest.h>

#include <cstdint>
#include <thread>

#include "invar/backend/cpu/conv_scratch.hpp"

using invar::cpu::detail::conv_scratch;
using invar::cpu::detail::ConvScratch;

TEST_SUITE_BEGIN("backend");

TEST_CASE("conv_scratch: 64-byte aligned, a buffer per purpose, kept between calls, one per thread") {
  float* packed = conv_scratch<float>(ConvScratch::packed_weights, 1000);
  float* padded = conv_scratch<float>(ConvScratch::padded_images, 1000);
  double* bias = conv_scratch<double>(ConvScratch::partial_bias, 10);
  for (const void* p : {static_cast<const void*>(packed), static_cast<const void*>(padded),
                        static_cast<const void*>(bias)})
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
  // Distinct purposes never share memory: the whole of each buffer is writable at once.
  for (int i = 0; i < 1000; ++i) packed[i] = 1.0f, padded[i] = 2.0f;
  int overwritten = 0;
  for (int i = 0; i < 1000; ++i) overwritten += packed[i] != 1.0f;
  CHECK(overwritten == 0);
  // The same purpose asking for no more gets the same memory (and its contents) back.
  CHECK(conv_scratch<float>(ConvScratch::packed_weights, 500) == packed);
  CHECK(packed[999] == 1.0f);
  // Another thread has its own.
  float* other = nullptr;
  std::thread([&] { other = conv_scratch<float>(ConvScratch::packed_weights, 1000); }).join();
  CHECK(other != packed);
  // Growing keeps the alignment.
  CHECK(reinterpret_cast<std::uintptr_t>(conv_scratch<float>(ConvScratch::packed_weights, 1 << 20)) % 64 == 0);
}

TEST_SUITE_END();

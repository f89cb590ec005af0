#pragma once
/// \file random.hpp
/// Rng: a small, fast, portable random generator (xoshiro256**, seeded through splitmix64).
/// The same seed gives the same numbers on every platform and standard library (std::
/// distributions are not portable), which reproducible initialisation and augmentation need.
/// `Rng::keyed(seed, a, b, ...)` derives an independent stream from a seed and a key tuple —
/// e.g. (seed, epoch, step, sample) — so any batch can be regenerated exactly, on any thread.

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace invar {

/// xoshiro256** generator with portable uniform, integer and normal draws (see the file comment).
class Rng {
 public:
  /// Generator seeded through splitmix64; the same seed gives the same stream everywhere.
  explicit Rng(std::uint64_t seed = 0) {
    std::uint64_t s = seed;
    for (auto& w : state_) w = splitmix64(s);
  }

  /// A stream determined by the seed and every key, independent of how many draws came before.
  static Rng keyed(std::uint64_t seed, std::initializer_list<std::uint64_t> keys) {
    std::uint64_t h = seed ^ 0x9E3779B97F4A7C15ull;
    for (std::uint64_t k : keys) {
      std::uint64_t s = h ^ (k + 0x632BE59BD9B4E019ull);
      h = splitmix64(s) ^ (h << 1);
    }
    return Rng(h);
  }

  /// The next raw 64-bit output of xoshiro256**; every other draw is built on it.
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n), n > 0 (Lemire's method without the rejection bias fix-up; the
  /// bias is below 2^-64 * n, far below anything a test could see).
  std::uint64_t below(std::uint64_t n) { return mul_high(next(), n); }
  /// Standard normal (Box-Muller; one value per call, the second is discarded for simplicity
  /// of keyed streams).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Normal with the given mean and standard deviation (one normal() draw, scaled and shifted).
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

 private:
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// The high 64 bits of a 64 x 64-bit product, portably (no __int128).
  static std::uint64_t mul_high(std::uint64_t a, std::uint64_t b) {
    const std::uint64_t a_lo = a & 0xFFFFFFFFull, a_hi = a >> 32, b_lo = b & 0xFFFFFFFFull, b_hi = b >> 32;
    const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFull) + lo_hi;
    return hi_hi + (hi_lo >> 32) + (cross >> 32);
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4];
};

}  // namespace invar

#pragma once
/// \file init.hpp
/// Weight initialisers, seeded and portable (invar::Rng, not std:: distributions):
/// - glorot_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio 2010; Keras' default,
///   the authors' All-CNN)
/// - he_normal: N(0, 2 / fan_in)                                   (He et al. 2015; WRN)
/// Values are drawn on the host in row-major order and copied to the tensor's device.

#include <cmath>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"

namespace invar::nn::init {

namespace detail {
template <class T, Device D, class Draw>
void fill_host(Tensor<T, D>& t, Draw&& draw) {
  std::vector<T> host(static_cast<std::size_t>(t.numel()));
  for (auto& v : host) v = static_cast<T>(draw());
  D::copy_from_host(t.data(), host.data(), t.bytes());
}
}  // namespace detail

/// Fills t with U(-a, a), a = sqrt(6 / (fan_in + fan_out)), drawn from rng in row-major order.
/// Throws invar::Error unless both fans are > 0.
template <class T, Device D>
void glorot_uniform(Tensor<T, D>& t, index_t fan_in, index_t fan_out, Rng& rng) {
  check(fan_in > 0 && fan_out > 0, "glorot_uniform: fans must be positive, got ", fan_in, " and ", fan_out);
  const double a = std::sqrt(6.0 / double(fan_in + fan_out));
  detail::fill_host(t, [&] { return rng.uniform(-a, a); });
}

/// Fills t with N(0, 2 / fan_in), drawn from rng in row-major order. Throws invar::Error unless fan_in > 0.
template <class T, Device D>
void he_normal(Tensor<T, D>& t, index_t fan_in, Rng& rng) {
  check(fan_in > 0, "he_normal: fan_in must be positive, got ", fan_in);
  const double s = std::sqrt(2.0 / double(fan_in));
  detail::fill_host(t, [&] { return rng.normal(0.0, s); });
}

/// Which initialiser a model builder applies to its weights: glorot_uniform() or he_normal().
enum class Initializer { glorot_uniform, he_normal };

}  // namespace invar::nn::init

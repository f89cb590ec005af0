#pragma once
// One templated body per op and per loss path, run on any device (the ggml test-backend-ops
// habit): each case makes its inputs on the host from a seed, copies them to device D through
// the device interface, runs the op there, and returns every output as doubles on the host.
// The driver runs a case on the CPU and on every other device present and compares the two.
//
// Device-generic on purpose: no Eigen, no backend header. A translation unit includes its
// device's header (<invar/cpu.hpp>, <invar/cuda.hpp>, tests/support/separate_device.hpp) first.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/core/tensor.hpp"
#include "invar/losses/anti_collapse.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/metrics/metrics.hpp"

namespace invar::device_test {

using Outputs = std::vector<double>;

/// A metric defined by a user for the CPU (INVAR_HOST_DEVICE members), with no Gram or linear
/// path: it must run on any device through the pairwise path with no extra code.
struct UserL4 {
  static constexpr const char* name = "user_l4";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 4;
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    T s = 0;
    for (index_t k = 0; k < d; ++k) {
      const T t = a[k] - b[k];
      s += t * t * t * t;
    }
    return s;
  }
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    for (index_t k = 0; k < d; ++k) {
      const T t = a[k] - b[k];
      const T g = 4 * t * t * t * w;
      if (ga) ga[k] += g;
      if (gb) gb[k] -= g;
    }
  }
};

namespace detail {

inline double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
}

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 rng(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(uniform(rng, lo, hi));
  return v;
}

/// A device tensor holding host values.
template <class T, Device D>
Tensor<T, D> upload(const std::vector<T>& host, const Shape& shape) {
  return Tensor<T, D>::copy_of(TensorView<const T, Cpu>(host.data(), shape));
}
template <class T, Device D>
Tensor<T, D> random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1, double hi = 1) {
  return upload<T, D>(random_values<T>(std::size_t(shape.numel()), seed, lo, hi), shape);
}

/// Appends a device tensor's values to the outputs.
template <class T, Device D>
void append(Outputs& out, const Tensor<T, D>& t) {
  std::vector<T> host(std::size_t(t.numel()));
  if (!host.empty()) D::copy_to_host(host.data(), t.data(), t.bytes());
  for (const T v : host) out.push_back(static_cast<double>(v));
}

}  // namespace detail

template <class T, Device D>
struct Cases {
  static Outputs gemm(std::uint64_t seed) {
    Outputs out;
    const index_t m = 7, n = 13, k = 5;
    int variant = 0;
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        auto a = detail::random_tensor<T, D>(ta ? Shape{k, m} : Shape{m, k}, seed + 1 + variant);
        auto b = detail::random_tensor<T, D>(tb ? Shape{n, k} : Shape{k, n}, seed + 11 + variant);
        auto c = detail::random_tensor<T, D>(Shape{m, n}, seed + 21 + variant);
        ops::gemm(a, b, c, ops::GemmOptions{}.transpose_a(ta).transpose_b(tb).with_alpha(0.75).with_beta(variant % 2 ? 0.5 : 0.0));
        detail::append(out, c);
        ++variant;
      }
    // A larger product (several tiles) with beta = 0 over a NaN-filled c: NaN must not propagate.
    auto a = detail::random_tensor<T, D>(Shape{67, 129}, seed + 31);
    auto b = detail::random_tensor<T, D>(Shape{129, 33}, seed + 32);
    std::vector<T> nan(67 * 33, T(0) / T(0));
    auto c = detail::upload<T, D>(nan, Shape{67, 33});
    ops::gemm(a, b, c);
    detail::append(out, c);
    return out;
  }

  static Outputs elementwise_and_reductions(std::uint64_t seed) {
    Outputs out;
    const index_t rows = 37, cols = 1031;  // odd sizes, more than one block per row on a GPU
    auto x = detail::random_tensor<T, D>(Shape{rows, cols}, seed);
    auto y = detail::random_tensor<T, D>(Shape{rows, cols}, seed + 1);
    auto vr = detail::random_tensor<T, D>(Shape{rows}, seed + 2);
    auto vc = detail::random_tensor<T, D>(Shape{cols}, seed + 3);
    auto z = Tensor<T, D>::uninitialized(x.shape());
    ops::map(z, fn::Multiply{}, x, y);
    detail::append(out, z);
    ops::axpby(0.5, x, -2.0, z);
    detail::append(out, z);
    ops::broadcast_rows(z, x, vr, fn::Subtract{});
    detail::append(out, z);
    ops::broadcast_cols(z, z, vc, fn::Multiply{});
    detail::append(out, z);
    Tensor<T, D> rs(Shape{rows}), cs(Shape{cols});
    ops::reduce_rows(rs, fn::Multiply{}, x, y);
    ops::reduce_cols(cs, fn::Square{}, x);
    detail::append(out, rs);
    detail::append(out, cs);
    out.push_back(double(ops::sum(x)));
    out.push_back(double(ops::dot(x, y)));
    ops::fill(z, 3);
    detail::append(out, z);
    // One large vector: a reduction over several blocks in a fixed order.
    auto big = detail::random_tensor<T, D>(Shape{1 << 20}, seed + 4);
    out.push_back(double(ops::sum(big)));
    Tensor<T, D> empty(Shape{0, 5});
    out.push_back(double(ops::sum(empty)));
    return out;
  }

  static Outputs gather_scatter(std::uint64_t seed) {
    Outputs out;
    const index_t rows = 29, cols = 67, targets = 6;
    auto src = detail::random_tensor<T, D>(Shape{rows, cols}, seed);
    std::vector<index_t> idx_host(rows);
    std::mt19937_64 rng(seed + 1);
    for (auto& i : idx_host) i = index_t(rng() % targets);  // repeated indices
    auto idx = detail::upload<index_t, D>(idx_host, Shape{rows});
    auto acc = detail::random_tensor<T, D>(Shape{targets, cols}, seed + 2);
    ops::scatter_add_rows(src, idx, acc, 0.5);
    detail::append(out, acc);
    std::vector<index_t> pick_host = {28, 0, 3, 3, 17};
    auto pick = detail::upload<index_t, D>(pick_host, Shape{5});
    auto g = Tensor<T, D>::uninitialized(Shape{5, cols});
    ops::gather_rows(src, pick, g);
    detail::append(out, g);
    // The index check holds for device memory too.
    std::vector<index_t> bad_host = {0, 29};
    auto bad = detail::upload<index_t, D>(bad_host, Shape{2});
    auto g2 = Tensor<T, D>::uninitialized(Shape{2, cols});
    bool threw = false;
    try {
      ops::gather_rows(src, bad, g2);
    } catch (const Error& e) {
      threw = std::string(e.what()).find("idx[1] = 29 is out of range") != std::string::npos;
    }
    out.push_back(threw ? 1.0 : 0.0);
    return out;
  }

  static Outputs conv2d(std::uint64_t seed) {
    Outputs out;
    for (const Conv2dGeometry g : {Conv2dGeometry{3, 5, 9, 7, 4, 3, 2, 1}, Conv2dGeometry{2, 3, 6, 6, 5, 1, 1, 0},
                                   Conv2dGeometry{1, 2, 5, 8, 3, 3, 1, 0}}) {
      auto x = detail::random_tensor<T, D>(Shape{g.batch, g.in_channels, g.height, g.width}, seed);
      auto w = detail::random_tensor<T, D>(Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, seed + 1);
      auto b = detail::random_tensor<T, D>(Shape{g.out_channels}, seed + 2);
      auto y = Tensor<T, D>::uninitialized(Shape{g.batch, g.out_channels, g.out_h(), g.out_w()});
      ops::conv2d_forward(g, x, w, b, y);
      detail::append(out, y);
      auto dy = detail::random_tensor<T, D>(y.shape(), seed + 3);
      auto dw = detail::random_tensor<T, D>(w.shape(), seed + 4);  // backward adds into dw and db
      auto db = detail::random_tensor<T, D>(b.shape(), seed + 5);
      auto dx = Tensor<T, D>::uninitialized(x.shape());
      ops::conv2d_backward(g, x, w, dy, dw, db, dx);
      detail::append(out, dw);
      detail::append(out, db);
      detail::append(out, dx);
      // dx only (frozen weights: no dw, no dbias), as the attacks run it.
      auto dx_only = Tensor<T, D>::uninitialized(x.shape());
      ops::conv2d_backward(g, x, w, dy, TensorView<T, D>{}, TensorView<T, D>{}, dx_only);
      detail::append(out, dx_only);
      ++seed;
    }
    return out;
  }

  static Outputs pooling(std::uint64_t seed) {
    Outputs out;
    auto x = detail::random_tensor<T, D>(Shape{2, 3, 9, 7}, seed);
    for (const ops::PoolWindow w : {ops::PoolWindow{2, 2, 0}, ops::PoolWindow{3, 2, 1}}) {
      const index_t ho = (9 + 2 * w.padding - w.kernel) / w.stride + 1, wo = (7 + 2 * w.padding - w.kernel) / w.stride + 1;
      auto y = Tensor<T, D>::uninitialized(Shape{2, 3, ho, wo});
      auto arg = Tensor<index_t, D>::uninitialized(y.shape());
      ops::max_pool2d(x, y, arg, w);
      detail::append(out, y);
      detail::append(out, arg);
      auto dy = detail::random_tensor<T, D>(y.shape(), seed + 1);
      auto dx = Tensor<T, D>::uninitialized(x.shape());
      ops::max_pool2d_backward(dy, arg, dx);
      detail::append(out, dx);
      for (bool count_padding : {false, true}) {
        ops::avg_pool2d(x, y, w, count_padding);
        detail::append(out, y);
        ops::avg_pool2d_backward(dy, dx, w, count_padding);
        detail::append(out, dx);
      }
    }
    return out;
  }

  static Outputs batch_norm(std::uint64_t seed) {
    Outputs out;
    const index_t b = 5, c = 3, h = 4, w = 3;
    auto x = detail::random_tensor<T, D>(Shape{b, c, h, w}, seed, 2.0, 3.0);  // offset from zero
    Tensor<double, D> mean(Shape{c}), var(Shape{c}), inv_std(Shape{c});
    ops::batch_norm_statistics(x, mean, var);
    detail::append(out, mean);
    detail::append(out, var);
    auto rm = detail::random_tensor<T, D>(Shape{c}, seed + 1), rv = detail::random_tensor<T, D>(Shape{c}, seed + 2, 0.5, 2);
    auto gamma = detail::random_tensor<T, D>(Shape{c}, seed + 3), beta = detail::random_tensor<T, D>(Shape{c}, seed + 4);
    Tensor<T, D> scale(Shape{c}), shift(Shape{c});
    Tensor<unsigned char, D> bad(Shape{1});
    for (bool training : {true, false}) {
      ops::batch_norm_finish(ops::BatchNormFinish{training, 0.1, 60.0 / 59.0, 1e-5}, mean, var, rm, rv, gamma, beta,
                             inv_std, scale, shift, bad);
      for (const auto* t : {&rm, &rv, &scale, &shift}) detail::append(out, *t);
      detail::append(out, inv_std);
      detail::append(out, bad);
    }
    ops::batch_norm_statistics(x, mean, var);
    ops::batch_norm_finish(ops::BatchNormFinish{}, mean, var, rm, rv, TensorView<T, D>{}, TensorView<T, D>{}, inv_std,
                           scale, shift, bad);
    auto y = Tensor<T, D>::uninitialized(x.shape());
    ops::batch_norm_forward(x, scale, shift, y);
    detail::append(out, y);
    ops::batch_norm_forward(x, scale, shift, y, true);  // with the ReLU that follows, fused
    detail::append(out, y);
    auto dy = detail::random_tensor<T, D>(x.shape(), seed + 5);
    auto dg = detail::random_tensor<T, D>(Shape{c}, seed + 6), dbeta = detail::random_tensor<T, D>(Shape{c}, seed + 7);
    auto dx = Tensor<T, D>::uninitialized(x.shape());
    ops::batch_norm_backward(dy, x, mean, inv_std, gamma, dg, dbeta, dx);
    detail::append(out, dg);
    detail::append(out, dbeta);
    detail::append(out, dx);
    // Non-finite statistics raise the flag and leave the running statistics alone.
    std::vector<T> host = detail::random_values<T>(std::size_t(b * c * h * w), seed + 8);
    host[7] = T(1) / T(0);
    auto xi = detail::upload<T, D>(host, x.shape());
    ops::batch_norm_statistics(xi, mean, var);
    ops::batch_norm_finish(ops::BatchNormFinish{}, mean, var, rm, rv, gamma, beta, inv_std, scale, shift, bad);
    detail::append(out, bad);
    detail::append(out, rm);
    return out;
  }

  static Outputs cross_entropy(std::uint64_t seed) {
    Outputs out;
    const index_t rows = 11, classes = 7;
    auto z = detail::random_tensor<T, D>(Shape{rows, classes}, seed, -4, 4);
    const std::vector<index_t> labels_host = {0, 6, 3, no_group, 2, 2, 5, 1, 0, no_group, 4};
    const Tensor<index_t> labels = Tensor<index_t>::copy_of(TensorView<const index_t, Cpu>(labels_host.data(), Shape{rows}));
    auto grad = detail::random_tensor<T, D>(z.shape(), seed + 1);
    const auto v = softmax_cross_entropy(z, labels, grad, CrossEntropyOptions{}.accumulating());
    out.push_back(v.loss);
    out.push_back(double(v.correct));
    out.push_back(double(v.labelled));
    detail::append(out, grad);
    return out;
  }

  /// Every loss path with one metric: both conventions, both reference sets, the value and the
  /// gradient (accumulating into a non-zero gradient once).
  template <class M>
  static Outputs loss_paths(std::uint64_t seed, index_t rows, index_t cols, LossPath path) {
    Outputs out;
    // Shuffled, non-contiguous ids; a one-row group; unlabelled rows (no_group classes).
    std::vector<index_t> seeds(static_cast<std::size_t>(rows)), classes(seeds.size());
    std::mt19937_64 rng(seed);
    for (index_t i = 0; i < rows; ++i) {
      seeds[std::size_t(i)] = 3 * index_t(rng() % std::uint64_t(std::max<index_t>(rows / 3, 1))) + 7;
      classes[std::size_t(i)] = seeds[std::size_t(i)] % 4;
    }
    seeds[0] = 1000;  // a group of one row
    if (rows > 4) classes[3] = classes[4] = no_group;  // unlabelled
    for (index_t i = 0; i < rows; ++i)
      if (classes[std::size_t(i)] == no_group) seeds[std::size_t(i)] = 2000 + i;  // alone in their seed group
    const Tensor<index_t> seed_ids = Tensor<index_t>::copy_of(TensorView<const index_t, Cpu>(seeds.data(), Shape{rows}));
    const Tensor<index_t> class_ids =
        Tensor<index_t>::copy_of(TensorView<const index_t, Cpu>(classes.data(), Shape{rows}));
    auto x = detail::random_tensor<T, D>(Shape{rows, cols}, seed + 1, 0.5, 1.5);
    const M metric{};
    for (PairConvention conv : {PairConvention::paper, PairConvention::pooled}) {
      const auto o = GroupLossOptions{}.with_convention(conv).with_path(path);
      auto grad = Tensor<T, D>(x.shape());
      auto v = augmentation_invariance(metric, x, seed_ids, grad, o);
      out.insert(out.end(), {v.value, v.numerator, v.denominator});
      detail::append(out, grad);
      v = augmentation_invariance(metric, x, seed_ids, same_class(class_ids), grad, GroupLossOptions(o).accumulating());
      out.insert(out.end(), {v.value, v.numerator, v.denominator});
      detail::append(out, grad);
      v = class_invariance(metric, x, class_ids, no_gradient, o);
      out.insert(out.end(), {v.value, v.numerator, v.denominator});
      // L_DA (both references) and L_C in one call (one pass on the linear path), added to the gradient.
      const InvarianceTerm terms[3] = {
          {seed_ids, same_class(class_ids), GroupLossOptions(o).accumulating().with_gradient_scale(0.5)},
          {class_ids, all_pairs(), GroupLossOptions(o).accumulating().with_gradient_scale(-0.25)},
          {seed_ids, all_pairs(), GroupLossOptions(o).accumulating().with_gradient_scale(2.0)}};
      for (const LossValue& w : group_invariances(metric, x, terms, grad))
        out.insert(out.end(), {w.value, w.numerator, w.denominator});
      detail::append(out, grad);
    }
    return out;
  }

  static Outputs loss_linear(std::uint64_t seed) {
    auto out = loss_paths<MeanSquaredDifference>(seed, 40, 1031, LossPath::linear);
    const auto more = loss_paths<SquaredEuclidean>(seed + 1, 9, 5, LossPath::linear);
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }
  static Outputs loss_linear_large(std::uint64_t seed) {
    return loss_paths<MeanSquaredDifference>(seed, 64, 16411, LossPath::linear);
  }
  static Outputs loss_gram(std::uint64_t seed) {
    Outputs out = loss_paths<CosineDistance>(seed, 33, 517, LossPath::gram);
    for (const Outputs& more : {loss_paths<CorrelationDistance>(seed + 1, 33, 517, LossPath::gram),
                                loss_paths<Euclidean>(seed + 2, 33, 517, LossPath::gram)})
      out.insert(out.end(), more.begin(), more.end());
    return out;
  }
  static Outputs loss_pairwise(std::uint64_t seed) {
    Outputs out = loss_paths<Manhattan>(seed, 21, 67, LossPath::pairwise);
    for (const Outputs& more : {loss_paths<CosineDistance>(seed + 1, 21, 67, LossPath::pairwise),
                                loss_paths<MeanSquaredDifference>(seed + 2, 21, 67, LossPath::pairwise),
                                loss_paths<UserL4>(seed + 3, 21, 67, LossPath::pairwise)})
      out.insert(out.end(), more.begin(), more.end());
    return out;
  }
  /// B = 1 and B = 2 (every group of one row: value 0 without NaN).
  static Outputs loss_tiny_batches(std::uint64_t seed) {
    Outputs out;
    for (index_t rows : {index_t(1), index_t(2)}) {
      auto x = detail::random_tensor<T, D>(Shape{rows, 3}, seed + std::uint64_t(rows));
      const std::vector<index_t> ids = {5, 6};
      const Tensor<index_t> id_t = Tensor<index_t>::copy_of(TensorView<const index_t, Cpu>(ids.data(), Shape{rows}));
      auto grad = Tensor<T, D>(x.shape());
      const auto v1 = augmentation_invariance(MeanSquaredDifference{}, x, id_t, grad);
      detail::append(out, grad);
      const auto v2 = augmentation_invariance(CosineDistance{}, x, id_t, grad);
      detail::append(out, grad);
      const auto v3 = augmentation_invariance(Manhattan{}, x, id_t, grad);
      detail::append(out, grad);
      out.insert(out.end(), {v1.value, v2.value, v3.value});
    }
    return out;
  }
  /// The anti-collapse penalties: flat and channel-mean features, both covariance forms,
  /// overwriting and accumulating gradients, a planted PC1 above the threshold.
  static Outputs anti_collapse(std::uint64_t seed) {
    Outputs out;
    auto flat = detail::random_tensor<T, D>(Shape{24, 37}, seed, -1, 1);
    auto maps = detail::random_tensor<T, D>(Shape{10, 6, 3, 5}, seed + 1, -2, 2);
    for (const Tensor<T, D>* x : {&flat, &maps}) {
      for (PenaltyFeatures view : {PenaltyFeatures::automatic, PenaltyFeatures::flat}) {
        auto grad = detail::random_tensor<T, D>(x->shape(), seed + 2);
        const auto h = variance_hinge(*x, grad, VarianceHingeOptions{}.with_features(view).with_target(1.5).accumulating());
        out.insert(out.end(), {h.value, h.statistic});
        for (CovarianceForm form : {CovarianceForm::direct, CovarianceForm::gram}) {
          const auto c = covariance_penalty(*x, grad, CovariancePenaltyOptions{}.with_features(view).with_form(form).accumulating());
          out.push_back(c.value);
        }
        const auto p = pc1_share_penalty(*x, grad, Pc1SharePenaltyOptions{}.with_features(view).with_threshold(0.01));
        out.insert(out.end(), {p.value, p.statistic, double(p.iterations)});
        detail::append(out, grad);
      }
    }
    return out;
  }
};

/// The cases' names, in the order cases() lists them.
inline const std::vector<std::string>& case_names() {
  static const std::vector<std::string> names = {"gemm", "elementwise_and_reductions", "gather_scatter", "conv2d",
                                                 "pooling", "batch_norm", "cross_entropy", "loss_linear",
                                                 "loss_linear_large", "loss_gram", "loss_pairwise",
                                                 "loss_tiny_batches", "anti_collapse"};
  return names;
}

/// The cases, for one scalar type and device.
template <class T, Device D>
std::vector<std::function<Outputs(std::uint64_t)>> cases() {
  using C = Cases<T, D>;
  return {C::gemm,         C::elementwise_and_reductions, C::gather_scatter,    C::conv2d,
          C::pooling,      C::batch_norm,                 C::cross_entropy,     C::loss_linear,
          C::loss_linear_large, C::loss_gram,             C::loss_pairwise,     C::loss_tiny_batches,
          C::anti_collapse};
}

/// Runs case `name` for scalar `scalar` ("float" or "double") on device D.
template <Device D>
Outputs run_case(const std::string& scalar, const std::string& name, std::uint64_t seed) {
  const auto& names = case_names();
  const auto at = std::find(names.begin(), names.end(), name);
  check(at != names.end(), "device test: no case named ", name);
  const auto i = static_cast<std::size_t>(at - names.begin());
  if (scalar == "float") return cases<float, D>()[i](seed);
  return cases<double, D>()[i](seed);
}

}  // namespace invar::device_test

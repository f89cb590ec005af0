#pragma once
/// \file tsne.hpp
/// t-SNE (van der Maaten & Hinton 2008) of N x D features to 2-d, with the Barnes-Hut
/// approximation (van der Maaten 2014) for large N. Double precision, seeded, deterministic: the
/// same seed gives the same bits on any thread count (the parallel loops only compute per-point
/// results; every sum over points runs serially in a fixed order).
///
/// - Input similarities: conditional Gaussians P_j|i whose precision beta_i is found by bisection
///   so that the perplexity exp(H_i) (H in nats) matches the target (|H_i - log perplexity| <
///   1e-5, at most 200 steps), on squared Euclidean distances; then P_ij = (P_j|i + P_i|j) / 2N.
///   Exact: all pairs. Barnes-Hut: the k = min(N - 1, floor(3 perplexity)) nearest neighbours of
///   each point (exact, brute force O(N^2 D)), so P is sparse.
/// - Output similarities: Student-t, q_ij = w_ij / Z, w_ij = 1 / (1 + |y_i - y_j|^2),
///   Z = sum_{k != l} w_kl. Gradient of KL(P || Q):
///   dC/dy_i = 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j) (exact O(N^2), or with the repulsive part
///   sum_j w_ij^2 (y_i - y_j) and Z summarised over quadtree cells with width / distance < theta).
/// - Optimisation: gradient descent with momentum (0.5, then 0.8 from iteration 250), early
///   exaggeration (P x 12 for the first 250 iterations), per-coordinate gains (+0.2 when the
///   gradient's sign opposes the previous update, x0.8 otherwise, at least 0.01), the embedding
///   recentred after every step. Learning rate default max(N / early_exaggeration / 4, 50)
///   (scikit-learn's "auto"); initial Y_ik = 1e-4 * normal from invar::Rng(seed).
/// - Collapsed features are input like any other: identical rows are at distance 0 and get equal
///   conditional probabilities (when every distance of a row is equal, P_j|i is uniform: a layer
///   that maps every image to one point gives a uniform P), and groups of identical rows stay
///   together in the embedding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

/// How tsne() computes similarities and gradients.
enum class TsneMethod {
  automatic,  ///< exact when N <= TsneOptions::exact_max_points, Barnes-Hut otherwise
  exact,      ///< all pairs: O(N^2) memory and time per iteration
  barnes_hut  ///< sparse kNN P and a quadtree: O(N log N) per iteration (after the O(N^2 D) kNN)
};

/// Options of tsne(); the defaults are the file comment's (and scikit-learn's). Checked by validate().
struct TsneOptions {
  double perplexity = 30;                  ///< effective number of neighbours, 1 <= perplexity < N - 1
  index_t iterations = 1000;               ///< gradient steps
  double theta = 0.5;                      ///< Barnes-Hut accuracy (0: exact repulsion through the tree)
  TsneMethod method = TsneMethod::automatic;  ///< exact or Barnes-Hut (default: by N, see exact_max_points)
  index_t exact_max_points = 1000;         ///< automatic picks exact up to this N
  std::uint64_t seed = 0;                  ///< the initial embedding
  double learning_rate = 0;                ///< 0: max(N / early_exaggeration / 4, 50)
  double early_exaggeration = 12;          ///< P is multiplied by this for the first exaggeration_iterations
  index_t exaggeration_iterations = 250;   ///< iterations with early exaggeration (>= 0)
  double initial_momentum = 0.5;           ///< momentum before momentum_switch_iteration, in [0, 1)
  double final_momentum = 0.8;             ///< momentum from momentum_switch_iteration on, in [0, 1)
  index_t momentum_switch_iteration = 250; ///< final_momentum from this iteration on
  /// Called with (completed iterations, KL(P || Q) at the current embedding) every
  /// progress_interval iterations; KL is of the unexaggerated P.
  std::function<void(index_t iteration, double kl)> progress;
  index_t progress_interval = 50;          ///< iterations between progress calls (>= 1)

  /// Sets #perplexity.
  TsneOptions& with_perplexity(double v) { perplexity = v; return *this; }
  /// Sets #iterations.
  TsneOptions& with_iterations(index_t v) { iterations = v; return *this; }
  /// Sets #theta.
  TsneOptions& with_theta(double v) { theta = v; return *this; }
  /// Sets #method.
  TsneOptions& with_method(TsneMethod v) { method = v; return *this; }
  /// Sets #exact_max_points.
  TsneOptions& with_exact_max_points(index_t v) { exact_max_points = v; return *this; }
  /// Sets #seed.
  TsneOptions& with_seed(std::uint64_t v) { seed = v; return *this; }
  /// Sets #learning_rate (0: automatic).
  TsneOptions& with_learning_rate(double v) { learning_rate = v; return *this; }
  /// Sets #early_exaggeration.
  TsneOptions& with_early_exaggeration(double v) { early_exaggeration = v; return *this; }
  /// Sets #exaggeration_iterations.
  TsneOptions& with_exaggeration_iterations(index_t v) { exaggeration_iterations = v; return *this; }
  /// Sets #initial_momentum, #final_momentum and #momentum_switch_iteration.
  TsneOptions& with_momentum(double initial, double final_, index_t switch_iteration) {
    initial_momentum = initial;
    final_momentum = final_;
    momentum_switch_iteration = switch_iteration;
    return *this;
  }
  /// Sets #progress and #progress_interval.
  TsneOptions& with_progress(std::function<void(index_t, double)> f, index_t interval = 50) {
    progress = std::move(f);
    progress_interval = interval;
    return *this;
  }

  /// Throws invar::Error naming the first option out of its range (tsne() calls it; the
  /// perplexity's upper bound N - 1 is checked there).
  void validate() const {
    check(std::isfinite(perplexity) && perplexity >= 1, "TsneOptions: perplexity must be finite and >= 1, got ",
          perplexity);
    check(iterations >= 1, "TsneOptions: iterations must be >= 1, got ", iterations);
    check(std::isfinite(theta) && theta >= 0, "TsneOptions: theta must be finite and >= 0, got ", theta);
    check(exact_max_points >= 0, "TsneOptions: exact_max_points must be >= 0, got ", exact_max_points);
    check(std::isfinite(learning_rate) && learning_rate >= 0,
          "TsneOptions: learning_rate must be finite and >= 0 (0: automatic), got ", learning_rate);
    check(std::isfinite(early_exaggeration) && early_exaggeration > 0,
          "TsneOptions: early_exaggeration must be finite and > 0, got ", early_exaggeration);
    check(exaggeration_iterations >= 0, "TsneOptions: exaggeration_iterations must be >= 0, got ",
          exaggeration_iterations);
    check(initial_momentum >= 0 && initial_momentum < 1 && final_momentum >= 0 && final_momentum < 1,
          "TsneOptions: momenta must be in [0, 1), got ", initial_momentum, " and ", final_momentum);
    check(momentum_switch_iteration >= 0, "TsneOptions: momentum_switch_iteration must be >= 0, got ",
          momentum_switch_iteration);
    check(progress_interval >= 1, "TsneOptions: progress_interval must be >= 1, got ", progress_interval);
  }
};

/// What tsne() returns.
struct TsneResult {
  Tensor<double> embedding;  ///< N x 2
  double kl_divergence = 0;  ///< KL(P || Q) at the final embedding (Barnes-Hut: Z estimated with theta)
  index_t iterations = 0;    ///< gradient steps taken (TsneOptions::iterations)
  TsneMethod method = TsneMethod::exact;  ///< the method used (never automatic)
  double learning_rate = 0;               ///< the learning rate used
};

namespace detail {

/// Bisection on beta for one point: given the squared distances d2[0..m) to the other points
/// (or neighbours), writes p[j] = exp(-beta d2[j]) / sum_k exp(-beta d2[k]) with perplexity
/// exp(H) = target (H = -sum p log p in nats, |H - log perplexity| < tolerance or max_steps
/// evaluations). Returns beta.
inline double tsne_calibrate_row(const double* d2, index_t m, double perplexity, double* p,
                                 double tolerance = 1e-5, int max_steps = 200) {
  double dmin = std::numeric_limits<double>::infinity();
  for (index_t j = 0; j < m; ++j) dmin = std::min(dmin, d2[j]);
  const double target = std::log(perplexity);
  double beta = 1, lo = 0, hi = std::numeric_limits<double>::infinity();
  double sum = 1;
  for (int step = 0;; ++step) {
    // exp(-beta (d2 - dmin)): the shift cancels in the normalisation and keeps sum >= 1.
    sum = 0;
    double dot = 0;
    for (index_t j = 0; j < m; ++j) {
      const double e = d2[j] - dmin;
      p[j] = std::exp(-beta * e);
      sum += p[j];
      dot += p[j] * e;
    }
    const double h = std::log(sum) + beta * dot / sum;
    if (std::abs(h - target) < tolerance || step + 1 >= max_steps) break;
    if (h > target) {
      lo = beta;
      beta = std::isinf(hi) ? beta * 2 : 0.5 * (beta + hi);
    } else {
      hi = beta;
      beta = 0.5 * (beta + lo);
    }
  }
  for (index_t j = 0; j < m; ++j) p[j] /= sum;
  return beta;
}

/// Row-major N x D copy in double; non-finite values are errors naming the row and column.
template <class T>
std::vector<double> tsne_features(TensorView<const T> x, index_t& n, index_t& d) {
  check(x.rank() >= 2, "tsne: features must be N x D (rows x features), got shape ", x.shape());
  n = x.dim(0);
  d = x.row_size();
  check(n >= 4, "tsne: need at least 4 points, got ", n, " (shape ", x.shape(), ")");
  check(d >= 1, "tsne: need at least one feature, got shape ", x.shape());
  std::vector<double> out(static_cast<std::size_t>(n * d));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const double v = double(x.data()[i * d + j]);
      check(std::isfinite(v), "tsne: feature ", j, " of row ", i, " is not finite (", v, ")");
      out[std::size_t(i * d + j)] = v;
    }
  return out;
}

inline double tsne_sq_distance(const double* a, const double* b, index_t d) {
  double s = 0;
  for (index_t k = 0; k < d; ++k) {
    const double e = a[k] - b[k];
    s += e * e;
  }
  return s;
}

/// The N x N conditional P_j|i (row i; P_i|i = 0) over all pairs.
inline std::vector<double> tsne_conditional_exact(const std::vector<double>& x, index_t n, index_t d,
                                                  double perplexity) {
  std::vector<double> c(static_cast<std::size_t>(n * n), 0.0);
  cpu::parallel_for(n, n * (d + 20), [&](index_t begin, index_t end) {
    std::vector<double> d2(std::size_t(n - 1)), p(std::size_t(n - 1));
    for (index_t i = begin; i < end; ++i) {
      index_t m = 0;
      for (index_t j = 0; j < n; ++j)
        if (j != i) d2[std::size_t(m++)] = tsne_sq_distance(&x[std::size_t(i * d)], &x[std::size_t(j * d)], d);
      tsne_calibrate_row(d2.data(), n - 1, perplexity, p.data());
      m = 0;
      for (index_t j = 0; j < n; ++j)
        if (j != i) c[std::size_t(i * n + j)] = p[std::size_t(m++)];
    }
  });
  return c;
}

/// P_ij = (P_j|i + P_i|j) / 2N, N x N.
inline std::vector<double> tsne_joint_exact(const std::vector<double>& c, index_t n) {
  std::vector<double> p(c.size());
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j)
      p[std::size_t(i * n + j)] = (c[std::size_t(i * n + j)] + c[std::size_t(j * n + i)]) / (2.0 * double(n));
  return p;
}

/// The k nearest neighbours of each point (brute force; ties by index) and the conditional
/// P_j|i over them: row i is neighbours[i*k .. i*k+k) with probabilities p[i*k ..].
struct TsneNeighbours {
  index_t n = 0, k = 0;
  std::vector<index_t> index;
  std::vector<double> p;
};

inline TsneNeighbours tsne_conditional_knn(const std::vector<double>& x, index_t n, index_t d, double perplexity,
                                           index_t k) {
  TsneNeighbours nb;
  nb.n = n;
  nb.k = k;
  nb.index.resize(std::size_t(n * k));
  nb.p.resize(std::size_t(n * k));
  cpu::parallel_for(n, n * (d + 4), [&](index_t begin, index_t end) {
    std::vector<std::pair<double, index_t>> all(std::size_t(n - 1));
    std::vector<double> d2(static_cast<std::size_t>(k));
    for (index_t i = begin; i < end; ++i) {
      index_t m = 0;
      for (index_t j = 0; j < n; ++j)
        if (j != i) all[std::size_t(m++)] = {tsne_sq_distance(&x[std::size_t(i * d)], &x[std::size_t(j * d)], d), j};
      std::partial_sort(all.begin(), all.begin() + k, all.end());
      for (index_t t = 0; t < k; ++t) {
        d2[std::size_t(t)] = all[std::size_t(t)].first;
        nb.index[std::size_t(i * k + t)] = all[std::size_t(t)].second;
      }
      tsne_calibrate_row(d2.data(), k, perplexity, &nb.p[std::size_t(i * k)]);
    }
  });
  return nb;
}

/// A sparse symmetric N x N matrix in CSR form (columns increasing in each row).
struct TsneSparseP {
  index_t n = 0;
  std::vector<index_t> row_start;  ///< n + 1
  std::vector<index_t> column;
  std::vector<double> value;
};

/// P_ij = (P_j|i + P_i|j) / 2N over the union of the kNN graphs.
inline TsneSparseP tsne_joint_sparse(const TsneNeighbours& nb) {
  const index_t n = nb.n, k = nb.k;
  struct Entry {
    index_t row, col;
    double v;
  };
  std::vector<Entry> e;
  e.reserve(std::size_t(2 * n * k));
  const double scale = 1.0 / (2.0 * double(n));
  for (index_t i = 0; i < n; ++i)
    for (index_t t = 0; t < k; ++t) {
      const index_t j = nb.index[std::size_t(i * k + t)];
      const double v = nb.p[std::size_t(i * k + t)] * scale;
      e.push_back({i, j, v});
      e.push_back({j, i, v});
    }
  std::stable_sort(e.begin(), e.end(),
                   [](const Entry& a, const Entry& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
  TsneSparseP s;
  s.n = n;
  s.row_start.assign(std::size_t(n + 1), 0);
  for (std::size_t a = 0; a < e.size();) {
    std::size_t b = a;
    double v = 0;
    while (b < e.size() && e[b].row == e[a].row && e[b].col == e[a].col) v += e[b++].v;
    s.column.push_back(e[a].col);
    s.value.push_back(v);
    ++s.row_start[std::size_t(e[a].row + 1)];
    a = b;
  }
  for (index_t i = 0; i < n; ++i) s.row_start[std::size_t(i + 1)] += s.row_start[std::size_t(i)];
  return s;
}

/// The gradient from per-point partial sums (attraction ax, ay; unnormalised repulsion rx, ry;
/// the point's share of Z), reduced in index order so the bits do not depend on threads:
/// dC/dy_i = 4 (attraction_i - repulsion_i / Z). Returns Z.
inline double tsne_gradient_from_parts(const std::vector<double>& part, index_t n, double* grad) {
  double z = 0;
  for (index_t i = 0; i < n; ++i) z += part[std::size_t(5 * i + 4)];
  for (index_t i = 0; i < n; ++i) {
    const double* o = &part[std::size_t(5 * i)];
    grad[2 * i] = 4.0 * (o[0] - o[2] / z);
    grad[2 * i + 1] = 4.0 * (o[1] - o[3] / z);
  }
  return z;
}

/// Exact gradient of KL(exaggeration * P || Q) with respect to the N x 2 embedding y (row-major),
/// P dense N x N (zero diagonal). Writes grad (2N); returns Z = sum_{i != j} w_ij.
inline double tsne_gradient_exact(const std::vector<double>& p, const double* y, index_t n, double exaggeration,
                                  double* grad) {
  std::vector<double> part(std::size_t(5 * n));  // per row: attractive (2), repulsive (2), Z_i
  cpu::parallel_for(n, 4 * n, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      double ax = 0, ay = 0, rx = 0, ry = 0, z = 0;
      const double yix = y[2 * i], yiy = y[2 * i + 1];
      const double* pi = &p[std::size_t(i * n)];
      for (index_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double dx = yix - y[2 * j], dy = yiy - y[2 * j + 1];
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += w;
        const double a = exaggeration * pi[j] * w;
        ax += a * dx;
        ay += a * dy;
        rx += w * w * dx;
        ry += w * w * dy;
      }
      double* o = &part[std::size_t(5 * i)];
      o[0] = ax, o[1] = ay, o[2] = rx, o[3] = ry, o[4] = z;
    }
  });
  return tsne_gradient_from_parts(part, n, grad);
}

/// KL(P || Q) = sum_{P_ij > 0} P_ij log(P_ij / q_ij) over all pairs (dense P).
inline double tsne_kl_exact(const std::vector<double>& p, const double* y, index_t n) {
  std::vector<double> z_row(static_cast<std::size_t>(n)), kl_row(static_cast<std::size_t>(n));
  cpu::parallel_for(n, 4 * n, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      double z = 0, kl = 0;  // kl_row: sum_j P_ij log(P_ij / w_ij); then + (sum P) log Z
      for (index_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += w;
        const double pij = p[std::size_t(i * n + j)];
        if (pij > 0) kl += pij * std::log(pij / w);
      }
      z_row[std::size_t(i)] = z;
      kl_row[std::size_t(i)] = kl;
    }
  });
  double z = 0, kl = 0, psum = 0;
  for (index_t i = 0; i < n; ++i) z += z_row[std::size_t(i)], kl += kl_row[std::size_t(i)];
  for (double v : p) psum += v;
  return kl + psum * std::log(z);
}

/// A quadtree over the embedding for the Barnes-Hut repulsion. Cells are squares halved at each
/// level; a leaf holds one point (or several when 48 levels cannot separate them).
class TsneQuadTree {
 public:
  struct Node {
    double cx = 0, cy = 0;  ///< centre of mass
    double width = 0;       ///< side of the cell
    index_t begin = 0, end = 0;
    index_t child[4] = {-1, -1, -1, -1};
    bool leaf = true;
  };

  TsneQuadTree(const double* y, index_t n) : y_(y) {
    order_.resize(std::size_t(n));
    for (index_t i = 0; i < n; ++i) order_[std::size_t(i)] = i;
    double x0 = y[0], x1 = y[0], y0 = y[1], y1 = y[1];
    for (index_t i = 1; i < n; ++i) {
      x0 = std::min(x0, y[2 * i]), x1 = std::max(x1, y[2 * i]);
      y0 = std::min(y0, y[2 * i + 1]), y1 = std::max(y1, y[2 * i + 1]);
    }
    nodes_.reserve(std::size_t(2 * n));
    build(0, n, x0, y0, std::max(x1 - x0, y1 - y0), 0);
  }

  /// Repulsion on point i: sum_j w_ij^2 (y_i - y_j) into (fx, fy); returns sum_{j != i} w_ij
  /// (both approximated on cells with width < theta * distance to their centre of mass).
  double repulsion(index_t i, double theta, double& fx, double& fy, std::vector<index_t>& stack) const {
    const double yix = y_[2 * i], yiy = y_[2 * i + 1];
    const double theta2 = theta * theta;
    double z = 0, rx = 0, ry = 0;
    stack.clear();
    stack.push_back(0);
    while (!stack.empty()) {
      const Node& nd = nodes_[std::size_t(stack.back())];
      stack.pop_back();
      if (nd.leaf) {
        for (index_t t = nd.begin; t < nd.end; ++t) {
          const index_t j = order_[std::size_t(t)];
          if (j == i) continue;
          const double dx = yix - y_[2 * j], dy = yiy - y_[2 * j + 1];
          const double w = 1.0 / (1.0 + dx * dx + dy * dy);
          z += w;
          rx += w * w * dx;
          ry += w * w * dy;
        }
        continue;
      }
      const double dx = yix - nd.cx, dy = yiy - nd.cy;
      const double d2 = dx * dx + dy * dy;
      if (d2 > 0 && nd.width * nd.width < theta2 * d2) {
        const double cnt = double(nd.end - nd.begin);
        const double w = 1.0 / (1.0 + d2);
        z += cnt * w;
        rx += cnt * w * w * dx;
        ry += cnt * w * w * dy;
      } else {
        for (int q = 3; q >= 0; --q)
          if (nd.child[q] >= 0) stack.push_back(nd.child[q]);
      }
    }
    fx = rx;
    fy = ry;
    return z;
  }

  [[nodiscard]] const std::vector<Node>& nodes() const { return nodes_; }

 private:
  static constexpr int max_depth = 48;

  index_t build(index_t begin, index_t end, double x0, double y0, double size, int depth) {
    const index_t id = static_cast<index_t>(nodes_.size());
    nodes_.emplace_back();
    double sx = 0, sy = 0;
    for (index_t t = begin; t < end; ++t) {
      sx += y_[2 * order_[std::size_t(t)]];
      sy += y_[2 * order_[std::size_t(t)] + 1];
    }
    Node nd;
    nd.cx = sx / double(end - begin);
    nd.cy = sy / double(end - begin);
    nd.width = size;
    nd.begin = begin;
    nd.end = end;
    nd.leaf = end - begin <= 1 || depth >= max_depth || !(size > 0);
    if (!nd.leaf) {
      const double h = 0.5 * size, mx = x0 + h, my = y0 + h;
      auto* first = order_.data() + begin;
      auto* last = order_.data() + end;
      const double* y = y_;
      auto* mid = std::partition(first, last, [&](index_t j) { return y[2 * j + 1] < my; });
      auto* q1 = std::partition(first, mid, [&](index_t j) { return y[2 * j] < mx; });
      auto* q3 = std::partition(mid, last, [&](index_t j) { return y[2 * j] < mx; });
      const index_t b[5] = {begin, index_t(q1 - order_.data()), index_t(mid - order_.data()),
                            index_t(q3 - order_.data()), end};
      const double ox[4] = {x0, mx, x0, mx}, oy[4] = {y0, y0, my, my};
      for (int q = 0; q < 4; ++q)
        if (b[q + 1] > b[q]) nd.child[q] = build(b[q], b[q + 1], ox[q], oy[q], h, depth + 1);
    }
    nodes_[std::size_t(id)] = nd;
    return id;
  }

  const double* y_;
  std::vector<index_t> order_;
  std::vector<Node> nodes_;
};

/// Barnes-Hut gradient of KL(exaggeration * P || Q) for a sparse P: attractive forces over P's
/// non-zeros, repulsive forces and Z through a quadtree with `theta`. Writes grad (2N); returns
/// the estimated Z.
inline double tsne_gradient_barnes_hut(const TsneSparseP& p, const double* y, index_t n, double theta,
                                       double exaggeration, double* grad) {
  const TsneQuadTree tree(y, n);
  std::vector<double> part(std::size_t(5 * n));
  cpu::parallel_for(n, 200, [&](index_t begin, index_t end) {
    std::vector<index_t> stack;
    for (index_t i = begin; i < end; ++i) {
      double ax = 0, ay = 0;
      for (index_t t = p.row_start[std::size_t(i)]; t < p.row_start[std::size_t(i + 1)]; ++t) {
        const index_t j = p.column[std::size_t(t)];
        const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
        const double a = exaggeration * p.value[std::size_t(t)] / (1.0 + dx * dx + dy * dy);
        ax += a * dx;
        ay += a * dy;
      }
      double rx = 0, ry = 0;
      const double z = tree.repulsion(i, theta, rx, ry, stack);
      double* o = &part[std::size_t(5 * i)];
      o[0] = ax, o[1] = ay, o[2] = rx, o[3] = ry, o[4] = z;
    }
  });
  return tsne_gradient_from_parts(part, n, grad);
}

/// KL(P || Q) for a sparse P, given Z.
inline double tsne_kl_sparse(const TsneSparseP& p, const double* y, double z) {
  double kl = 0;
  for (index_t i = 0; i < p.n; ++i)
    for (index_t t = p.row_start[std::size_t(i)]; t < p.row_start[std::size_t(i + 1)]; ++t) {
      const index_t j = p.column[std::size_t(t)];
      const double v = p.value[std::size_t(t)];
      if (v <= 0) continue;
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      const double q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
      kl += v * std::log(v / q);
    }
  return kl;
}

inline TsneResult tsne_impl(const std::vector<double>& x, index_t n, index_t d, const TsneOptions& o) {
  o.validate();
  check(o.perplexity < double(n - 1), "tsne: perplexity ", o.perplexity, " must be less than N - 1 = ", n - 1,
        " (each of the ", n, " points has ", n - 1, " neighbours); try perplexity ",
        std::max(1.0, std::floor(double(n - 1) / 3.0)));
  TsneResult r;
  r.method = o.method == TsneMethod::automatic ? (n <= o.exact_max_points ? TsneMethod::exact : TsneMethod::barnes_hut)
                                               : o.method;
  r.learning_rate = o.learning_rate > 0 ? o.learning_rate : std::max(double(n) / o.early_exaggeration / 4.0, 50.0);
  const bool exact = r.method == TsneMethod::exact;

  std::vector<double> dense;
  TsneSparseP sparse;
  if (exact) {
    dense = tsne_joint_exact(tsne_conditional_exact(x, n, d, o.perplexity), n);
  } else {
    const index_t k = std::min<index_t>(n - 1, static_cast<index_t>(std::floor(3.0 * o.perplexity)));
    sparse = tsne_joint_sparse(tsne_conditional_knn(x, n, d, o.perplexity, k));
  }

  std::vector<double> y(std::size_t(2 * n)), grad(std::size_t(2 * n)), update(std::size_t(2 * n), 0.0),
      gains(std::size_t(2 * n), 1.0);
  Rng rng(o.seed);
  for (auto& v : y) v = 1e-4 * rng.normal();

  auto kl_now = [&]() {
    if (exact) return tsne_kl_exact(dense, y.data(), n);
    const double z = tsne_gradient_barnes_hut(sparse, y.data(), n, o.theta, 1.0, grad.data());
    return tsne_kl_sparse(sparse, y.data(), z);
  };

  for (index_t it = 0; it < o.iterations; ++it) {
    const double exaggeration = it < o.exaggeration_iterations ? o.early_exaggeration : 1.0;
    const double momentum = it < o.momentum_switch_iteration ? o.initial_momentum : o.final_momentum;
    if (exact)
      tsne_gradient_exact(dense, y.data(), n, exaggeration, grad.data());
    else
      tsne_gradient_barnes_hut(sparse, y.data(), n, o.theta, exaggeration, grad.data());
    for (std::size_t k = 0; k < y.size(); ++k) {
      double& g = gains[k];
      g = update[k] * grad[k] < 0 ? g + 0.2 : g * 0.8;
      g = std::max(g, 0.01);
      update[k] = momentum * update[k] - r.learning_rate * g * grad[k];
      y[k] += update[k];
    }
    double mx = 0, my = 0;
    for (index_t i = 0; i < n; ++i) mx += y[std::size_t(2 * i)], my += y[std::size_t(2 * i + 1)];
    mx /= double(n);
    my /= double(n);
    for (index_t i = 0; i < n; ++i) y[std::size_t(2 * i)] -= mx, y[std::size_t(2 * i + 1)] -= my;
    if (o.progress && (it + 1) % o.progress_interval == 0) o.progress(it + 1, kl_now());
  }
  r.iterations = o.iterations;
  r.kl_divergence = kl_now();
  r.embedding = Tensor<double>::uninitialized(Shape{n, 2});
  std::copy(y.begin(), y.end(), r.embedding.data());
  return r;
}

}  // namespace detail

/// t-SNE of N x D features (rank >= 2, rows x flattened rest; float or double) to N x 2.
/// Throws invar::Error on invalid options, fewer than 4 points, non-finite features, or
/// perplexity >= N - 1.
template <Viewable X>
TsneResult tsne(X&& features, const TsneOptions& options = {}) {
  using T = typename view_t<X>::value_type;
  index_t n = 0, d = 0;
  const std::vector<double> x = detail::tsne_features<T>(TensorView<const T>(to_view(features)), n, d);
  return detail::tsne_impl(x, n, d, options);
}

}  // namespace invar::analysis

#pragma once
/// \file lbfgs.hpp
/// A deterministic L-BFGS minimiser in double precision (memory m, strong Wolfe line search),
/// used by the probes (linear_probe.hpp, mlp_probe.hpp) and available for any smooth objective
/// f(x) -> (value, gradient).
///
/// Line search: strong Wolfe conditions (c1 = 1e-4, c2 = 0.9), bracketing by doubling, then zoom
/// with safeguarded cubic interpolation. First step length min(1, 1 / ||g||_2) along -g, then 1
/// along the L-BFGS direction. A curvature pair (s, y) enters the memory only when
/// s.y > 1e-10 y.y.
///
/// Stopping rule, checked before every iteration (so also at the start):
///   converged   when ||g||_inf <= tolerance * max(1, ||g_0||_inf) (tolerance default 1e-6);
///   not converged after max_iterations accepted steps, or when the line search finds no point
///               satisfying the Armijo condition even after restarting along -g with the memory
///               cleared ("line search failed": no more decrease at double precision).
/// Every operation has a fixed order: the same inputs give the same bits.

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/config.hpp"

namespace invar::analysis {
// --------------------------------------------------------------------------------------------
// L-BFGS
// --------------------------------------------------------------------------------------------

/// Options of minimize_lbfgs(); checked by validate().
struct LbfgsOptions {
  index_t memory = 10;           ///< curvature pairs kept (>= 1)
  double tolerance = 1e-6;       ///< stop when ||g||_inf <= tolerance * max(1, ||g_0||_inf)
  index_t max_iterations = 1000; ///< accepted steps at most
  index_t max_line_search = 40;  ///< objective evaluations per line search at most
  /// Sets #memory.
  LbfgsOptions& with_memory(index_t m) { memory = m; return *this; }
  /// Sets #tolerance.
  LbfgsOptions& with_tolerance(double t) { tolerance = t; return *this; }
  /// Sets #max_iterations.
  LbfgsOptions& with_max_iterations(index_t i) { max_iterations = i; return *this; }
  /// Throws invar::Error, prefixed with `who`, naming the first option out of range
  /// (memory >= 1, finite tolerance >= 0, max_iterations >= 0, max_line_search >= 2).
  void validate(const char* who) const {
    check(memory >= 1, who, ": memory must be >= 1, got ", memory);
    check(std::isfinite(tolerance) && tolerance >= 0, who, ": tolerance must be finite and >= 0, got ", tolerance);
    check(max_iterations >= 0, who, ": max_iterations must be >= 0, got ", max_iterations);
    check(max_line_search >= 2, who, ": max_line_search must be >= 2, got ", max_line_search);
  }
};

/// What a minimisation did.
struct LbfgsReport {
  index_t iterations = 0;            ///< accepted steps
  index_t evaluations = 0;           ///< objective + gradient evaluations, line searches included
  bool converged = false;            ///< the gradient test of the stopping rule held
  double objective = 0;              ///< at the returned point
  double gradient_norm = 0;          ///< ||g||_inf at the returned point
  double initial_gradient_norm = 0;  ///< ||g_0||_inf
  std::string stop_reason;           ///< "gradient tolerance", "max_iterations" or "line search failed"
};

/// Minimises f from x (updated in place). `f(x, g)` returns f(x) and writes the gradient into g
/// (sized like x). Deterministic: the same f and x give the same iterates. The stopping rule is
/// that of the file comment. Throws invar::Error when f or g is not finite at the starting point.
template <class F>
LbfgsReport minimize_lbfgs(F&& f, Eigen::VectorXd& x, const LbfgsOptions& o = {}) {
  using Eigen::VectorXd;
  o.validate("minimize_lbfgs");
  const Eigen::Index n = x.size();
  LbfgsReport r;
  VectorXd g(n);
  double fx = f(x, g);
  ++r.evaluations;
  check(std::isfinite(fx) && g.allFinite(), "minimize_lbfgs: the objective or its gradient is not finite at the "
        "starting point (f = ", fx, ")");
  r.initial_gradient_norm = n ? g.lpNorm<Eigen::Infinity>() : 0.0;
  const double threshold = o.tolerance * std::max(1.0, r.initial_gradient_norm);

  const auto m = static_cast<std::size_t>(o.memory);
  std::vector<VectorXd> s_hist, y_hist;
  std::vector<double> rho_hist;
  std::size_t newest = 0, stored = 0;  // ring buffer
  std::vector<double> alpha_tmp(m);

  VectorXd d(n), xt(n), gt(n), x_best(n), g_best(n);
  constexpr double c1 = 1e-4, c2 = 0.9;

  auto clear_memory = [&] { stored = 0; };
  auto direction = [&] {
    d = -g;
    if (stored == 0) return;
    // Two-loop recursion, newest to oldest, then oldest to newest.
    for (std::size_t k = 0; k < stored; ++k) {
      const std::size_t i = (newest + m - k) % m;
      alpha_tmp[k] = rho_hist[i] * s_hist[i].dot(d);
      d -= alpha_tmp[k] * y_hist[i];
    }
    d *= s_hist[newest].dot(y_hist[newest]) / y_hist[newest].squaredNorm();
    for (std::size_t k = stored; k-- > 0;) {
      const std::size_t i = (newest + m - k) % m;
      const double beta = rho_hist[i] * y_hist[i].dot(d);
      d += (alpha_tmp[k] - beta) * s_hist[i];
    }
  };

  struct Point {
    double alpha, f, slope;
  };
  // One strong-Wolfe line search along d from x; on success x, g, fx hold the new point.
  auto line_search = [&](double alpha0) -> bool {
    const double slope0 = g.dot(d);
    double best_f = fx;
    bool have_best = false;
    index_t evals = 0;
    auto eval = [&](double a) {
      xt = x + a * d;
      const double ft = f(xt, gt);
      ++r.evaluations;
      ++evals;
      const bool finite = std::isfinite(ft) && gt.allFinite();
      const Point p{a, finite ? ft : std::numeric_limits<double>::infinity(),
                    finite ? gt.dot(d) : std::numeric_limits<double>::quiet_NaN()};
      if (finite && p.f <= fx + c1 * a * slope0 && p.f < best_f) {
        best_f = p.f;
        x_best = xt;
        g_best = gt;
        have_best = true;
      }
      return p;
    };
    auto accept_current = [&](const Point& p) {
      x.swap(xt);
      g.swap(gt);
      fx = p.f;
    };
    auto armijo_fails = [&](const Point& p) { return !std::isfinite(p.f) || p.f > fx + c1 * p.alpha * slope0; };
    auto curvature_holds = [&](const Point& p) { return std::abs(p.slope) <= -c2 * slope0; };

    Point prev{0.0, fx, slope0}, lo{}, hi{};
    double a = alpha0;
    bool bracketed = false;
    while (evals < o.max_line_search) {
      const Point p = eval(a);
      if (armijo_fails(p) || (prev.alpha > 0 && p.f >= prev.f)) {
        lo = prev;
        hi = p;
        bracketed = true;
        break;
      }
      if (curvature_holds(p)) {
        accept_current(p);
        return true;
      }
      if (p.slope >= 0) {
        lo = p;
        hi = prev;
        bracketed = true;
        break;
      }
      prev = p;
      a *= 2;
    }
    while (bracketed && evals < o.max_line_search) {
      const double lo_a = std::min(lo.alpha, hi.alpha), hi_a = std::max(lo.alpha, hi.alpha);
      const double width = hi_a - lo_a;
      if (width <= std::numeric_limits<double>::epsilon() * std::max(1.0, hi_a)) break;
      // Minimiser of the cubic through (lo, hi) (Nocedal & Wright eq. 3.59), kept inside the
      // middle 80 % of the interval; bisection when the cubic is unusable.
      double t = 0.5 * (lo.alpha + hi.alpha);
      if (std::isfinite(hi.f) && std::isfinite(hi.slope)) {
        const double d1 = lo.slope + hi.slope - 3 * (lo.f - hi.f) / (lo.alpha - hi.alpha);
        const double disc = d1 * d1 - lo.slope * hi.slope;
        if (disc >= 0) {
          const double d2 = (hi.alpha > lo.alpha ? 1.0 : -1.0) * std::sqrt(disc);
          const double c = hi.alpha - (hi.alpha - lo.alpha) * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2 * d2);
          if (std::isfinite(c)) t = c;
        }
      }
      t = std::clamp(t, lo_a + 0.1 * width, hi_a - 0.1 * width);
      const Point p = eval(t);
      if (armijo_fails(p) || p.f >= lo.f) {
        hi = p;
      } else {
        if (curvature_holds(p)) {
          accept_current(p);
          return true;
        }
        if (p.slope * (hi.alpha - lo.alpha) >= 0) hi = lo;
        lo = p;
      }
    }
    if (!have_best) return false;
    x.swap(x_best);
    g.swap(g_best);
    fx = best_f;
    return true;
  };

  s_hist.assign(m, VectorXd());
  y_hist.assign(m, VectorXd());
  rho_hist.assign(m, 0.0);
  for (;;) {
    r.gradient_norm = n ? g.lpNorm<Eigen::Infinity>() : 0.0;
    if (r.gradient_norm <= threshold) {
      r.converged = true;
      r.stop_reason = "gradient tolerance";
      break;
    }
    if (r.iterations >= o.max_iterations) {
      r.stop_reason = "max_iterations";
      break;
    }
    const VectorXd x_old = x, g_old = g;
    direction();
    if (!(g.dot(d) < 0)) {  // not a descent direction (cannot happen with s.y > 0; kept as a guard)
      clear_memory();
      direction();
    }
    bool moved = line_search(stored == 0 ? std::min(1.0, 1.0 / g.norm()) : 1.0);
    if (!moved && stored > 0) {
      clear_memory();
      direction();
      moved = line_search(std::min(1.0, 1.0 / g.norm()));
    }
    if (!moved) {
      r.stop_reason = "line search failed";
      break;
    }
    ++r.iterations;
    VectorXd s = x - x_old, y = g - g_old;
    const double sy = s.dot(y), yy = y.squaredNorm();
    if (yy > 0 && sy > 1e-10 * yy) {
      newest = stored == 0 ? 0 : (newest + 1) % m;
      s_hist[newest] = std::move(s);
      y_hist[newest] = std::move(y);
      rho_hist[newest] = 1.0 / sy;
      stored = std::min(stored + 1, m);
    }
  }
  r.objective = fx;
  return r;
}

}  // namespace invar::analysis

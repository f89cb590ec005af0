#include <doctest/doctest.h>

#include <numeric>

#include "invar/cpu.hpp"
#include "invar/core/tensor.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
using invar::TensorView;

TEST_CASE_TEMPLATE("Tensor: zero-filled, row-major, aligned", T, float, double) {
  Tensor<T> t(Shape{3, 4, 5});
  CHECK(t.numel() == 60);
  CHECK(t.rank() == 3);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (index_t i = 0; i < t.numel(); ++i) CHECK(t[i] == T(0));
  t(1, 2, 3) = T(7);
  CHECK(t[(1 * 4 + 2) * 5 + 3] == T(7));  // row-major: last axis contiguous
  CHECK(t.at(1, 2, 3) == T(7));
}

TEST_CASE("Tensor: checked access names the axis and the shape") {
  Tensor<float> t(Shape{2, 3});
  CHECK_THROWS_WITH_AS(t.at(0, 3), doctest::Contains("index 3 out of range on axis 1 of shape [2, 3]"), invar::Error);
  CHECK_THROWS_WITH_AS(t.at(0), doctest::Contains("1 indices for a tensor of rank 2"), invar::Error);
  CHECK_THROWS_AS(t.at(-1, 0), invar::Error);
}

TEST_CASE("Tensor: copies are deep, moves are free") {
  auto a = invar::test::random_tensor<float>(Shape{4, 3}, 1);
  Tensor<float> b = a;
  CHECK(b.data() != a.data());
  CHECK(b.shape() == a.shape());
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  b[0] = 42.f;
  CHECK(a[0] != 42.f);

  const float* p = a.data();
  Tensor<float> c = std::move(a);
  CHECK(c.data() == p);
  CHECK(a.data() == nullptr);  // NOLINT: moved-from state is specified: empty
  CHECK(a.numel() == 0);

  Tensor<float> d;
  d = c;
  CHECK(d.data() != c.data());
  CHECK(std::equal(c.begin(), c.end(), d.begin()));
  d = std::move(c);
  CHECK(d.data() == p);
}

TEST_CASE("Tensor: empty shapes allocate nothing and are valid") {
  Tensor<double> t(Shape{0, 16});
  CHECK(t.empty());
  CHECK(t.data() == nullptr);
  Tensor<double> u = t;
  CHECK(u.empty());
  CHECK(t.view().slice_rows(0, 0).numel() == 0);
}

TEST_CASE("Tensor: copy_of a user's buffer, reshape keeps the data") {
  std::vector<float> buf(12);
  std::iota(buf.begin(), buf.end(), 0.f);
  auto t = Tensor<float>::copy_of(invar::view(buf.data(), Shape{3, 4}));
  CHECK(t.data() != buf.data());
  CHECK(t(2, 1) == 9.f);
  t.reshape(Shape{2, 6});
  CHECK(t(1, 3) == 9.f);
  CHECK_THROWS_WITH_AS(t.reshape(Shape{5, 2}), doctest::Contains("cannot view [2, 6] (12 elements) as [5, 2]"),
                       invar::Error);
}

TEST_CASE("TensorView: views share memory, const views are read-only") {
  std::vector<double> buf(24, 1.0);
  TensorView<double> v(buf.data(), Shape{2, 3, 4});
  CHECK(v.data() == buf.data());
  v(1, 0, 2) = 5.0;
  CHECK(buf[12 + 2] == 5.0);

  TensorView<const double> cv = v;  // mutable -> const converts implicitly
  CHECK(cv.data() == buf.data());
  static_assert(std::is_same_v<decltype(cv(0, 0, 0)), const double&>);
  static_assert(!std::is_convertible_v<TensorView<const double>, TensorView<double>>);

  auto m = v.as_matrix();
  CHECK(m.shape() == Shape{2, 12});
  CHECK(m(1, 2) == 5.0);
  CHECK(v.rows() == 2);
  CHECK(v.row_size() == 12);

  auto tail = v.slice_rows(1, 2);
  CHECK(tail.shape() == Shape{1, 3, 4});
  CHECK(tail.data() == buf.data() + 12);
  CHECK_THROWS_WITH_AS((void)v.slice_rows(1, 3), doctest::Contains("out of bounds"), invar::Error);
  CHECK_THROWS_AS(TensorView<double>(nullptr, Shape{2}), invar::Error);
  CHECK_NOTHROW(TensorView<double>(nullptr, Shape{0}));
}

TEST_CASE("to_view accepts tensors and views alike") {
  Tensor<float> t(Shape{2, 2});
  const Tensor<float>& ct = t;
  static_assert(std::is_same_v<decltype(invar::to_view(t)), TensorView<float>>);
  static_assert(std::is_same_v<decltype(invar::to_view(ct)), TensorView<const float>>);
  CHECK(invar::to_view(t).data() == t.data());
  CHECK(invar::to_view(t.view()).data() == t.data());
}

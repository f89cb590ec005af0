#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/core/eigen.hpp"
#include "support/random.hpp"

using invar::Shape;
using invar::Tensor;

TEST_CASE_TEMPLATE("as_matrix / as_vector map the same memory, row-major", T, float, double) {
  auto t = invar::test::random_tensor<T>(Shape{3, 2, 2}, 7);
  auto m = invar::as_matrix(t);
  CHECK(m.data() == t.data());
  CHECK(m.rows() == 3);
  CHECK(m.cols() == 4);
  CHECK(m(2, 3) == t(2, 1, 1));
  m(0, 1) = T(9);  // writes through
  CHECK(t(0, 0, 1) == T(9));

  const Tensor<T>& ct = t;
  auto cm = invar::as_matrix(ct);
  static_assert(std::is_const_v<std::remove_reference_t<decltype(*cm.data())>>);
  CHECK(cm.data() == t.data());

  auto v = invar::as_vector(t);
  CHECK(v.size() == 12);
  CHECK(v.data() == t.data());
}

TEST_CASE("view_of: Eigen row-major matrices, vectors and maps without a copy") {
  invar::RowMatrix<float> m(3, 5);
  m.setRandom();
  auto v = invar::view_of(m);
  CHECK(v.data() == m.data());
  CHECK(v.shape() == Shape{3, 5});
  CHECK(v(2, 4) == m(2, 4));

  const invar::RowMatrix<float>& cm = m;
  auto cv = invar::view_of(cm);
  static_assert(std::is_const_v<typename decltype(cv)::element_type>);
  CHECK(cv.data() == m.data());

  Eigen::VectorXd vec = Eigen::VectorXd::LinSpaced(6, 0, 5);
  auto vv = invar::view_of(vec);
  CHECK(vv.shape() == Shape{6});
  CHECK(vv.data() == vec.data());

  std::vector<double> buf(8, 0.0);
  auto mv = invar::view_of(Eigen::Map<invar::RowMatrix<double>>(buf.data(), 2, 4));
  CHECK(mv.data() == buf.data());
  CHECK(mv.shape() == Shape{2, 4});
  mv(1, 1) = 3.0;
  CHECK(buf[5] == 3.0);
}

TEST_CASE("view_of_transposed: a column-major matrix is the row-major matrix of its transpose") {
  Eigen::MatrixXf m(2, 3);  // column-major, Eigen's default
  m << 1, 2, 3, 4, 5, 6;
  auto v = invar::view_of_transposed(m);
  CHECK(v.data() == m.data());
  CHECK(v.shape() == Shape{3, 2});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(v(j, i) == m(i, j));
}

TEST_CASE("view_of: strided maps are rejected with a message, not viewed wrongly") {
  std::vector<float> buf(20, 0.f);
  using Strided = Eigen::Map<invar::RowMatrix<float>, Eigen::Unaligned, Eigen::OuterStride<>>;
  Strided block(buf.data(), 3, 4, Eigen::OuterStride<>(6));
  CHECK_THROWS_WITH_AS(invar::view_of(block), doctest::Contains("outer stride 6"), invar::Error);
}

TEST_CASE("round trip: a user's Eigen matrix -> view -> Eigen map is the same memory") {
  invar::RowMatrix<double> m = invar::RowMatrix<double>::Random(4, 7);
  auto back = invar::as_matrix(invar::view_of(m));
  CHECK(back.data() == m.data());
  CHECK((back - m).cwiseAbs().maxCoeff() == 0.0);
}

// Learning-rate schedules against their formulas, written out here, at many epochs including
// the boundaries (a milestone exactly, the end of a warm-up, the end of a cosine).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/optim/schedule.hpp"

using invar::optim::ConstantLr;
using invar::optim::CosineLr;
using invar::optim::LinearWarmup;
using invar::optim::LrSchedule;
using invar::optim::StepLr;

namespace {
doctest::Approx near(double expected) { return doctest::Approx(expected).epsilon(1e-14); }
}  // namespace

TEST_SUITE("optim") {

TEST_CASE("ConstantLr is the same at every epoch") {
  const ConstantLr s(0.05);
  for (double e : {0.0, 0.5, 1.0, 99.0, 1e6}) CHECK(s.at(e) == 0.05);
  CHECK(s.describe() == "constant(lr=0.05)");
}

TEST_CASE("StepLr: the paper's schedule, 0.01 times 0.1 at epochs 200, 250 and 300") {
  const StepLr s(0.01, {200, 250, 300}, 0.1);
  // Below the first milestone, base; from a milestone on (that epoch included), one more factor.
  CHECK(s.at(0) == 0.01);
  CHECK(s.at(199) == 0.01);
  CHECK(s.at(199.999) == 0.01);
  CHECK(s.at(200) == 0.01 * 0.1);  // the milestone itself is already decayed (as MultiStepLR)
  CHECK(s.at(200.5) == 0.01 * 0.1);
  CHECK(s.at(249.99) == 0.01 * 0.1);
  CHECK(s.at(250) == 0.01 * 0.1 * 0.1);
  CHECK(s.at(300) == 0.01 * 0.1 * 0.1 * 0.1);
  CHECK(s.at(350) == 0.01 * 0.1 * 0.1 * 0.1);
  CHECK(s.at(300) == near(1e-5));
  // Every epoch 0..400 against the count of milestones passed.
  for (int e = 0; e <= 400; ++e) {
    const int passed = (e >= 200) + (e >= 250) + (e >= 300);
    REQUIRE(s.at(e) == near(0.01 * std::pow(0.1, passed)));
  }
  CHECK(s.describe() == "step(base=0.01, milestones=[200, 250, 300], factor=0.1)");
}

TEST_CASE("StepLr: the wide ResNet schedule, 0.1 times 0.2 at epochs 60, 120 and 160") {
  const StepLr s(0.1, {60, 120, 160}, 0.2);
  for (double e = 0; e <= 200; e += 0.25) {
    const int passed = (e >= 60) + (e >= 120) + (e >= 160);
    REQUIRE(s.at(e) == near(0.1 * std::pow(0.2, passed)));
  }
  CHECK(s.at(59.75) == 0.1);
  CHECK(s.at(60) == near(0.02));
  CHECK(s.at(120) == near(0.004));
  CHECK(s.at(160) == near(0.0008));
  CHECK(StepLr(0.1, {}).at(1000) == 0.1);  // no milestones: constant
}

TEST_CASE("CosineLr follows min + (base - min)(1 + cos(pi e / T)) / 2, then stays at min") {
  const CosineLr s(0.1, 100, 0.001);
  for (int i = 0; i <= 400; ++i) {
    const double e = i * 0.25;
    const double expected = 0.001 + (0.1 - 0.001) * (1 + std::cos(std::numbers::pi * e / 100)) / 2;
    REQUIRE(s.at(e) == near(expected));
  }
  CHECK(s.at(0) == near(0.1));
  CHECK(s.at(50) == near(0.0505));  // halfway: the mean of base and min
  CHECK(s.at(100) == 0.001);        // exactly min at the end
  CHECK(s.at(150) == 0.001);        // and after it
  const CosineLr to_zero(0.05, 10);
  CHECK(to_zero.at(10) == 0.0);
  CHECK(to_zero.at(5) == near(0.025));
}

TEST_CASE("LinearWarmup ramps start_factor -> 1 over the warm-up, then is the inner schedule exactly") {
  const LinearWarmup s(5, 0.1, StepLr(0.1, {60, 120, 160}, 0.2));
  for (double e = 0; e < 5; e += 0.125) REQUIRE(s.at(e) == near(0.1 * (0.1 + 0.9 * e / 5)));
  CHECK(s.at(0) == near(0.01));
  CHECK(s.at(2.5) == near(0.055));
  CHECK(s.at(5) == 0.1);  // the end of the warm-up is the inner rate, exactly
  CHECK(s.at(4.999) < 0.1);
  CHECK(s.at(60) == near(0.02));  // the inner schedule's milestones are absolute epochs
  // warm-up from 0 into a cosine: the inner schedule moves during the warm-up too
  const LinearWarmup w(2, 0.0, CosineLr(1.0, 10));
  for (double e : {0.0, 0.5, 1.0, 1.5}) {
    const double inner = (1 + std::cos(std::numbers::pi * e / 10)) / 2;
    CHECK(w.at(e) == near(inner * e / 2));
  }
  CHECK(w.at(2) == near((1 + std::cos(std::numbers::pi * 0.2)) / 2));
  CHECK(s.describe() ==
        "linear_warmup(warmup_epochs=5, start_factor=0.1, "
        "inner=step(base=0.1, milestones=[60, 120, 160], factor=0.2))");
}

TEST_CASE("LrSchedule holds any schedule, yours included") {
  struct Halving {  // a user schedule: only at(), no describe()
    double at(double epoch) const { return 1.0 / (1 << static_cast<int>(epoch)); }
  };
  std::vector<LrSchedule> all{ConstantLr(0.3), StepLr(0.01, {200, 250, 300}, 0.1), CosineLr(0.1, 100),
                              LinearWarmup(5, 0.1, CosineLr(0.1, 100)), Halving{}};
  CHECK(all[0].at(7) == 0.3);
  CHECK(all[1].at(250) == 0.01 * 0.1 * 0.1);
  CHECK(all[2].at(100) == 0.0);
  CHECK(all[3].at(0) == near(0.01));
  CHECK(all[4].at(3) == 0.125);
  CHECK(all[4].describe() == "custom");
  CHECK(all[2].describe() == "cosine(base=0.1, total_epochs=100, min_lr=0)");
  const LrSchedule copy = all[1];
  CHECK(copy.at(300) == all[1].at(300));
  REQUIRE(copy.target<StepLr>() != nullptr);
  CHECK(copy.target<StepLr>()->milestones().size() == 3);
  CHECK(copy.target<CosineLr>() == nullptr);
  const LrSchedule nested = LinearWarmup(1, 0.5, all[3]);  // a schedule of a schedule of a schedule
  CHECK(nested.at(0) == near(0.5 * 0.01));
}

TEST_CASE("schedules reject invalid arguments, naming them") {
  CHECK_THROWS_WITH_AS(StepLr(0.1, {60, 160, 120}, 0.2), doctest::Contains("milestones must be strictly increasing"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(StepLr(0.1, {60, 60}, 0.2), doctest::Contains("strictly increasing, got 60 after 60"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(StepLr(0.1, {-1, 60}), doctest::Contains("milestones[0] must be finite and >= 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(StepLr(0.1, {60}, 0), doctest::Contains("factor must be finite and > 0"), invar::Error);
  CHECK_THROWS_WITH_AS(StepLr(0, {60}), doctest::Contains("StepLr: base must be finite and > 0"), invar::Error);
  CHECK_THROWS_WITH_AS(ConstantLr(-0.1), doctest::Contains("ConstantLr: lr must be finite and > 0"), invar::Error);
  CHECK_THROWS_WITH_AS(CosineLr(0.1, 0), doctest::Contains("total_epochs must be finite and > 0"), invar::Error);
  CHECK_THROWS_WITH_AS(CosineLr(0.1, -5), doctest::Contains("total_epochs"), invar::Error);
  CHECK_THROWS_WITH_AS(CosineLr(0.1, 10, 0.2), doctest::Contains("min_lr must be in [0, base = 0.1]"), invar::Error);
  CHECK_THROWS_WITH_AS(LinearWarmup(0, 0.1, ConstantLr(0.1)), doctest::Contains("warmup_epochs must be finite and > 0"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(LinearWarmup(5, 1.5, ConstantLr(0.1)), doctest::Contains("start_factor must be in [0, 1]"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(static_cast<void>(StepLr(0.1, {60}).at(-1)),
                       doctest::Contains("epoch must be finite and >= 0, got -1"), invar::Error);
  CHECK_THROWS_WITH_AS(static_cast<void>(CosineLr(0.1, 10).at(std::nan(""))),
                       doctest::Contains("CosineLr::at: epoch"), invar::Error);
}

}  // TEST_SUITE

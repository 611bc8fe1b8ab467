#include "core/nn/activation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "gtest/gtest.h"

namespace strata {
namespace {

MatrixT<double> Apply(v1::Activation a, double x) {
  MatrixT<double> m(1, 1);
  m(0, 0) = x;
  ApplyActivation<double>(a, 0.1, &m);
  return m;
}

TEST(ActivationTest, ValuesMatchDefinitions) {
  EXPECT_EQ(Apply(v1::RELU, -2)(0, 0), 0);
  EXPECT_EQ(Apply(v1::RELU, 3)(0, 0), 3);
  EXPECT_DOUBLE_EQ(Apply(v1::LEAKY_RELU, -2)(0, 0), -0.2);
  EXPECT_DOUBLE_EQ(Apply(v1::ELU, -1)(0, 0), std::exp(-1.0) - 1);
  EXPECT_NEAR(Apply(v1::SELU, 1)(0, 0), 1.0507009873554805, 1e-15);
  EXPECT_NEAR(Apply(v1::SELU, -1)(0, 0),
              1.0507009873554805 * 1.6732632423543772 * (std::exp(-1.0) - 1), 1e-15);
  EXPECT_DOUBLE_EQ(Apply(v1::SIGMOID, 0)(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(Apply(v1::TANH, 0.5)(0, 0), std::tanh(0.5));
  EXPECT_EQ(Apply(v1::LINEAR, -7)(0, 0), -7);
  // Saturation never produces NaN.
  EXPECT_EQ(Apply(v1::SIGMOID, -1000)(0, 0), 0);
  EXPECT_EQ(Apply(v1::SIGMOID, 1000)(0, 0), 1);
}

TEST(ActivationTest, DerivativeFromOutputMatchesFiniteDifference) {
  for (v1::Activation a :
       {v1::RELU, v1::LEAKY_RELU, v1::ELU, v1::SELU, v1::SIGMOID, v1::TANH, v1::LINEAR}) {
    for (double x : {-1.3, -0.2, 0.4, 2.1}) {
      const double h = 1e-6;
      const double fd = (Apply(a, x + h)(0, 0) - Apply(a, x - h)(0, 0)) / (2 * h);
      MatrixT<double> grad = MatrixT<double>::Ones(1, 1);
      MultiplyByDerivative<double>(a, 0.1, Apply(a, x), &grad);
      EXPECT_NEAR(grad(0, 0), fd, 1e-6) << ActivationName(a) << " at " << x;
    }
  }
}

TEST(ActivationTest, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(*ParseActivation("leaky_relu"), v1::LEAKY_RELU);
  EXPECT_EQ(*ParseActivation("SELU"), v1::SELU);
  const auto bad = ParseActivation("swish");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("swish"), std::string::npos);
  EXPECT_FALSE(ParseActivation("activation_unspecified").ok());
}

// A float value's activation is the same bits wherever it sits: alone, or
// at any position of a matrix of any size (a whole vector packet, the
// partial one at the end). Eigen's array functions computed values past
// the last whole packet with a scalar routine of different rounding, so a
// code changed with its row's place in a batch (issue 32).
TEST(ActivationTest, AFloatValueGetsTheSameBitsAtAnyPosition) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (const v1::Activation a :
       {v1::RELU, v1::LEAKY_RELU, v1::ELU, v1::SELU, v1::SIGMOID, v1::TANH, v1::LINEAR}) {
    for (const int cols : {1, 3, 7, 8, 9, 16, 17, 31, 33}) {
      MatrixT<float> m(5, cols);
      for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
      MatrixT<float> all = m;
      ApplyActivation<float>(a, 0.1f, &all);
      for (Eigen::Index i = 0; i < m.size(); ++i) {
        MatrixT<float> alone(1, 1);
        alone(0, 0) = m.data()[i];
        ApplyActivation<float>(a, 0.1f, &alone);
        ASSERT_EQ(std::memcmp(&alone(0, 0), all.data() + i, sizeof(float)), 0)
            << ActivationName(a) << " at " << i << " of " << m.size() << ": " << alone(0, 0)
            << " vs " << all.data()[i];
      }
    }
  }
}

// The float path agrees with the double one to float's accuracy (the
// vector routines are within a few ulps of the true function).
TEST(ActivationTest, FloatValuesAgreeWithDouble) {
  for (const v1::Activation a : {v1::ELU, v1::SELU, v1::SIGMOID, v1::TANH}) {
    for (double x = -9; x <= 9; x += 0.37) {
      MatrixT<float> f(1, 1);
      f(0, 0) = static_cast<float>(x);
      ApplyActivation<float>(a, 0.1f, &f);
      const double expected = Apply(a, static_cast<float>(x))(0, 0);
      EXPECT_NEAR(f(0, 0), expected, 1e-6 * std::max(1.0, std::abs(expected)))
          << ActivationName(a) << "(" << x << ")";
    }
  }
}

}  // namespace
}  // namespace strata

#include "core/activation.h"

#include <cmath>

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

}  // namespace
}  // namespace strata

#include "core/nn/optimizer.h"

#include <cmath>

#include "gtest/gtest.h"

namespace strata {
namespace {

v1::OptimizerConfig Config(v1::OptimizerConfig::Kind kind, float lr) {
  v1::OptimizerConfig c;
  c.set_kind(kind);
  c.set_learning_rate(lr);
  c.set_momentum(0.9f);
  c.set_beta1(0.9f);
  c.set_beta2(0.999f);
  c.set_rho(0.99f);
  c.set_epsilon(1e-8f);
  return c;
}

// One scalar parameter p with gradient g, stepped once or twice.
struct Scalar {
  float p, g;
  std::vector<ParameterBlock<float>> P() { return {{&p, 1, true}}; }
  std::vector<ParameterBlock<float>> G() { return {{&g, 1, true}}; }
};

TEST(OptimizerTest, AdamFirstStepMovesByLearningRate) {
  auto opt = Optimizer::Create(Config(v1::OptimizerConfig::ADAM, 0.01f), 0);
  ASSERT_TRUE(opt.ok());
  Scalar s{1.0f, 123.0f};
  (*opt)->Step(s.P(), s.G());
  // Bias-corrected m/sqrt(v) is sign(g) on the first step.
  EXPECT_NEAR(s.p, 0.99f, 1e-6f);
}

TEST(OptimizerTest, SgdMomentumFollowsPyTorch) {
  auto opt = Optimizer::Create(Config(v1::OptimizerConfig::SGD, 0.1f), 0);
  Scalar s{1.0f, 1.0f};
  (*opt)->Step(s.P(), s.G());  // buf = 1
  EXPECT_NEAR(s.p, 0.9f, 1e-6f);
  s.g = 1.0f;
  (*opt)->Step(s.P(), s.G());  // buf = 0.9 + 1
  EXPECT_NEAR(s.p, 0.9f - 0.19f, 1e-6f);
}

TEST(OptimizerTest, RmspropFollowsPyTorch) {
  auto opt = Optimizer::Create(Config(v1::OptimizerConfig::RMSPROP, 0.01f), 0);
  Scalar s{0.0f, 2.0f};
  (*opt)->Step(s.P(), s.G());  // v = 0.01 * 4
  EXPECT_NEAR(s.p, -0.01f * 2.0f / std::sqrt(0.04f), 1e-6f);
}

TEST(OptimizerTest, WeightDecayAppliesToWeightsOnly) {
  auto opt = Optimizer::Create(Config(v1::OptimizerConfig::SGD, 0.1f), 0.5f);
  float w = 2.0f, b = 2.0f, gw = 0.0f, gb = 0.0f;
  (*opt)->Step({{&w, 1, true}, {&b, 1, false}}, {{&gw, 1, true}, {&gb, 1, false}});
  EXPECT_NEAR(w, 2.0f - 0.1f * 0.5f * 2.0f, 1e-6f);
  EXPECT_EQ(b, 2.0f);
}

TEST(OptimizerTest, LearningRateCanBeChanged) {
  auto opt = Optimizer::Create(Config(v1::OptimizerConfig::SGD, 0.1f), 0);
  (*opt)->set_learning_rate(0.05f);
  Scalar s{1.0f, 1.0f};
  (*opt)->Step(s.P(), s.G());
  EXPECT_NEAR(s.p, 0.95f, 1e-6f);
}

TEST(OptimizerTest, ClipGradientNormRescalesGlobally) {
  float a[2] = {3.0f, 0.0f}, b[1] = {4.0f};
  std::vector<ParameterBlock<float>> g = {{a, 2, true}, {b, 1, false}};
  EXPECT_NEAR(ClipGradientNorm(1.0, g), 5.0, 1e-6);
  EXPECT_NEAR(a[0], 0.6f, 1e-5f);
  EXPECT_NEAR(b[0], 0.8f, 1e-5f);
  // Below the limit, or with clipping off, nothing changes.
  EXPECT_NEAR(ClipGradientNorm(10.0, g), 1.0, 1e-5);
  EXPECT_NEAR(a[0], 0.6f, 1e-5f);
  ClipGradientNorm(0.0, g);
  EXPECT_NEAR(b[0], 0.8f, 1e-5f);
}

TEST(OptimizerTest, RejectsBadConfigs) {
  EXPECT_FALSE(Optimizer::Create(Config(v1::OptimizerConfig::ADAM, 0.0f), 0).ok());
  EXPECT_FALSE(Optimizer::Create(Config(v1::OptimizerConfig::KIND_UNSPECIFIED, 0.1f), 0).ok());
}

}  // namespace
}  // namespace strata

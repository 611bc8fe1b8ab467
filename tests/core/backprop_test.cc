// Backprop against central finite differences, in double precision, for every
// activation, both losses, tied and untied weights and the sparsity penalty.
#include "core/backprop.h"

#include <cmath>
#include <string>
#include <tuple>

#include "core/activation.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using testing::GaussianMatrix;
using testing::UniformMatrix;

struct GradCase {
  v1::Activation hidden;
  v1::Loss loss;
  bool tied;
  bool sparsity;
};

std::string Describe(const GradCase& c) {
  return ActivationName(c.hidden) + (c.loss == v1::BCE ? "_bce" : "_mse") +
         (c.tied ? "_tied" : "_untied") + (c.sparsity ? "_sparse" : "");
}
std::string CaseName(const ::testing::TestParamInfo<GradCase>& info) {
  return Describe(info.param);
}
void PrintTo(const GradCase& c, std::ostream* os) { *os << Describe(c); }

// Relative error ||a - b|| / (||a|| + ||b||) over all parameters.
double RelativeError(const ParametersT<double>& a, const ParametersT<double>& b) {
  double diff = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.weights.size(); ++i) {
    diff += (a.weights[i] - b.weights[i]).squaredNorm();
    na += a.weights[i].squaredNorm();
    nb += b.weights[i].squaredNorm();
  }
  for (size_t i = 0; i < a.biases.size(); ++i) {
    diff += (a.biases[i] - b.biases[i]).squaredNorm();
    na += a.biases[i].squaredNorm();
    nb += b.biases[i].squaredNorm();
  }
  return std::sqrt(diff) / (std::sqrt(na) + std::sqrt(nb) + 1e-300);
}

class GradCheckTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradCheckTest, GradMatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  v1::Architecture arch;
  arch.set_input_dim(5);
  arch.add_encoder_widths(4);
  arch.add_encoder_widths(3);
  // The sparsity penalty needs sigmoid encoder layers to act on.
  const v1::Activation hidden = c.sparsity ? v1::SIGMOID : c.hidden;
  arch.add_encoder_activations(hidden);
  arch.add_encoder_activations(c.sparsity ? v1::SIGMOID : hidden);
  arch.set_output_activation(c.loss == v1::BCE ? v1::SIGMOID : v1::LINEAR);
  arch.set_tied_weights(c.tied);
  arch.set_leaky_relu_slope(0.1f);
  auto net = StackedAutoencoderT<double>::Create(arch, 11);
  ASSERT_TRUE(net.ok()) << net.status();
  // Non-zero biases so that every bias gradient is exercised off symmetry.
  for (auto& b : net->mutable_parameters()->biases) {
    b = GaussianMatrix<double>(1, static_cast<int>(b.cols()), 5, 0.1);
  }

  // Inputs differ from targets, as in denoising.
  const MatrixT<double> input = UniformMatrix<double>(7, 5, 1, 0.05, 0.95);
  const MatrixT<double> target = UniformMatrix<double>(7, 5, 2, 0.05, 0.95);
  ObjectiveOptions options;
  options.loss = c.loss;
  if (c.sparsity) {
    options.sparsity_weight = 0.7;
    options.sparsity_target = 0.2;
  }

  Backprop<double> backprop;
  ParametersT<double> analytic;
  const LossBreakdown loss = backprop.Compute(*net, input, target, options, nullptr, &analytic);
  ASSERT_TRUE(std::isfinite(loss.objective()));
  if (c.sparsity) {
    EXPECT_GT(loss.sparsity_penalty, 0);
  }

  ParametersT<double> numeric;
  numeric.ResizeLikeAndZero(net->parameters());
  ParametersT<double> scratch;
  const double h = 1e-6;
  auto objective = [&] {
    return backprop.Compute(*net, input, target, options, nullptr, &scratch).objective();
  };
  auto params = net->mutable_parameters()->Blocks();
  auto grads = numeric.Blocks();
  ASSERT_EQ(params.size(), grads.size());
  for (size_t b = 0; b < params.size(); ++b) {
    for (Eigen::Index i = 0; i < params[b].size; ++i) {
      double& p = params[b].data[i];
      const double saved = p;
      p = saved + h;
      const double up = objective();
      p = saved - h;
      const double down = objective();
      p = saved;
      grads[b].data[i] = (up - down) / (2 * h);
    }
  }
  EXPECT_LT(RelativeError(analytic, numeric), 1e-3);
  // Every parameter tensor receives some gradient.
  for (const auto& block : analytic.Blocks()) {
    EXPECT_GT(Eigen::Map<Eigen::ArrayXd>(block.data, block.size).abs().sum(), 0);
  }
}

std::vector<GradCase> AllCases() {
  std::vector<GradCase> cases;
  for (v1::Activation a :
       {v1::RELU, v1::LEAKY_RELU, v1::ELU, v1::SELU, v1::SIGMOID, v1::TANH, v1::LINEAR}) {
    for (v1::Loss loss : {v1::MSE, v1::BCE}) {
      for (bool tied : {false, true}) cases.push_back({a, loss, tied, false});
    }
  }
  for (v1::Loss loss : {v1::MSE, v1::BCE}) {
    for (bool tied : {false, true}) cases.push_back({v1::SIGMOID, loss, tied, true});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllActivationsLossesAndTying, GradCheckTest,
                         ::testing::ValuesIn(AllCases()), CaseName);

TEST(DataLossTest, MatchesDefinitions) {
  MatrixT<double> y(1, 2), t(1, 2);
  y << 0.25, 0.5;
  t << 0.0, 1.0;
  EXPECT_NEAR(DataLoss<double>(v1::MSE, y, t), (0.0625 + 0.25) / 2, 1e-12);
  EXPECT_NEAR(DataLoss<double>(v1::BCE, y, t), -(std::log(0.75) + std::log(0.5)) / 2, 1e-12);
  // Saturated outputs are clamped as PyTorch does, never infinite.
  y << 0.0, 1.0;
  t << 1.0, 0.0;
  EXPECT_NEAR(DataLoss<double>(v1::BCE, y, t), 100.0, 1e-9);
}

TEST(BackpropTest, DropoutMasksHiddenUnitsOnlyWhileTraining) {
  v1::Architecture arch;
  arch.set_input_dim(6);
  arch.add_encoder_widths(32);
  arch.add_encoder_widths(2);
  arch.add_encoder_activations(v1::RELU);
  arch.add_encoder_activations(v1::LINEAR);
  arch.set_output_activation(v1::LINEAR);
  auto net = StackedAutoencoder::Create(arch, 3);
  ASSERT_TRUE(net.ok());
  const Matrix x = GaussianMatrix(50, 6, 9);
  ObjectiveOptions options;
  options.dropout = 0.5;
  std::mt19937_64 rng(1);
  Backprop<float> backprop;
  Parameters g1, g2;
  const double l1 = backprop.Compute(*net, x, x, options, &rng, &g1).data_loss;
  const double l2 = backprop.Compute(*net, x, x, options, &rng, &g2).data_loss;
  // Different masks give different losses; inference is deterministic.
  EXPECT_NE(l1, l2);
  EXPECT_EQ(net->Reconstruct(x), net->Reconstruct(x));
}

}  // namespace
}  // namespace strata

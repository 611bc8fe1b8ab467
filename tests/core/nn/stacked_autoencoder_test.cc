#include "core/nn/stacked_autoencoder.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/nn/activation.h"
#include "core/train/train_config.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

v1::Architecture Arch(std::vector<int> widths, bool tied) {
  v1::Architecture arch;
  arch.set_input_dim(10);
  for (int w : widths) {
    arch.add_encoder_widths(w);
    arch.add_encoder_activations(v1::TANH);
  }
  arch.mutable_encoder_activations()->Set(static_cast<int>(widths.size()) - 1, v1::LINEAR);
  arch.set_output_activation(v1::SIGMOID);
  arch.set_tied_weights(tied);
  return arch;
}

TEST(StackedAutoencoderTest, LayersMirrorTheEncoder) {
  auto net = StackedAutoencoder::Create(Arch({8, 6, 3}, false), 1);
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ(net->depth(), 3);
  EXPECT_EQ(net->code_dim(), 3);
  const std::vector<std::pair<int, int>> shapes = {{10, 8}, {8, 6}, {6, 3},
                                                   {3, 6},  {6, 8}, {8, 10}};
  for (int l = 0; l < net->num_layers(); ++l) {
    EXPECT_EQ(net->layer_in(l), shapes[l].first) << l;
    EXPECT_EQ(net->layer_out(l), shapes[l].second) << l;
    EXPECT_EQ(net->parameters().weights[l].rows(), shapes[l].first);
  }
  // Decoder layers take the activation of the encoder layer whose width they
  // produce; the last one the output activation.
  EXPECT_EQ(net->layer_activation(2), v1::LINEAR);
  EXPECT_EQ(net->layer_activation(3), v1::TANH);
  EXPECT_EQ(net->layer_activation(4), v1::TANH);
  EXPECT_EQ(net->layer_activation(5), v1::SIGMOID);
}

TEST(StackedAutoencoderTest, EncodeEveryLayerAndReconstruct) {
  auto net = StackedAutoencoder::Create(Arch({8, 6, 3}, false), 1);
  ASSERT_TRUE(net.ok());
  const Matrix x = testing::GaussianMatrix(5, 10, 2);
  EXPECT_EQ(net->Encode(x, 1).cols(), 8);
  EXPECT_EQ(net->Encode(x, 2).cols(), 6);
  const Matrix code = net->Encode(x, 3);
  EXPECT_EQ(code.rows(), 5);
  EXPECT_EQ(code.cols(), 3);
  // h1 is tanh(x W1 + b1).
  Matrix h1 = x * net->parameters().weights[0];
  h1.rowwise() += net->parameters().biases[0];
  EXPECT_TRUE(net->Encode(x, 1).isApprox(Matrix(h1.array().tanh().matrix()), 1e-6f));
  const Matrix out = net->Reconstruct(x);
  EXPECT_EQ(out.rows(), 5);
  EXPECT_EQ(out.cols(), 10);
  EXPECT_TRUE((out.array() > 0).all() && (out.array() < 1).all());  // sigmoid output
}

// A batch answers each row as that row alone would, whatever the batch size:
// 97, 129 and 1281 rows once left their last row uncomputed on two threads.
// Two threads, whatever the machine has, so that the batch is split.
TEST(StackedAutoencoderTest, BatchRowsMatchSingleRows) {
  auto net = StackedAutoencoder::Create(Arch({8, 6, 3}, false), 1);
  ASSERT_TRUE(net.ok());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  for (const int rows : {96, 97, 129, 1281}) {
    const Matrix x = testing::GaussianMatrix(rows, 10, 4);
    const Matrix out = net->Reconstruct(x);
    for (const int r : {0, rows / 2, rows - 1}) {
      const Matrix alone = net->Reconstruct(Matrix(x.row(r)));
      EXPECT_TRUE(out.row(r).isApprox(alone.row(0), 1e-5f)) << "row " << r << " of " << rows;
    }
  }
  omp_set_num_threads(threads);
}

TEST(StackedAutoencoderTest, TiedDecoderUsesTransposedEncoderWeights) {
  auto net = StackedAutoencoder::Create(Arch({4, 2}, true), 3);
  ASSERT_TRUE(net.ok());
  const Parameters& p = net->parameters();
  EXPECT_EQ(p.weights[2].size(), 0);
  EXPECT_EQ(p.weights[3].size(), 0);
  EXPECT_EQ(p.biases[3].cols(), 10);
  const Matrix x = testing::GaussianMatrix(3, 10, 4);
  const Matrix code = net->Encode(x, 2);
  Matrix h = code * p.weights[1].transpose();
  h.rowwise() += p.biases[2];
  h = h.array().tanh().matrix();
  Matrix out = h * p.weights[0].transpose();
  out.rowwise() += p.biases[3];
  out = (1.0f / (1.0f + (-out.array()).exp())).matrix();
  EXPECT_TRUE(net->Reconstruct(x).isApprox(out, 1e-6f));
}

TEST(StackedAutoencoderTest, SameSeedSameWeights) {
  auto a = StackedAutoencoder::Create(Arch({8, 3}, false), 9);
  auto b = StackedAutoencoder::Create(Arch({8, 3}, false), 9);
  auto c = StackedAutoencoder::Create(Arch({8, 3}, false), 10);
  EXPECT_EQ(a->parameters().weights[0], b->parameters().weights[0]);
  EXPECT_NE(a->parameters().weights[0], c->parameters().weights[0]);
}

TEST(StackedAutoencoderTest, RejectsBadArchitectures) {
  v1::Architecture arch = Arch({8, 3}, false);
  arch.set_input_dim(0);
  EXPECT_FALSE(StackedAutoencoder::Create(arch, 1).ok());
  arch = Arch({8, 3}, false);
  arch.set_encoder_widths(1, 0);
  const auto s = StackedAutoencoder::Create(arch, 1).status();
  EXPECT_NE(s.message().find("encoder_widths[1]"), std::string::npos) << s;
  arch = Arch({8, 3}, false);
  arch.add_encoder_activations(v1::RELU);
  EXPECT_FALSE(StackedAutoencoder::Create(arch, 1).ok());
  arch = Arch({8, 3}, false);
  arch.set_output_activation(v1::ACTIVATION_UNSPECIFIED);
  EXPECT_FALSE(StackedAutoencoder::Create(arch, 1).ok());
}

// A model file's architecture meets the limits a training config does, so a
// file cannot ask for a network no config could.
TEST(StackedAutoencoderTest, ArchitecturesAreHeldToTheTrainingLimits) {
  v1::Architecture arch = Arch({kMaxLayerWidth, 3}, false);
  EXPECT_TRUE(ValidateArchitecture(arch).ok()) << ValidateArchitecture(arch);
  arch.set_encoder_widths(0, kMaxLayerWidth + 1);
  absl::Status s = ValidateArchitecture(arch);
  EXPECT_NE(s.message().find("encoder_widths[0]"), std::string::npos) << s;
  // Each width allowed, the weights too many: 2 x 65536 x 65536 x 2.
  arch = Arch({kMaxLayerWidth, kMaxLayerWidth}, false);
  arch.set_input_dim(kMaxLayerWidth);
  s = ValidateArchitecture(arch);
  EXPECT_NE(s.message().find("weights"), std::string::npos) << s;
  // And the input alone: kMaxParameters / 2 + 1 features into one unit.
  arch = Arch({1}, false);
  arch.set_input_dim(static_cast<int>(kMaxParameters / 2 + 1));
  EXPECT_FALSE(ValidateArchitecture(arch).ok());
  arch.set_tied_weights(true);
  EXPECT_TRUE(ValidateArchitecture(arch).ok());
  // Training takes leaky_relu_slope in [0, 1).
  arch = Arch({8, 3}, false);
  arch.set_leaky_relu_slope(1.5f);
  EXPECT_FALSE(ValidateArchitecture(arch).ok());
}

TEST(StackedAutoencoderTest, FromParametersChecksShapes) {
  auto net = StackedAutoencoder::Create(Arch({8, 3}, false), 1);
  Parameters p = net->parameters();
  EXPECT_TRUE(StackedAutoencoder::FromParameters(net->architecture(), p).ok());
  p.weights[1].resize(8, 4);
  const auto s = StackedAutoencoder::FromParameters(net->architecture(), p).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layer 1"), std::string::npos) << s;
}

// 10-8-8-3 with relu hidden layers, normalisation `bn`, skips `residual`,
// and every normalisation's parameters and running statistics away from
// their identity start.
StackedAutoencoder NormalisedNet(v1::BatchNorm bn, bool residual) {
  v1::Architecture arch = Arch({8, 8, 3}, false);
  arch.set_encoder_activations(0, v1::RELU);
  arch.set_encoder_activations(1, v1::RELU);
  arch.set_batch_norm(bn);
  arch.set_residual(residual);
  auto net = StackedAutoencoder::Create(arch, 3);
  EXPECT_TRUE(net.ok()) << net.status();
  Parameters* p = net->mutable_parameters();
  for (int l = 0; l < net->num_layers(); ++l) {
    if (!net->has_batch_norm(l)) continue;
    const int w = net->layer_out(l);
    p->bn_gamma[l] = testing::GaussianMatrix(1, w, 10 + l).array().abs() + 0.5f;
    p->bn_beta[l] = testing::GaussianMatrix(1, w, 20 + l);
    p->bn_mean[l] = testing::GaussianMatrix(1, w, 30 + l);
    p->bn_var[l] = testing::GaussianMatrix(1, w, 40 + l).array().square() + 0.1f;
  }
  return *std::move(net);
}

// Largest |a - b| over the largest |b|.
float RelativeDifference(const Matrix& a, const Matrix& b) {
  return (a - b).cwiseAbs().maxCoeff() / std::max(b.cwiseAbs().maxCoeff(), 1e-30f);
}

// Issue 17's fold test: the published (folded) network answers as the
// unfolded one does with its running statistics, at every layer.
TEST(StackedAutoencoderTest, FoldedNormalisationAnswersAsTheRunningStatistics) {
  const Matrix x = testing::GaussianMatrix(50, 10, 4);
  for (v1::BatchNorm bn : {v1::AFTER_ACTIVATION, v1::BEFORE_ACTIVATION}) {
    for (bool residual : {false, true}) {
      const StackedAutoencoder net = NormalisedNet(bn, residual);
      const StackedAutoencoder folded = net.Folded();
      SCOPED_TRACE(::testing::Message() << "bn " << bn << " residual " << residual);
      EXPECT_EQ(folded.architecture().batch_norm(), v1::BATCH_NORM_NONE);
      for (int l = 0; l < net.num_layers(); ++l) {
        EXPECT_EQ(folded.parameters().bn_gamma[l].size(), 0) << l;
        // After the activation: a scale and shift; before: none left.
        EXPECT_EQ(folded.parameters().out_scale[l].size(),
                  bn == v1::AFTER_ACTIVATION && net.has_batch_norm(l) ? 8 : 0)
            << l;
      }
      for (int layer = 1; layer <= net.depth(); ++layer) {
        EXPECT_LT(RelativeDifference(folded.Encode(x, layer), net.Encode(x, layer)), 1e-5f)
            << "layer " << layer;
      }
      EXPECT_LT(RelativeDifference(folded.Reconstruct(x), net.Reconstruct(x)), 1e-5f);
    }
  }
  // Without normalisation, folding changes nothing.
  const auto plain = StackedAutoencoder::Create(Arch({8, 3}, false), 1);
  EXPECT_EQ(plain->Folded().Reconstruct(x), plain->Reconstruct(x));
}

// Encode returns a layer's features after activation, normalisation (with
// the running statistics) and skip, worked out by hand for h1 and h2.
TEST(StackedAutoencoderTest, EncodeIsAfterActivationNormalisationAndSkip) {
  const StackedAutoencoder net = NormalisedNet(v1::AFTER_ACTIVATION, true);
  ASSERT_FALSE(net.has_skip(0));  // 10 -> 8: no skip
  ASSERT_TRUE(net.has_skip(1));   // 8 -> 8
  ASSERT_FALSE(net.has_skip(2));  // the code layer
  const Parameters& p = net.parameters();
  const Matrix x = testing::GaussianMatrix(4, 10, 5);
  const auto layer = [&](int l, const Matrix& in) {
    Matrix z = in * p.weights[l];
    z.rowwise() += p.biases[l];
    Matrix a = z.cwiseMax(0.0f);
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      a.col(j) = ((a.col(j).array() - p.bn_mean[l](j)) /
                      std::sqrt(p.bn_var[l](j) + static_cast<float>(kBatchNormEpsilon)) *
                      p.bn_gamma[l](j) +
                  p.bn_beta[l](j))
                     .matrix();
    }
    return a;
  };
  const Matrix h1 = layer(0, x);
  const Matrix h2 = layer(1, h1) + h1;
  EXPECT_LT(RelativeDifference(net.Encode(x, 1), h1), 1e-5f);
  EXPECT_LT(RelativeDifference(net.Encode(x, 2), h2), 1e-5f);
  EXPECT_LT(RelativeDifference(net.Folded().Encode(x, 2), h2), 1e-5f);
}

TEST(StackedAutoencoderTest, NormalisationShapesAreChecked) {
  const StackedAutoencoder net = NormalisedNet(v1::AFTER_ACTIVATION, false);
  Parameters p = net.parameters();
  p.bn_var[1].resize(7);
  auto s = StackedAutoencoder::FromParameters(net.architecture(), p).status();
  EXPECT_NE(s.message().find("layer 1: 7 batch-norm running variances, expected 8"),
            std::string::npos)
      << s;
  p = net.parameters();
  p.bn_var[0](3) = -1;
  s = StackedAutoencoder::FromParameters(net.architecture(), p).status();
  EXPECT_NE(s.message().find("running variance is negative"), std::string::npos) << s;
  p = net.Folded().parameters();
  p.out_shift[0].resize(0);
  s = StackedAutoencoder::FromParameters(net.Folded().architecture(), p).status();
  EXPECT_NE(s.message().find("8 output scales and 0 output shifts"), std::string::npos) << s;
  // Before the activation cannot fold into tied weights.
  v1::Architecture tied = Arch({8, 3}, true);
  tied.set_batch_norm(v1::BEFORE_ACTIVATION);
  EXPECT_FALSE(ValidateArchitecture(tied).ok());
  tied.set_batch_norm(v1::AFTER_ACTIVATION);
  EXPECT_TRUE(ValidateArchitecture(tied).ok());
}

// 100 -> 32 relu layers of width 64 -> code 8, with skips: 31 encoder and
// 31 decoder skip layers.
v1::Architecture DeepResidual(v1::BatchNorm bn) {
  v1::Architecture arch;
  arch.set_input_dim(100);
  for (int l = 0; l < 32; ++l) {
    arch.add_encoder_widths(64);
    arch.add_encoder_activations(v1::RELU);
  }
  arch.add_encoder_widths(8);
  arch.add_encoder_activations(v1::LINEAR);
  arch.set_output_activation(v1::LINEAR);
  arch.set_residual(true);
  arch.set_batch_norm(bn);
  return arch;
}

float WeightStddev(const Matrix& w) {
  const float mean = w.mean();
  return std::sqrt((w.array() - mean).square().sum() / static_cast<float>(w.size()));
}

// A skip layer without normalisation starts at 1/L of the plain init (L =
// 62 skip layers), so 32 residual layers leave the activations' scale within
// a small factor of h1's; at the plain init they would grow by thousands.
TEST(StackedAutoencoderTest, DeepResidualStacksStartAtABoundedScale) {
  const auto net = StackedAutoencoder::Create(DeepResidual(v1::BATCH_NORM_NONE), 5);
  ASSERT_TRUE(net.ok()) << net.status();
  int skips = 0;
  for (int l = 0; l < net->num_layers(); ++l) skips += net->has_skip(l) ? 1 : 0;
  ASSERT_EQ(skips, 62);
  const float he = std::sqrt(2.0f / 64);
  const float he_in = std::sqrt(2.0f / 100);  // 100 -> 64, no skip
  EXPECT_NEAR(WeightStddev(net->parameters().weights[0]), he_in, 0.03f * he_in);
  EXPECT_NEAR(WeightStddev(net->parameters().weights[1]), he / 62, 0.03f * he / 62);
  const Matrix x = testing::GaussianMatrix(200, 100, 6);
  const float h1 = net->Encode(x, 1).rowwise().norm().mean();
  const float h32 = net->Encode(x, 32).rowwise().norm().mean();
  EXPECT_LT(h32, 3 * h1) << "h1 " << h1 << " h32 " << h32;
  EXPECT_GT(h32, h1);  // the skips still add something
  // A normalised branch's scale is its gamma, whatever its weights': the
  // plain init, and gamma 1/L where there is a skip.
  for (v1::BatchNorm bn : {v1::AFTER_ACTIVATION, v1::BEFORE_ACTIVATION}) {
    const auto normalised = StackedAutoencoder::Create(DeepResidual(bn), 5);
    ASSERT_TRUE(normalised.ok()) << normalised.status();
    const Parameters& p = normalised->parameters();
    EXPECT_NEAR(WeightStddev(p.weights[1]), he, 0.03f * he);
    EXPECT_EQ(p.bn_gamma[0], RowVector::Ones(64));  // 100 -> 64: no skip
    EXPECT_EQ(p.bn_gamma[1], RowVector::Constant(64, 1.0f / 62));
    const float n1 = normalised->Encode(x, 1).rowwise().norm().mean();
    EXPECT_LT(normalised->Encode(x, 32).rowwise().norm().mean(), 3 * n1) << bn;
  }
}

TEST(StackedAutoencoderTest, RunningStatisticsMoveByTheMomentum) {
  StackedAutoencoder net = NormalisedNet(v1::AFTER_ACTIVATION, false);
  const Parameters before = net.parameters();
  std::vector<RowVector> means(net.num_layers()), variances(net.num_layers());
  for (int l = 0; l < net.num_layers(); ++l) {
    if (!net.has_batch_norm(l)) continue;
    means[l] = RowVector::Constant(8, 2.0f);
    variances[l] = RowVector::Constant(8, 3.0f);
  }
  net.UpdateRunningStatistics(means, variances, /*rows=*/4, /*momentum=*/0.1);
  // mean: 0.9 m + 0.1 * 2; variance: 0.9 v + 0.1 * 3 * 4/3 (unbiased).
  const RowVector mean = (0.9f * before.bn_mean[0].array() + 0.2f).matrix();
  const RowVector variance = (0.9f * before.bn_var[0].array() + 0.4f).matrix();
  EXPECT_TRUE(net.parameters().bn_mean[0].isApprox(mean));
  EXPECT_TRUE(net.parameters().bn_var[0].isApprox(variance));
}

}  // namespace
}  // namespace strata

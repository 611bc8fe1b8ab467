// Backprop against central finite differences, in double precision, for every
// activation, both losses, tied and untied weights, the sparsity penalty,
// batch normalisation (training mode, before and after the activation),
// residual connections, and the classifier head of supervised fine-tuning.
#include "core/nn/backprop.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>

#include "Eigen/Eigenvalues"
#include "core/nn/activation.h"
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
  v1::BatchNorm batch_norm = v1::BATCH_NORM_NONE;
  bool residual = false;
};

std::string Describe(const GradCase& c) {
  const char* bn = c.batch_norm == v1::AFTER_ACTIVATION    ? "_bn_after"
                   : c.batch_norm == v1::BEFORE_ACTIVATION ? "_bn_before"
                                                           : "";
  return ActivationName(c.hidden) + (c.loss == v1::BCE ? "_bce" : "_mse") +
         (c.tied ? "_tied" : "_untied") + (c.sparsity ? "_sparse" : "") + bn +
         (c.residual ? "_residual" : "");
}
std::string CaseName(const ::testing::TestParamInfo<GradCase>& info) {
  return Describe(info.param);
}
void PrintTo(const GradCase& c, std::ostream* os) { *os << Describe(c); }

// The entries of `blocks`, in order.
std::vector<double> Flatten(const std::vector<ParameterBlock<double>>& blocks) {
  std::vector<double> out;
  for (const ParameterBlock<double>& b : blocks) out.insert(out.end(), b.data, b.data + b.size);
  return out;
}

// d(objective)/d(each entry of `blocks`), by central differences (h = 1e-6),
// in Flatten's order.
std::vector<double> NumericGradient(const std::vector<ParameterBlock<double>>& blocks,
                                    const std::function<double()>& objective) {
  constexpr double h = 1e-6;
  std::vector<double> out;
  for (const ParameterBlock<double>& block : blocks) {
    for (Eigen::Index i = 0; i < block.size; ++i) {
      double& v = block.data[i];
      const double saved = v;
      v = saved + h;
      const double up = objective();
      v = saved - h;
      const double down = objective();
      v = saved;
      out.push_back((up - down) / (2 * h));
    }
  }
  return out;
}

// Relative error ||a - b|| / (||a|| + ||b||) of two gradients.
double RelativeError(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, na = 0, nb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return std::sqrt(diff) / (std::sqrt(na) + std::sqrt(nb) + 1e-300);
}

class GradCheckTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradCheckTest, GradMatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  v1::Architecture arch;
  arch.set_input_dim(5);
  // With normalisation or skips, 5-4-4-3: hidden layers 4 -> 4 in the
  // encoder and decoder carry the skips.
  const bool deep = c.batch_norm != v1::BATCH_NORM_NONE || c.residual;
  arch.add_encoder_widths(4);
  if (deep) arch.add_encoder_widths(4);
  arch.add_encoder_widths(3);
  // The sparsity penalty needs sigmoid encoder layers to act on.
  const v1::Activation hidden = c.sparsity ? v1::SIGMOID : c.hidden;
  arch.add_encoder_activations(hidden);
  if (deep) arch.add_encoder_activations(hidden);
  arch.add_encoder_activations(c.sparsity ? v1::SIGMOID : hidden);
  arch.set_batch_norm(c.batch_norm);
  arch.set_residual(c.residual);
  arch.set_output_activation(c.loss == v1::BCE ? v1::SIGMOID : v1::LINEAR);
  arch.set_tied_weights(c.tied);
  arch.set_leaky_relu_slope(0.1f);
  auto net = StackedAutoencoderT<double>::Create(arch, 11);
  ASSERT_TRUE(net.ok()) << net.status();
  // Non-zero biases so that every bias gradient is exercised off symmetry.
  for (auto& b : net->mutable_parameters()->biases) {
    b = GaussianMatrix<double>(1, static_cast<int>(b.cols()), 5, 0.1);
  }
  // Normalisation scales and shifts off their identity start, for the same
  // reason.
  int seed = 20;
  for (auto* v : {&net->mutable_parameters()->bn_gamma, &net->mutable_parameters()->bn_beta}) {
    for (auto& t : *v) {
      if (t.size() == 0) continue;
      t.array() += GaussianMatrix<double>(1, static_cast<int>(t.cols()), ++seed, 0.3).array();
    }
  }
  if (c.batch_norm != v1::BATCH_NORM_NONE) {
    ASSERT_TRUE(net->has_batch_norm(0) && net->has_batch_norm(1) && !net->has_batch_norm(2));
  }
  if (c.residual) {
    ASSERT_TRUE(net->has_skip(1) && net->has_skip(4) && !net->has_skip(0));
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

  // Over all trained parameters: weights, biases, and the normalisations'
  // scales and shifts.
  ParametersT<double> scratch;
  const auto objective = [&] {
    return backprop.Compute(*net, input, target, options, nullptr, &scratch).objective();
  };
  EXPECT_LT(RelativeError(Flatten(analytic.Blocks()),
                          NumericGradient(net->mutable_parameters()->Blocks(), objective)),
            1e-3);
  // Every parameter tensor receives some gradient; but a normalisation
  // before the activation subtracts the batch mean, which cancels its
  // layer's bias (a gradient of zero, up to rounding).
  if (c.batch_norm != v1::BEFORE_ACTIVATION) {
    for (const auto& block : analytic.Blocks()) {
      EXPECT_GT(Eigen::Map<Eigen::ArrayXd>(block.data, block.size).abs().sum(), 0);
    }
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

// Batch normalisation in training mode, before and after the activation,
// residual blocks, and both together; dropout off.
std::vector<GradCase> NormalisedAndResidualCases() {
  std::vector<GradCase> cases;
  for (v1::Activation a : {v1::RELU, v1::TANH, v1::ELU, v1::LINEAR}) {
    for (v1::BatchNorm bn : {v1::BATCH_NORM_NONE, v1::AFTER_ACTIVATION, v1::BEFORE_ACTIVATION}) {
      for (bool residual : {false, true}) {
        if (bn == v1::BATCH_NORM_NONE && !residual) continue;
        cases.push_back({a, v1::MSE, false, false, bn, residual});
      }
    }
  }
  cases.push_back({v1::RELU, v1::BCE, false, false, v1::AFTER_ACTIVATION, true});
  cases.push_back({v1::RELU, v1::MSE, true, false, v1::AFTER_ACTIVATION, true});
  cases.push_back({v1::SIGMOID, v1::MSE, false, true, v1::AFTER_ACTIVATION, true});
  cases.push_back({v1::SIGMOID, v1::MSE, false, true, v1::BEFORE_ACTIVATION, false});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(BatchNormAndResidual, GradCheckTest,
                         ::testing::ValuesIn(NormalisedAndResidualCases()), CaseName);

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

// Supervised fine-tuning: the head's cross-entropy on the code, alone or
// with the reconstruction term, through tied or untied weights, residual
// skips and folded normalisations (the published form the supervised phase
// trains); and the head alone with a frozen encoder.
struct SupervisedCase {
  double reconstruction_weight;
  bool tied;
  bool folded;  // out_scale / out_shift on the hidden layers, and skips.
  bool frozen;
  // The head standardises its input, and a third of the rows have no label
  // (the unlabelled rows of semi-supervised fine-tuning).
  bool standardised_with_unlabelled = false;
};

std::string SupervisedName(const ::testing::TestParamInfo<SupervisedCase>& info) {
  const SupervisedCase& c = info.param;
  return std::string(c.frozen ? "frozen" : "full") +
         (c.reconstruction_weight == 0 ? "_ce_only" : "_joint") + (c.tied ? "_tied" : "") +
         (c.folded ? "_folded_residual" : "") +
         (c.standardised_with_unlabelled ? "_standardised_unlabelled" : "");
}

void PrintTo(const SupervisedCase& c, std::ostream* os) {
  *os << "lambda=" << c.reconstruction_weight << " tied=" << c.tied << " folded=" << c.folded
      << " frozen=" << c.frozen;
}

class SupervisedGradCheckTest : public ::testing::TestWithParam<SupervisedCase> {};

TEST_P(SupervisedGradCheckTest, GradMatchesFiniteDifferences) {
  const SupervisedCase& c = GetParam();
  v1::Architecture arch;
  arch.set_input_dim(5);
  for (int w : {4, 4, 3}) arch.add_encoder_widths(w);
  for (int i = 0; i < 3; ++i) arch.add_encoder_activations(i < 2 ? v1::TANH : v1::LINEAR);
  arch.set_output_activation(v1::LINEAR);
  arch.set_tied_weights(c.tied);
  arch.set_residual(c.folded);
  auto net = StackedAutoencoderT<double>::Create(arch, 5);
  ASSERT_TRUE(net.ok()) << net.status();
  ParametersT<double>* p = net->mutable_parameters();
  for (auto& b : p->biases) b = GaussianMatrix<double>(1, static_cast<int>(b.cols()), 6, 0.1);
  if (c.folded) {
    for (int l : {0, 1, 3, 4}) {
      p->out_scale[l] = UniformMatrix<double>(1, 4, 30 + l, 0.5, 1.5);
      p->out_shift[l] = GaussianMatrix<double>(1, 4, 40 + l, 0.2);
    }
  }
  ClassifierHeadT<double> head = ClassifierHeadT<double>::Create(3, 4, 8);
  head.bias = GaussianMatrix<double>(1, 4, 9, 0.1);
  const MatrixT<double> input = GaussianMatrix<double>(9, 5, 1);
  std::vector<int> classes = {0, 1, 2, 3, 0, 1, 2, 3, 1};
  if (c.standardised_with_unlabelled) {
    // Spreads and centres far from 1 and 0, so that a missing scale or
    // shift in the gradient shows.
    MatrixT<double> codes = GaussianMatrix<double>(20, 3, 11, 3.0);
    codes.array() += 2.0;
    head.SetInputStandardisation(codes);
    classes = {0, -1, 2, 3, -1, 1, 2, -1, 1};
  }

  ObjectiveOptions options;
  options.reconstruction_weight = c.reconstruction_weight;
  options.frozen_encoder = c.frozen;
  Backprop<double> backprop;
  ParametersT<double> analytic;
  ClassifierHeadT<double> head_analytic;
  Supervision<double> supervision{&head, classes, &head_analytic};
  const LossBreakdown loss =
      backprop.Compute(*net, input, input, options, nullptr, &analytic, &supervision);
  ASSERT_TRUE(std::isfinite(loss.objective()));
  EXPECT_GT(loss.classification_loss, 0);
  // The same call into the same gradients gives the same gradients: nothing
  // is left over from the last batch (tied weights at lambda 0 once summed).
  {
    const ParametersT<double> first = analytic;
    backprop.Compute(*net, input, input, options, nullptr, &analytic, &supervision);
    for (size_t l = 0; l < first.weights.size(); ++l) {
      EXPECT_EQ(analytic.weights[l], first.weights[l]) << "layer " << l;
    }
  }
  if (c.standardised_with_unlabelled) {
    // The cross-entropy is the mean over the 6 labelled rows alone: the
    // unlabelled ones add nothing to it. Same rows, same order of the sum.
    std::vector<int> kept, kept_classes;
    for (int r = 0; r < 9; ++r) {
      if (classes[r] >= 0) kept.push_back(r), kept_classes.push_back(classes[r]);
    }
    MatrixT<double> labelled(static_cast<Eigen::Index>(kept.size()), 5);
    for (size_t i = 0; i < kept.size(); ++i) labelled.row(i) = input.row(kept[i]);
    EXPECT_NEAR(loss.classification_loss,
                CrossEntropy<double>(head, net->Encode(labelled, net->depth()), kept_classes,
                                     nullptr, nullptr),
                1e-12);
  }
  if (c.frozen || c.reconstruction_weight == 0) {
    EXPECT_EQ(loss.data_loss, 0);
  } else {
    EXPECT_GT(loss.data_loss, 0);
  }

  ParametersT<double> scratch;
  ClassifierHeadT<double> head_scratch;
  Supervision<double> scratch_supervision{&head, classes, &head_scratch};
  const auto objective = [&] {
    return backprop.Compute(*net, input, input, options, nullptr, &scratch, &scratch_supervision)
        .objective();
  };
  EXPECT_LT(RelativeError(Flatten(head_analytic.Blocks()), NumericGradient(head.Blocks(), objective)),
            1e-4);
  if (c.frozen) {
    // Nothing below the head is written.
    EXPECT_TRUE(analytic.weights.empty());
    return;
  }
  // Every layer, the decoder included: without the reconstruction term it is
  // not part of the objective (a numeric gradient of 0) and its gradient is
  // not written (left at the zeros of the first resize).
  EXPECT_LT(RelativeError(Flatten(analytic.Blocks()), NumericGradient(p->Blocks(), objective)),
            1e-4);
  if (c.reconstruction_weight == 0) {
    for (int l = net->depth(); l < net->num_layers(); ++l) {
      EXPECT_EQ(analytic.biases[l].squaredNorm(), 0) << "decoder layer " << l;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    HeadJointAndFrozen, SupervisedGradCheckTest,
    ::testing::Values(SupervisedCase{0.5, false, false, false},
                      SupervisedCase{0.0, false, false, false},
                      SupervisedCase{0.5, true, false, false},
                      SupervisedCase{0.0, true, false, false},
                      SupervisedCase{0.5, false, true, false},
                      SupervisedCase{0.0, false, true, false},
                      SupervisedCase{1.0, false, false, true},
                      SupervisedCase{0.5, false, false, false, true},
                      SupervisedCase{1.0, false, false, true, true}),
    SupervisedName);

// A head's standardisation folds into its weights and bias: the folded head
// gives the same probabilities from the raw code. In double, the two
// computations differ only by rounding (a few ulps of values near 1).
TEST(ClassifierHeadTest, FoldedStandardisationGivesTheSameProbabilities) {
  ClassifierHeadT<double> head = ClassifierHeadT<double>::Create(3, 4, 8);
  head.bias = GaussianMatrix<double>(1, 4, 9, 0.1);
  MatrixT<double> codes = GaussianMatrix<double>(50, 3, 12, 4.0);
  codes.col(1).array() += 7.0;
  codes.col(2).setConstant(3.0);  // no spread: centred, scaled as the others
  head.SetInputStandardisation(codes);
  EXPECT_NEAR(head.input_shift[1], codes.col(1).mean(), 1e-12);
  // One scale for all units: 1 / root of their mean variance.
  const double mean_variance =
      (codes.rowwise() - codes.colwise().mean()).array().square().sum() / codes.size();
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(head.input_scale[j], 1 / std::sqrt(mean_variance), 1e-12);
  const MatrixT<double> before = head.Probabilities(codes);
  head.FoldInputStandardisation();
  EXPECT_EQ(head.input_scale.size(), 0);
  EXPECT_EQ(head.input_shift.size(), 0);
  const MatrixT<double> after = head.Probabilities(codes);
  EXPECT_LT((after - before).cwiseAbs().maxCoeff(), 1e-12);
  // The standardised head is not the raw one: the check above can fail.
  ClassifierHeadT<double> raw = ClassifierHeadT<double>::Create(3, 4, 8);
  raw.bias = head.bias;
  EXPECT_GT((raw.Probabilities(codes) - before).cwiseAbs().maxCoeff(), 1e-3);
}

// A head alone trains by gradient descent at 1 / the largest eigenvalue of
// its standardised input's covariance. Power iteration (HeadLearningRate)
// against Eigen's eigensolver on the same matrix: with the largest
// eigenvalue well apart from the next (variances 9 : 1 : 0.25 before the
// one scale), 100 iterations agree to far better than 1e-9.
TEST(ClassifierHeadTest, HeadLearningRateIsOneOverTheLargestEigenvalue) {
  Matrix codes = GaussianMatrix<float>(400, 3, 14, 1.0);
  codes.col(0) *= 3.0f;
  codes.col(2) *= 0.5f;
  codes.col(1) += 0.5f * codes.col(0);  // correlated, not axis-aligned
  ClassifierHead head = ClassifierHead::Create(3, 4, 8);
  head.SetInputStandardisation(codes);
  const Eigen::MatrixXd z =
      ((codes.rowwise() - head.input_shift).array().rowwise() * head.input_scale.array())
          .matrix()
          .cast<double>();
  const Eigen::MatrixXd cov = z.transpose() * z / static_cast<double>(z.rows());
  const double largest = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(cov).eigenvalues()(2);
  EXPECT_NEAR(HeadLearningRate(head, codes), 1.0 / largest, 1e-9 / largest);
}

// Two exactly anti-correlated units: the leading direction is (1, -1),
// orthogonal to an all-ones start. The rate is still 1 / its eigenvalue.
TEST(ClassifierHeadTest, HeadLearningRateFindsAnAntiCorrelatedDirection) {
  Matrix codes(200, 2);
  const Matrix noise = GaussianMatrix<float>(200, 1, 15, 1.0);
  codes.col(0) = noise.col(0);
  codes.col(1) = -noise.col(0);
  ClassifierHead head = ClassifierHead::Create(2, 3, 8);
  head.SetInputStandardisation(codes);
  // Standardised to mean variance 1: the covariance is [[1, -1], [-1, 1]],
  // eigenvalues 2 and 0.
  EXPECT_NEAR(HeadLearningRate(head, codes), 0.5, 1e-6);
}

// A row without a label (a negative class) neither adds to the
// cross-entropy nor gets a gradient; with none labelled, the loss is 0.
TEST(ClassifierHeadTest, UnlabelledRowsAreLeftOutOfTheCrossEntropy) {
  const ClassifierHeadT<double> head = ClassifierHeadT<double>::Create(3, 4, 8);
  const MatrixT<double> codes = GaussianMatrix<double>(4, 3, 13, 1.0);
  ClassifierHeadT<double> grads;
  MatrixT<double> d_code;
  const double mixed = CrossEntropy<double>(head, codes, {2, -1, 0, -1}, &grads, &d_code);
  EXPECT_EQ(d_code.row(1).squaredNorm(), 0);
  EXPECT_EQ(d_code.row(3).squaredNorm(), 0);
  EXPECT_GT(d_code.row(0).squaredNorm(), 0);
  MatrixT<double> two(2, 3);
  two << codes.row(0), codes.row(2);
  EXPECT_NEAR(mixed, CrossEntropy<double>(head, two, {2, 0}, nullptr, nullptr), 1e-15);
  EXPECT_EQ(CrossEntropy<double>(head, codes, {-1, -1, -1, -1}, &grads, &d_code), 0);
  EXPECT_EQ(d_code.squaredNorm(), 0);
  EXPECT_EQ(grads.weights.squaredNorm(), 0);
}

}  // namespace
}  // namespace strata

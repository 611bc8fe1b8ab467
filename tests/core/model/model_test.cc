// A model's answers for a row are the same bits whatever else shares its
// call (core/nn/fixed_order_gemm.h, the activations, the row reductions), and
// its code distances are well-conditioned (core/scoring/anomaly.h).
#include "core/model/model.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Eigenvalues"
#include "absl/strings/str_cat.h"
#include "core/data/class_labels.h"
#include "core/scoring/anomaly.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

constexpr int kCols = 9;

// Every kind of layer serving meets: tanh and elu hidden layers, a sigmoid
// code, tied (transposed) decoder weights, an ensemble of three networks
// and a classifier head.
std::unique_ptr<Model> EveryLayerKindModel() {
  Trainer::Options options;
  options.input_dim = kCols;
  v1::TrainConfig& c = options.config;
  for (int w : {12, 7, 3}) c.add_encoder_widths(w);
  c.add_hidden_activations(v1::TANH);
  c.add_hidden_activations(v1::ELU);
  c.set_code_activation(v1::SIGMOID);
  c.set_tied_weights(true);
  c.set_pretrain_epochs(1);
  c.set_finetune_epochs(3);
  c.mutable_supervised()->set_epochs(3);
  c.mutable_anomaly()->set_ensemble_size(3);
  c.set_seed(4);
  options.class_names = {"low", "high"};
  const Matrix data = testing::ManifoldData(600, kCols, 3, 21);
  std::vector<int> classes(static_cast<size_t>(data.rows()), kUnlabelled);
  for (Eigen::Index r = 0; r < data.rows(); r += 3) classes[r] = data(r, 0) > 0 ? 1 : 0;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<std::unique_ptr<Model>> model = (*trainer)->Train(data, classes);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

// Every answer the model gives for `rows`: each encoder layer, the
// reconstruction, every metric's score with its feature errors, and the
// class probabilities.
std::vector<Matrix> Answers(const Model& model, const Matrix& rows) {
  std::vector<Matrix> out;
  for (int layer = 1; layer <= model.depth(); ++layer) out.push_back(*model.Encode(rows, layer));
  out.push_back(*model.Reconstruct(rows));
  for (ScoreMetric metric :
       {ScoreMetric::kMeanSquared, ScoreMetric::kMeanAbsolute, ScoreMetric::kCodeDistance,
        ScoreMetric::kCombined, ScoreMetric::kEnsemble}) {
    out.push_back(*model.Score(rows, metric));
  }
  out.push_back(*model.Predict(rows));
  return out;
}

const char* const kAnswerNames[] = {"h1",       "h2",           "code",          "reconstruction",
                                    "mse",      "mae",          "code distance", "combined",
                                    "ensemble", "probabilities"};

TEST(ModelTest, EveryAnswerForARowIsTheSameBitsWhateverElseIsInTheCall) {
  const std::unique_ptr<Model> model = EveryLayerKindModel();
  ASSERT_EQ(model->ensemble().size(), 2u);
  ASSERT_TRUE(model->classifier().has_value());
  // Training-like rows, and some far outside (anomalies, saturated units).
  Matrix rows = testing::ManifoldData(1000, kCols, 3, 77);
  for (Eigen::Index r = 0; r < rows.rows(); r += 13) rows.row(r) *= 6;
  const std::vector<Matrix> whole = Answers(*model, rows);
  ASSERT_EQ(whole.size(), std::size(kAnswerNames));

  // Random partitions into calls of 1 to 1,000 rows (log-uniform sizes, so
  // that single rows and small calls are common), on 1 or 2 threads.
  std::mt19937_64 rng(12);
  const int saved_threads = omp_get_max_threads();
  for (int trial = 0; trial < 4; ++trial) {
    omp_set_num_threads(1 + trial % 2);
    std::uniform_real_distribution<double> log_size(0, std::log(1000.0));
    int calls = 0;
    for (Eigen::Index start = 0; start < rows.rows(); ++calls) {
      const Eigen::Index n = std::min<Eigen::Index>(
          rows.rows() - start, static_cast<Eigen::Index>(std::exp(log_size(rng))));
      const std::vector<Matrix> part = Answers(*model, rows.middleRows(start, n));
      for (size_t a = 0; a < whole.size(); ++a) {
        const Matrix expected = whole[a].middleRows(start, n);
        ASSERT_EQ(part[a].cols(), expected.cols());
        ASSERT_EQ(std::memcmp(part[a].data(), expected.data(), sizeof(float) * expected.size()), 0)
            << kAnswerNames[a] << " of rows " << start << ".." << start + n - 1 << " (trial "
            << trial << ")";
      }
      start += n;
    }
    EXPECT_GT(calls, 1);
  }
  omp_set_num_threads(saved_threads);
}

// Codes whose covariance is nearly singular: three units, one a copy of
// another plus 1e-5 noise (a unit that barely moves, as in the thyroid
// demo's code, eigenvalues 18.3, 333 and 1.84e7 in its precision).
Matrix NearlySingularCodes(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Matrix z(rows, 3);
  for (int r = 0; r < rows; ++r) {
    z(r, 0) = static_cast<float>(normal(rng));
    z(r, 1) = static_cast<float>(2 + 0.5 * normal(rng));
    z(r, 2) = static_cast<float>(z(r, 0) * 0.3 + 1e-5 * normal(rng));
  }
  return z;
}

TEST(ModelTest, ACodeGaussiansConditionNumberIsBounded) {
  const absl::StatusOr<v1::CodeGaussian> g = FitCodeGaussian(NearlySingularCodes(5000, 1));
  ASSERT_TRUE(g.ok()) << g.status();
  Eigen::MatrixXd precision(3, 3);
  for (int i = 0; i < 9; ++i) precision.data()[i] = g->precision(i);
  const Eigen::VectorXd values =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(precision).eigenvalues();
  const double condition = values(2) / values(0);
  std::cout << "precision eigenvalues " << values.transpose() << ", condition " << condition
            << "\n";
  // The floor sets it to kMaxCodeConditionNumber; the float storage of the
  // precision moves it by far less than 1%.
  EXPECT_LE(condition, kMaxCodeConditionNumber * 1.01);
  EXPECT_GT(values(0), 0);
}

// Scores from a nearly singular code Gaussian, against the same formula
// evaluated in long double from the same stored mean and precision: within
// 1e-6 relative. (The float codes are the inputs of both: the reference
// checks the score's arithmetic, which a condition number of 1e4 would
// have amplified float rounding (6e-8) in, not the network's.)
TEST(ModelTest, CodeDistancesOfANearlySingularFitMatchALongDoubleReference) {
  const absl::StatusOr<v1::CodeGaussian> g = FitCodeGaussian(NearlySingularCodes(5000, 1));
  ASSERT_TRUE(g.ok()) << g.status();
  Matrix live = NearlySingularCodes(2000, 2);
  // Rows off the thin direction too: there the precision's largest
  // eigenvalue weighs in.
  for (Eigen::Index r = 0; r < live.rows(); r += 3) live(r, 2) += 1e-3f * (r % 7 - 3);
  const Eigen::VectorXf scores = CodeDistances(*g, live);
  double worst = 0;
  for (Eigen::Index r = 0; r < live.rows(); ++r) {
    long double d = 0;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        d += (static_cast<long double>(live(r, i)) - g->mean(i)) * g->precision(i * 3 + j) *
             (static_cast<long double>(live(r, j)) - g->mean(j));
      }
    }
    const double expected = static_cast<double>(d / 3);
    worst = std::max(worst, std::abs(scores(r) - expected) / expected);
  }
  std::cout << "largest relative difference from long double: " << worst << "\n";
  // The result is rounded to float once at the end (6e-8).
  EXPECT_LT(worst, 1e-6);
}

}  // namespace
}  // namespace strata

#include "core/scoring/evaluation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/data/scaler.h"

namespace strata {
namespace {

// Scores in a total order: NaN (an output that overflowed) above every
// other score, as PercentileOfScore reads it, and tied with itself. Plain <
// and == on NaN break std::sort's ordering and the grouping of ties (NaN !=
// NaN left the loops below at the same index forever).
bool ScoreLess(double a, double b) { return std::isnan(a) ? false : std::isnan(b) || a < b; }
bool ScoreTied(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Row indices sorted by score, highest first (stable: ties keep row order).
std::vector<size_t> ByScoreDescending(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ScoreLess(scores[b], scores[a]); });
  return order;
}

}  // namespace

double RocAuc(const std::vector<double>& scores, const std::vector<int>& labels) {
  // Mann-Whitney U with average ranks for ties.
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ScoreLess(scores[a], scores[b]); });
  double positive_rank_sum = 0, positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && ScoreTied(scores[order[j]], scores[order[i]])) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2 + 1;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1) positive_rank_sum += rank, positives += 1;
    }
    i = j;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

double AveragePrecision(const std::vector<double>& scores, const std::vector<int>& labels) {
  const double positives = static_cast<double>(std::count(labels.begin(), labels.end(), 1));
  if (positives == 0) return std::nan("");
  const std::vector<size_t> order = ByScoreDescending(scores);
  double ap = 0, true_positives = 0, seen = 0, last_recall = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    // All rows tied at this threshold come in together.
    while (j < order.size() && ScoreTied(scores[order[j]], scores[order[i]])) {
      true_positives += labels[order[j]] == 1;
      seen += 1;
      ++j;
    }
    const double recall = true_positives / positives;
    ap += (recall - last_recall) * (true_positives / seen);
    last_recall = recall;
    i = j;
  }
  return ap;
}

absl::StatusOr<ProbeResult> LinearProbe(const Matrix& features, const std::vector<int>& labels,
                                        const ProbeOptions& options) {
  const Eigen::Index n = features.rows(), d = features.cols();
  if (static_cast<size_t>(n) != labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear probe: ", n, " feature rows but ", labels.size(), " labels"));
  }
  if (options.folds < 2 || n < options.folds) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear probe: need at least ", std::max(2, options.folds), " rows and 2 folds"));
  }
  int classes = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("linear probe: row ", i, " has the negative class ", labels[i]));
    }
    classes = std::max(classes, labels[i] + 1);
  }
  if (classes < 2) return absl::InvalidArgumentError("linear probe: need at least 2 classes");

  // Stratified folds: each class's rows shuffled, then dealt round-robin.
  std::vector<int> fold(static_cast<size_t>(n));
  std::mt19937_64 rng(options.seed);
  std::vector<std::vector<size_t>> by_class(classes);
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  int next = 0;
  for (auto& rows : by_class) {
    std::shuffle(rows.begin(), rows.end(), rng);
    for (size_t r : rows) fold[r] = next++ % options.folds;
  }

  std::vector<double> accuracies;
  for (int f = 0; f < options.folds; ++f) {
    std::vector<Eigen::Index> train, test;
    for (Eigen::Index r = 0; r < n; ++r) (fold[r] == f ? test : train).push_back(r);
    if (test.empty() || train.empty()) continue;
    Matrix train_features(static_cast<Eigen::Index>(train.size()), d);
    for (size_t i = 0; i < train.size(); ++i) train_features.row(i) = features.row(train[i]);
    // Standardised with the training fold's statistics, as a model's scaler.
    absl::StatusOr<Scaler> scaler = Scaler::Fit(v1::STANDARD, train_features);
    if (!scaler.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("linear probe: ", scaler.status().message()));
    }
    const Eigen::MatrixXd z = scaler->Transform(features).cast<double>();
    Eigen::MatrixXd x(train.size(), d), y = Eigen::MatrixXd::Zero(train.size(), classes);
    for (size_t i = 0; i < train.size(); ++i) {
      x.row(i) = z.row(train[i]);
      y(i, labels[train[i]]) = 1;
    }

    // Softmax regression by full-batch Adam.
    Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, classes), m_w = w, v_w = w;
    Eigen::RowVectorXd b = Eigen::RowVectorXd::Zero(classes), m_b = b, v_b = b;
    const double rows = static_cast<double>(train.size());
    for (int t = 1; t <= options.iterations; ++t) {
      Eigen::MatrixXd logits = (x * w).rowwise() + b;
      const Eigen::VectorXd max = logits.rowwise().maxCoeff();
      Eigen::MatrixXd p = (logits.colwise() - max).array().exp().matrix();
      p = (p.array().colwise() / p.rowwise().sum().array()).matrix();
      const Eigen::MatrixXd delta = (p - y) / rows;
      const Eigen::MatrixXd g_w = x.transpose() * delta + options.l2 * w;
      const Eigen::RowVectorXd g_b = delta.colwise().sum();
      constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
      const double c1 = 1 - std::pow(kBeta1, t), c2 = 1 - std::pow(kBeta2, t);
      m_w = kBeta1 * m_w + (1 - kBeta1) * g_w;
      v_w = kBeta2 * v_w + (1 - kBeta2) * g_w.cwiseAbs2();
      m_b = kBeta1 * m_b + (1 - kBeta1) * g_b;
      v_b = kBeta2 * v_b + (1 - kBeta2) * g_b.cwiseAbs2();
      w -= (options.learning_rate * (m_w / c1).array() / ((v_w / c2).array().sqrt() + kEps))
               .matrix();
      b -= (options.learning_rate * (m_b / c1).array() / ((v_b / c2).array().sqrt() + kEps))
               .matrix();
    }
    int correct = 0;
    for (Eigen::Index r : test) {
      Eigen::Index predicted = 0;
      ((z.row(r) * w) + b).maxCoeff(&predicted);
      correct += predicted == labels[r];
    }
    accuracies.push_back(static_cast<double>(correct) / static_cast<double>(test.size()));
  }
  ProbeResult result;
  result.classes = classes;
  const double k = static_cast<double>(accuracies.size());
  result.mean_accuracy = std::accumulate(accuracies.begin(), accuracies.end(), 0.0) / k;
  double sq = 0;
  for (double a : accuracies) sq += (a - result.mean_accuracy) * (a - result.mean_accuracy);
  result.std_accuracy = std::sqrt(sq / k);
  return result;
}

ClassifierMetrics MetricsFromConfusion(std::vector<int64_t> confusion, int classes) {
  ClassifierMetrics m;
  m.classes = classes;
  m.confusion = std::move(confusion);
  const size_t k = static_cast<size_t>(classes);
  std::vector<int64_t> predicted(k, 0), actual(k, 0);
  int64_t right = 0;
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j) {
      const int64_t n = m.confusion[i * k + j];
      m.rows += n;
      actual[i] += n;
      predicted[j] += n;
      if (i == j) right += n;
    }
  }
  const double nan = std::nan("");
  m.accuracy = m.rows > 0 ? static_cast<double>(right) / static_cast<double>(m.rows) : nan;
  for (size_t c = 0; c < k; ++c) {
    const double hits = static_cast<double>(m.confusion[c * k + c]);
    m.precision.push_back(predicted[c] > 0 ? hits / static_cast<double>(predicted[c]) : nan);
    m.recall.push_back(actual[c] > 0 ? hits / static_cast<double>(actual[c]) : nan);
  }
  return m;
}

ClassifierMetrics EvaluateClassifier(const std::vector<int>& truth,
                                     const std::vector<int>& predicted, int classes) {
  const size_t k = static_cast<size_t>(classes);
  std::vector<int64_t> confusion(k * k, 0);
  for (size_t r = 0; r < truth.size(); ++r) {
    if (truth[r] < 0) continue;
    ++confusion[static_cast<size_t>(truth[r]) * k + static_cast<size_t>(predicted[r])];
  }
  return MetricsFromConfusion(std::move(confusion), classes);
}

}  // namespace strata

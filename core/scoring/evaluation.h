// How good a model's outputs are for a task, measured the way the literature
// does: ROC-AUC and average precision of anomaly scores against 0/1 labels,
// the cross-validated accuracy of a linear probe (multinomial logistic
// regression) on features against class labels, and a classifier's accuracy,
// confusion matrix, precision and recall.
//
//   double auc = RocAuc(scores, labels);                 // labels: 1 = anomaly
//   absl::StatusOr<ProbeResult> probe = LinearProbe(codes, classes, {});
//   ClassifierMetrics head = EvaluateClassifier(truth, predicted, classes);
#ifndef STRATA_CORE_SCORING_EVALUATION_H_
#define STRATA_CORE_SCORING_EVALUATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"

namespace strata {

// Area under the ROC curve: the probability that a random positive scores
// above a random negative, ties counting one half. NaN unless both classes
// occur. A NaN score ranks above every other score (and ties with NaN), here
// and in AveragePrecision. REQUIRES: scores.size() == labels.size(); labels
// are 0 or 1.
double RocAuc(const std::vector<double>& scores, const std::vector<int>& labels);

// Average precision: sum over distinct score thresholds (highest first) of
// precision x the recall gained there (as scikit-learn computes it). NaN
// without positives.
double AveragePrecision(const std::vector<double>& scores, const std::vector<int>& labels);

struct ProbeOptions {
  int folds = 5;                // stratified k-fold cross-validation
  double l2 = 1e-4;             // ridge penalty on the weights (not biases)
  int iterations = 300;         // full-batch Adam steps per fold
  double learning_rate = 0.05;
  uint64_t seed = 1;            // fold assignment
};

struct ProbeResult {
  double mean_accuracy = 0;     // over the folds' held-out rows
  double std_accuracy = 0;
  int classes = 0;
};

// Cross-validated accuracy of multinomial logistic regression on `features`
// (standardised by a STANDARD Scaler fitted on each training fold) predicting
// `labels` (0 .. classes-1). InvalidArgument for mismatched sizes, negative
// labels, fewer than 2 classes, fewer rows than folds, or features the
// Scaler refuses (not finite).
absl::StatusOr<ProbeResult> LinearProbe(const Matrix& features, const std::vector<int>& labels,
                                        const ProbeOptions& options);

// A classifier's predictions against the true classes.
struct ClassifierMetrics {
  int classes = 0;
  int64_t rows = 0;  // rows compared
  // classes x classes, row-major: rows of true class i predicted as class j.
  std::vector<int64_t> confusion;
  double accuracy = 0;  // NaN without rows
  // Per class: of the rows predicted as it, the share truly of it (NaN when
  // none was predicted as it); of the rows truly of it, the share predicted
  // as it (NaN when it has none).
  std::vector<double> precision, recall;
};

// The figures of a confusion matrix (classes x classes, row-major, rows the
// true class). REQUIRES: confusion.size() == classes * classes, counts >= 0.
ClassifierMetrics MetricsFromConfusion(std::vector<int64_t> confusion, int classes);

// The figures of `predicted` against `truth`, row by row; rows whose truth
// is negative (unlabelled) are left out. REQUIRES: equal sizes; every
// predicted class in [0, classes); every truth below classes.
ClassifierMetrics EvaluateClassifier(const std::vector<int>& truth,
                                     const std::vector<int>& predicted, int classes);

}  // namespace strata

#endif  // STRATA_CORE_SCORING_EVALUATION_H_

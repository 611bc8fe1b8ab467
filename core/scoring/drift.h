// Drift: how live records move away from the training data.
//
// At the end of training, ComputeDriftBaseline describes the training rows
// in scaled space: per-feature quantile bins with their shares, moments and
// range; the reconstruction-error distribution; the code layer's moments.
// Serving feeds every record it sees to the version's DriftMonitor, which
// keeps a rolling window and turns it into figures on demand:
//
//   DriftMonitor monitor(model.info().drift_baseline, model.scaler(), names, 10000);
//   monitor.Observe(raw_rows, &per_row_mse, &codes);   // hot path, O(features) a row
//   v1::DriftFigures figures = monitor.Figures();      // at scrape time
//
// The window is two half-windows: figures cover the current half and the
// previous one (window_rows / 2 to window_rows records), so nothing is
// stored per record.
#ifndef STRATA_CORE_SCORING_DRIFT_H_
#define STRATA_CORE_SCORING_DRIFT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/base/collective.h"
#include "core/base/mutex.h"
#include "core/data/scaler.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/model.pb.h"

namespace strata {

// Inner edges of `bins` equal-frequency bins of `values`: nearest-rank
// quantiles i/bins, ties merged, none at the maximum.
std::vector<float> QuantileBinEdges(std::vector<float> values, int bins);
// The bin of x: the number of edges below it.
int BinIndex(const float* edges, int num_edges, float x);
// Population stability index, sum (a - e) ln(a / e), with both shares floored
// at 1e-4 so empty bins stay finite. REQUIRES: equal sizes.
double PopulationStabilityIndex(const std::vector<double>& expected,
                                const std::vector<double>& actual);

// PSI of a live out-of-range share against the share a training set of
// `training_rows` rows predicts for new draws of its own distribution,
// 2 / (rows + 1) (floored as PopulationStabilityIndex floors; 0 rows, a
// baseline from before the count was kept, gets the floor). About 0.25 at a
// 5% share for a training set of a few thousand rows, more lenient for
// small ones, whose range is narrower.
double OutOfRangePsi(double live_share, int64_t training_rows);
// That share, 2 / (training_rows + 1); 0 for 0 rows.
double OutOfRangeTrainingShare(int64_t training_rows);

// The usual reading of a PSI-scale drift: "stable" (< 0.1), "moderate"
// (0.1 to 0.25) or "DRIFTED" (> 0.25).
const char* DriftLevel(double psi_scale);
inline constexpr double kDriftedPsi = 0.25;

// The training codes a baseline keeps, for pictures of the code space
// (strata report's PCA view and t-SNE map): every CodeSampleStride-th row,
// at most kCodeSampleRows rows and kCodeSampleValues values.
inline constexpr int64_t kCodeSampleRows = 2000;
inline constexpr int64_t kCodeSampleValues = int64_t{1} << 18;
// The sample's stride for `rows` training rows and codes of `code_dim`
// units: row r is sampled when r % stride == 0. REQUIRES: code_dim >= 1.
int64_t CodeSampleStride(int64_t rows, int code_dim);

// The baseline of a trained network over its (raw) training rows.
// FailedPrecondition naming the row when a row scales, encodes or
// reconstructs to a non-finite value, and when the baseline does not pass
// ValidateDriftBaseline.
// For a model with a classifier head: the head, and each training row's
// class label (an index into its classes, or kUnlabelled; empty for none).
struct BaselineClasses {
  const ClassifierHead* head = nullptr;
  absl::Span<const int> labels;
};

// With `classes`, the baseline also holds the share of rows the head puts
// in each class (class_proportions) and the sampled rows' labels
// (code.sample_classes), from the same pass over the codes.
absl::StatusOr<v1::DriftBaseline> ComputeDriftBaseline(const StackedAutoencoder& net,
                                                       const Scaler& scaler, const Matrix& raw,
                                                       int bins,
                                                       const v1::AnomalyCalibration& calibration,
                                                       const BaselineClasses& classes = {});

// For a baseline that came from a sample of the rows (data-parallel
// training's gathered sample, or every k-th row of a row file): sets its
// counts, sums, minima and maxima to those of all rows, in one pass over
// `raw` in order (with `ranks`: this rank's rows, then by reductions over
// every rank's; null: one process): training_rows, each
// feature's bin shares, mean, std, min and max, the error histogram's
// shares, mean and max, and the code's means and stds. Quantile edges and
// percentiles stay the sample's. Every rank gets the same baseline.
// FailedPrecondition naming the rank's row for a non-finite value.
absl::Status ReduceDriftBaseline(Collective* ranks, const StackedAutoencoder& net,
                                 const Scaler& scaler, const Eigen::Ref<const Matrix>& raw,
                                 v1::DriftBaseline* baseline);

// The invariants a DriftMonitor relies on, for a baseline from a model file
// or from training: one feature per input and one code unit per code unit
// of the network, bins one more than their edges, edges ascending, sizes
// consistent (in 64 bits), and every number finite. An empty baseline (no
// features: a model from before drift monitoring) passes. InvalidArgument
// naming what is wrong.
absl::Status ValidateDriftBaseline(const v1::DriftBaseline& baseline, int input_dim, int code_dim);

// Thread-safe.
class DriftMonitor {
 public:
  // Rows count as anomalies by COMBINED against its threshold when the
  // calibration has code scores and the row's code is observed, else by MSE
  // against the MSE threshold (DriftFigures.anomaly_score names which). For
  // an ENSEMBLE-default model that is not its default score: the ensemble
  // score would cost every network's pass over each live row.
  // REQUIRES: baseline has one FeatureBaseline per scaler feature.
  DriftMonitor(v1::DriftBaseline baseline, Scaler scaler, std::vector<std::string> feature_names,
               const v1::AnomalyCalibration& calibration, int64_t window_rows);

  // Records raw rows, with their per-row reconstruction MSE (scaled space),
  // code-layer features and predicted classes (indices into the baseline's
  // class_proportions) when the caller computed them (else null).
  void Observe(const Matrix& raw, const Eigen::VectorXf* row_mse, const Matrix* codes,
               const std::vector<int>* classes = nullptr);

  // The figures over the window; features sorted most drifted first.
  v1::DriftFigures Figures() const;

  // Counts since the monitor was made (the version loaded), for Prometheus
  // counters that add up across replicas: a fleet's PSI is then computed
  // from the counters' increase over any time window (see
  // deploy/prometheus/strata-rules.yml), which no replica's window can give.
  struct Totals {
    uint64_t rows = 0;                   // records observed
    std::vector<uint64_t> bin_counts;    // per feature bin, feature-major (see bin_offset)
    std::vector<uint64_t> out_of_range;  // per feature: outside the training [min, max]
    // Scored records (those with an MSE) per bucket of the baseline's error
    // histogram (one more than its edges), their MSE sum, and how many were
    // anomalies by the default score.
    std::vector<uint64_t> error_bins;
    double error_sum = 0;
    uint64_t anomalies = 0;
  };
  Totals Cumulative() const;
  // Where feature c's bins start in Totals::bin_counts.
  int bin_offset(int feature) const { return bin_offset_[static_cast<size_t>(feature)]; }
  const v1::DriftBaseline& baseline() const { return baseline_; }

 private:
  struct Half {
    int64_t rows = 0;
    std::vector<int64_t> bin_counts;  // feature-major, offsets in bin_offset_
    std::vector<double> sums;         // per feature
    std::vector<int64_t> out_of_range;
    int64_t error_rows = 0;
    double error_sum = 0;
    int64_t anomalies = 0;
    std::vector<int64_t> error_bins;
    int64_t code_rows = 0;
    std::vector<double> code_sums;
    int64_t class_rows = 0;
    std::vector<int64_t> class_counts;
  };
  void Reset(Half* h) const;
  void Rotate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const v1::DriftBaseline baseline_;
  const Scaler scaler_;
  const std::vector<std::string> names_;
  const float mse_threshold_;
  // For the combined score; code_.mean_size() == 0 without code scores.
  const v1::CodeGaussian code_;
  const float mse_scale_;
  const float combined_threshold_;
  const int64_t half_rows_;
  std::vector<int> bin_offset_;  // start of each feature's bins in bin_counts
  int total_bins_ = 0;
  std::vector<double> error_edges_;

  mutable Mutex mu_;
  Half current_ ABSL_GUARDED_BY(mu_);
  Half previous_ ABSL_GUARDED_BY(mu_);
  Totals totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_CORE_SCORING_DRIFT_H_

#include "core/scoring/drift.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/scoring/anomaly.h"

namespace strata {
namespace {

constexpr double kShareFloor = 1e-4;
constexpr double kStdFloor = 1e-6;

// Error histogram edges: training quantiles, then multiples of the maximum
// so that live errors far beyond training still land in distinct buckets.
std::vector<double> ErrorEdges(const std::vector<float>& sorted) {
  std::vector<double> edges;
  for (double p : {5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0}) {
    edges.push_back(Percentile(sorted, p));
  }
  const double max = sorted.back();
  for (double m : {1.0, 2.0, 5.0, 10.0, 100.0}) edges.push_back(max * m);
  std::vector<double> unique;
  for (double e : edges) {
    if (unique.empty() || e > unique.back()) unique.push_back(e);
  }
  return unique;
}

absl::Status NonFiniteRow(Eigen::Index row, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("row ", row, " of the training data has a non-finite ", what));
}

int ErrorBin(const std::vector<double>& edges, double e) {
  // Prometheus buckets are "less or equal": the first edge >= e.
  return static_cast<int>(std::lower_bound(edges.begin(), edges.end(), e) - edges.begin());
}

}  // namespace

std::vector<float> QuantileBinEdges(std::vector<float> values, int bins) {
  std::vector<float> edges;
  if (values.empty() || bins < 2) return edges;
  std::sort(values.begin(), values.end());
  // Nearest-rank quantiles: edges are always values of the data, so a
  // discrete feature gets edges at its own levels.
  const size_t n = values.size();
  for (int i = 1; i < bins; ++i) {
    const size_t rank = (n * static_cast<size_t>(i) + bins - 1) / static_cast<size_t>(bins);
    const float e = values[std::max<size_t>(rank, 1) - 1];
    if (edges.empty() || e > edges.back()) edges.push_back(e);
  }
  // An edge at the maximum leaves an empty last bin: drop it.
  while (!edges.empty() && edges.back() >= values.back()) edges.pop_back();
  return edges;
}

int BinIndex(const float* edges, int num_edges, float x) {
  return static_cast<int>(std::lower_bound(edges, edges + num_edges, x) - edges);
}

double PopulationStabilityIndex(const std::vector<double>& expected,
                                const std::vector<double>& actual) {
  double psi = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = std::max(expected[i], kShareFloor);
    const double a = std::max(actual[i], kShareFloor);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

double OutOfRangeTrainingShare(int64_t training_rows) {
  return training_rows > 0 ? 2.0 / (static_cast<double>(training_rows) + 1) : 0;
}

double OutOfRangePsi(double live_share, int64_t training_rows) {
  const double expected = OutOfRangeTrainingShare(training_rows);
  return PopulationStabilityIndex({expected, 1 - expected}, {live_share, 1 - live_share});
}

const char* DriftLevel(double psi_scale) {
  return psi_scale > kDriftedPsi ? "DRIFTED" : psi_scale > 0.1 ? "moderate" : "stable";
}

int64_t CodeSampleStride(int64_t rows, int code_dim) {
  const int64_t cap =
      std::max<int64_t>(1, std::min(kCodeSampleRows, kCodeSampleValues / std::max(1, code_dim)));
  return std::max<int64_t>(1, (rows + cap - 1) / cap);
}

absl::StatusOr<v1::DriftBaseline> ComputeDriftBaseline(const StackedAutoencoder& net,
                                                       const Scaler& scaler, const Matrix& raw,
                                                       int bins,
                                                       const v1::AnomalyCalibration& calibration,
                                                       const BaselineClasses& classes) {
  v1::DriftBaseline b;
  b.set_training_rows(raw.rows());
  const Matrix scaled = scaler.Transform(raw);
  // NaN must not reach the sorts below.
  for (Eigen::Index r = 0; r < scaled.rows(); ++r) {
    if (!scaled.row(r).allFinite()) return NonFiniteRow(r, "scaled value");
  }
  const double n = static_cast<double>(scaled.rows());
  std::vector<float> column(static_cast<size_t>(scaled.rows()));
  for (Eigen::Index c = 0; c < scaled.cols(); ++c) {
    for (Eigen::Index r = 0; r < scaled.rows(); ++r) column[r] = scaled(r, c);
    v1::FeatureBaseline* f = b.add_features();
    const std::vector<float> edges = QuantileBinEdges(column, bins);
    f->mutable_bin_edges()->Add(edges.begin(), edges.end());
    std::vector<double> counts(edges.size() + 1, 0.0);
    double sum = 0, sq = 0;
    for (float v : column) {
      counts[BinIndex(edges.data(), static_cast<int>(edges.size()), v)] += 1;
      sum += v;
      sq += static_cast<double>(v) * v;
    }
    for (double& k : counts) k /= n;
    f->mutable_proportions()->Add(counts.begin(), counts.end());
    const double mean = sum / n;
    f->set_mean(mean);
    f->set_std(std::sqrt(std::max(0.0, sq / n - mean * mean)));
    f->set_min(*std::min_element(column.begin(), column.end()));
    f->set_max(*std::max_element(column.begin(), column.end()));
  }

  // Errors and codes, in chunks to bound memory.
  constexpr Eigen::Index kChunk = 4096;
  std::vector<float> errors;
  errors.reserve(static_cast<size_t>(scaled.rows()));
  const int code_dim = net.code_dim();
  std::vector<double> code_sum(code_dim, 0.0), code_sq(code_dim, 0.0);
  v1::CodeBaseline* code_baseline = b.mutable_code();
  const Eigen::Index sample_stride = CodeSampleStride(scaled.rows(), code_dim);
  const bool labelled =
      classes.head != nullptr && static_cast<Eigen::Index>(classes.labels.size()) == scaled.rows();
  std::vector<double> class_rows(classes.head ? classes.head->classes() : 0, 0.0);
  for (Eigen::Index start = 0; start < scaled.rows(); start += kChunk) {
    const Eigen::Index rows = std::min(kChunk, scaled.rows() - start);
    const Matrix chunk = scaled.middleRows(start, rows);
    const Matrix code = net.Encode(chunk, net.depth());
    const Matrix diff = net.Reconstruct(chunk) - chunk;
    if (classes.head != nullptr) {
      for (int k : TopClasses(classes.head->Probabilities(code))) class_rows[k] += 1;
    }
    for (Eigen::Index r = 0; r < rows; ++r) {
      errors.push_back(diff.row(r).squaredNorm() / static_cast<float>(diff.cols()));
      if (!std::isfinite(errors.back()) || !code.row(r).allFinite()) {
        return NonFiniteRow(start + r, "reconstruction error or code");
      }
      if ((start + r) % sample_stride == 0) {
        code_baseline->set_sample_rows(code_baseline->sample_rows() + 1);
        for (int u = 0; u < code_dim; ++u) code_baseline->add_sample(code(r, u));
        code_baseline->add_sample_errors(errors.back());
        if (labelled) code_baseline->add_sample_classes(classes.labels[start + r]);
      }
      for (int u = 0; u < code_dim; ++u) {
        code_sum[u] += code(r, u);
        code_sq[u] += static_cast<double>(code(r, u)) * code(r, u);
      }
    }
  }
  for (double rows : class_rows) b.add_class_proportions(rows / n);
  for (int u = 0; u < code_dim; ++u) {
    const double mean = code_sum[u] / n;
    code_baseline->add_mean(mean);
    code_baseline->add_std(std::sqrt(std::max(0.0, code_sq[u] / n - mean * mean)));
  }
  v1::ErrorBaseline* e = b.mutable_reconstruction_error();
  e->set_mean(std::accumulate(errors.begin(), errors.end(), 0.0) / n);
  std::sort(errors.begin(), errors.end());
  e->set_p50(Percentile(errors, 50));
  e->set_p90(Percentile(errors, 90));
  e->set_p95(Percentile(errors, 95));
  e->set_p99(Percentile(errors, 99));
  e->set_max(errors.back());
  const std::vector<double> edges = ErrorEdges(errors);
  e->mutable_histogram_edges()->Add(edges.begin(), edges.end());
  std::vector<double> shares(edges.size() + 1, 0.0);
  for (float err : errors) shares[ErrorBin(edges, err)] += 1.0 / n;
  e->mutable_histogram_proportions()->Add(shares.begin(), shares.end());
  b.set_expected_anomaly_ratio(1.0 - calibration.threshold_percentile() / 100.0);
  // Finite rows can still overflow a sum (the code's moments).
  if (absl::Status s = ValidateDriftBaseline(b, net.input_dim(), net.code_dim()); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the trained network's drift baseline is unusable: ", s.message()));
  }
  return b;
}

absl::Status ReduceDriftBaseline(Collective* ranks, const StackedAutoencoder& net,
                                 const Scaler& scaler, const Eigen::Ref<const Matrix>& raw,
                                 v1::DriftBaseline* b) {
  const int features = b->features_size();
  const int code_dim = b->code().mean_size();
  const std::vector<double> error_edges(b->reconstruction_error().histogram_edges().begin(),
                                        b->reconstruction_error().histogram_edges().end());
  // One buffer of sums: rows, then per feature its bins, sum and sum of
  // squares; the error bins and sum; the code's sums and sums of squares.
  std::vector<int> bin_at;
  std::vector<double> sums(1);
  for (const v1::FeatureBaseline& f : b->features()) {
    bin_at.push_back(static_cast<int>(sums.size()));
    sums.resize(sums.size() + f.bin_edges_size() + 1 + 2, 0.0);
  }
  const size_t error_at = sums.size();
  sums.resize(sums.size() + error_edges.size() + 1 + 1, 0.0);
  const size_t code_at = sums.size();
  sums.resize(sums.size() + 2 * static_cast<size_t>(code_dim), 0.0);
  std::vector<double> lo(features + 1, std::numeric_limits<double>::infinity());
  std::vector<double> hi(features + 1, -std::numeric_limits<double>::infinity());
  absl::Status local = absl::OkStatus();
  constexpr Eigen::Index kChunk = 4096;
  for (Eigen::Index start = 0; start < raw.rows() && local.ok(); start += kChunk) {
    const Eigen::Index rows = std::min(kChunk, raw.rows() - start);
    const Matrix chunk = scaler.Transform(raw.middleRows(start, rows));
    const Matrix code = net.Encode(chunk, net.depth());
    const Matrix diff = net.Reconstruct(chunk) - chunk;
    for (Eigen::Index r = 0; r < rows; ++r) {
      const double error = diff.row(r).squaredNorm() / static_cast<float>(diff.cols());
      if (!chunk.row(r).allFinite() || !std::isfinite(error) || !code.row(r).allFinite()) {
        local = NonFiniteRow(start + r, "scaled value, reconstruction error or code");
        break;
      }
      sums[0] += 1;
      for (int c = 0; c < features; ++c) {
        const v1::FeatureBaseline& f = b->features(c);
        const float v = chunk(r, c);
        double* at = &sums[bin_at[c]];
        at[BinIndex(f.bin_edges().data(), f.bin_edges_size(), v)] += 1;
        at[f.bin_edges_size() + 1] += v;
        at[f.bin_edges_size() + 2] += static_cast<double>(v) * v;
        lo[c] = std::min<double>(lo[c], v);
        hi[c] = std::max<double>(hi[c], v);
      }
      sums[error_at + ErrorBin(error_edges, error)] += 1;
      sums[error_at + error_edges.size() + 1] += error;
      hi[features] = std::max(hi[features], error);
      for (int u = 0; u < code_dim; ++u) {
        sums[code_at + u] += code(r, u);
        sums[code_at + code_dim + u] += static_cast<double>(code(r, u)) * code(r, u);
      }
    }
  }
  if (absl::Status s = AgreeOnStatus(ranks, local); !s.ok()) return s;
  if (ranks != nullptr) {
    ranks->AllReduce(absl::MakeSpan(sums), Collective::Op::kSum);
    ranks->AllReduce(absl::MakeSpan(lo), Collective::Op::kMin);
    ranks->AllReduce(absl::MakeSpan(hi), Collective::Op::kMax);
  }
  const double n = sums[0];
  b->set_training_rows(static_cast<int64_t>(n));
  for (int c = 0; c < features; ++c) {
    v1::FeatureBaseline* f = b->mutable_features(c);
    const double* at = &sums[bin_at[c]];
    for (int k = 0; k <= f->bin_edges_size(); ++k) f->set_proportions(k, at[k] / n);
    const double mean = at[f->bin_edges_size() + 1] / n;
    f->set_mean(mean);
    f->set_std(std::sqrt(std::max(0.0, at[f->bin_edges_size() + 2] / n - mean * mean)));
    f->set_min(static_cast<float>(lo[c]));
    f->set_max(static_cast<float>(hi[c]));
  }
  v1::ErrorBaseline* e = b->mutable_reconstruction_error();
  for (size_t k = 0; k <= error_edges.size(); ++k) {
    e->set_histogram_proportions(static_cast<int>(k), sums[error_at + k] / n);
  }
  e->set_mean(sums[error_at + error_edges.size() + 1] / n);
  e->set_max(hi[features]);
  v1::CodeBaseline* code = b->mutable_code();
  for (int u = 0; u < code_dim; ++u) {
    const double mean = sums[code_at + u] / n;
    code->set_mean(u, mean);
    code->set_std(u, std::sqrt(std::max(0.0, sums[code_at + code_dim + u] / n - mean * mean)));
  }
  // As ComputeDriftBaseline says it.
  if (absl::Status s = ValidateDriftBaseline(*b, net.input_dim(), net.code_dim()); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the trained network's drift baseline is unusable: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateDriftBaseline(const v1::DriftBaseline& b, int input_dim, int code_dim) {
  if (b.features_size() == 0) return absl::OkStatus();  // from before drift monitoring
  const auto finite = [](const auto& values) {
    return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
  };
  const auto ascending = [&](const auto& values) {
    return finite(values) && std::is_sorted(values.begin(), values.end());
  };
  const v1::CodeBaseline& code = b.code();
  const v1::ErrorBaseline& e = b.reconstruction_error();
  if (b.features_size() != input_dim || code.mean_size() != code_dim ||
      code.std_size() != code_dim || code.sample_rows() < 0 ||
      code.sample_size() != int64_t{code.sample_rows()} * code_dim ||
      code.sample_errors_size() != code.sample_rows() ||
      (code.sample_classes_size() != 0 && code.sample_classes_size() != code.sample_rows()) ||
      e.histogram_proportions_size() != int64_t{e.histogram_edges_size()} + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the drift baseline does not match the architecture (", b.features_size(), " features for ",
        input_dim, ", ", code.mean_size(), " code units for ", code_dim, ")"));
  }
  for (int c = 0; c < b.features_size(); ++c) {
    const v1::FeatureBaseline& f = b.features(c);
    if (f.proportions_size() != int64_t{f.bin_edges_size()} + 1 || !ascending(f.bin_edges()) ||
        !finite(f.proportions()) ||
        !finite(std::initializer_list<double>{f.mean(), f.std(), f.min(), f.max()})) {
      return absl::InvalidArgumentError(absl::StrCat("the drift baseline of feature ", c,
                                                     " has malformed bins or non-finite moments"));
    }
  }
  if (!finite(code.mean()) || !finite(code.std()) || !finite(code.sample()) ||
      !finite(code.sample_errors())) {
    return absl::InvalidArgumentError("the drift baseline's code moments are not finite");
  }
  if (!ascending(e.histogram_edges()) || !finite(e.histogram_proportions()) ||
      !finite(
          std::initializer_list<double>{e.mean(), e.p50(), e.p90(), e.p95(), e.p99(), e.max()})) {
    return absl::InvalidArgumentError(
        "the drift baseline's reconstruction errors have malformed buckets or non-finite "
        "figures");
  }
  for (double share : b.class_proportions()) {
    if (!(share >= 0 && share <= 1)) {
      return absl::InvalidArgumentError(
          "the drift baseline's class proportions must lie in [0, 1]");
    }
  }
  if (!std::isfinite(b.expected_anomaly_ratio()) || b.training_rows() < 0) {
    return absl::InvalidArgumentError(
        "the drift baseline's expected anomaly ratio or training row count is malformed");
  }
  return absl::OkStatus();
}

DriftMonitor::DriftMonitor(v1::DriftBaseline baseline, Scaler scaler,
                           std::vector<std::string> feature_names,
                           const v1::AnomalyCalibration& calibration, int64_t window_rows)
    : baseline_(std::move(baseline)),
      scaler_(std::move(scaler)),
      names_(std::move(feature_names)),
      mse_threshold_(calibration.mean_squared().threshold()),
      code_(HasCodeScores(calibration) ? calibration.code() : v1::CodeGaussian()),
      mse_scale_(calibration.mse_scale()),
      combined_threshold_(calibration.combined().threshold()),
      half_rows_(std::max<int64_t>(1, window_rows / 2)) {
  for (const v1::FeatureBaseline& f : baseline_.features()) {
    bin_offset_.push_back(total_bins_);
    total_bins_ += f.bin_edges_size() + 1;
  }
  error_edges_.assign(baseline_.reconstruction_error().histogram_edges().begin(),
                      baseline_.reconstruction_error().histogram_edges().end());
  MutexLock lock(&mu_);
  Reset(&current_);
  Reset(&previous_);
  totals_.bin_counts.assign(static_cast<size_t>(total_bins_), 0);
  totals_.out_of_range.assign(static_cast<size_t>(baseline_.features_size()), 0);
  totals_.error_bins.assign(error_edges_.size() + 1, 0);
}

void DriftMonitor::Reset(Half* h) const {
  *h = Half();
  h->bin_counts.assign(static_cast<size_t>(total_bins_), 0);
  h->sums.assign(static_cast<size_t>(baseline_.features_size()), 0.0);
  h->out_of_range.assign(static_cast<size_t>(baseline_.features_size()), 0);
  h->error_bins.assign(error_edges_.size() + 1, 0);
  h->code_sums.assign(static_cast<size_t>(baseline_.code().mean_size()), 0.0);
  h->class_counts.assign(static_cast<size_t>(baseline_.class_proportions_size()), 0);
}

void DriftMonitor::Rotate() {
  std::swap(previous_, current_);
  Reset(&current_);
}

void DriftMonitor::Observe(const Matrix& raw, const Eigen::VectorXf* row_mse, const Matrix* codes,
                           const std::vector<int>* classes) {
  const int features = baseline_.features_size();
  if (raw.cols() != features) return;
  const int num_classes = baseline_.class_proportions_size();
  const bool with_classes = classes != nullptr && num_classes > 0 &&
                            static_cast<Eigen::Index>(classes->size()) == raw.rows();
  const bool with_codes = codes != nullptr && codes->cols() == baseline_.code().mean_size();
  // The combined score's code term, outside the lock.
  const bool combined = with_codes && code_.mean_size() == codes->cols();
  const Eigen::VectorXf distance = combined ? CodeDistances(code_, *codes) : Eigen::VectorXf();
  MutexLock lock(&mu_);
  for (Eigen::Index r = 0; r < raw.rows(); ++r) {
    if (current_.rows >= half_rows_) Rotate();
    Half& h = current_;
    ++h.rows;
    ++totals_.rows;
    for (int c = 0; c < features; ++c) {
      const v1::FeatureBaseline& f = baseline_.features(c);
      const float x = (raw(r, c) - scaler_.offset()(c)) / scaler_.scale()(c);
      const int bin = bin_offset_[c] + BinIndex(f.bin_edges().data(), f.bin_edges_size(), x);
      ++h.bin_counts[bin];
      ++totals_.bin_counts[bin];
      h.sums[c] += x;
      const bool outside = x < f.min() || x > f.max();
      h.out_of_range[c] += outside;
      totals_.out_of_range[c] += outside;
    }
    if (row_mse != nullptr) {
      const double e = (*row_mse)(r);
      const int bin = ErrorBin(error_edges_, e);
      ++h.error_rows;
      h.error_sum += e;
      const bool anomaly =
          combined ? distance(r) + e / mse_scale_ > combined_threshold_ : e > mse_threshold_;
      h.anomalies += anomaly;
      ++h.error_bins[bin];
      ++totals_.error_bins[bin];
      totals_.error_sum += e;
      totals_.anomalies += anomaly;
    }
    if (with_codes) {
      ++h.code_rows;
      for (int u = 0; u < codes->cols(); ++u) h.code_sums[u] += (*codes)(r, u);
    }
    if (with_classes) {
      const int k = (*classes)[static_cast<size_t>(r)];
      if (k >= 0 && k < num_classes) {
        ++h.class_rows;
        ++h.class_counts[static_cast<size_t>(k)];
      }
    }
  }
}

v1::DriftFigures DriftMonitor::Figures() const {
  Half w;
  {
    // Copy the window under the lock; the math runs outside it.
    MutexLock lock(&mu_);
    w = current_;
    const Half& p = previous_;
    w.rows += p.rows;
    for (size_t i = 0; i < w.bin_counts.size(); ++i) w.bin_counts[i] += p.bin_counts[i];
    for (size_t i = 0; i < w.sums.size(); ++i) w.sums[i] += p.sums[i];
    for (size_t i = 0; i < w.out_of_range.size(); ++i) w.out_of_range[i] += p.out_of_range[i];
    w.error_rows += p.error_rows;
    w.error_sum += p.error_sum;
    w.anomalies += p.anomalies;
    for (size_t i = 0; i < w.error_bins.size(); ++i) w.error_bins[i] += p.error_bins[i];
    w.code_rows += p.code_rows;
    for (size_t i = 0; i < w.code_sums.size(); ++i) w.code_sums[i] += p.code_sums[i];
    w.class_rows += p.class_rows;
    for (size_t i = 0; i < w.class_counts.size(); ++i) w.class_counts[i] += p.class_counts[i];
  }
  v1::DriftFigures out;
  out.set_window_rows(w.rows);
  const v1::ErrorBaseline& eb = baseline_.reconstruction_error();
  out.set_training_error_mean(eb.mean());
  out.set_training_error_p95(eb.p95());
  out.set_expected_anomaly_ratio(baseline_.expected_anomaly_ratio());
  out.set_anomaly_score(code_.mean_size() > 0 ? "combined" : "mse");
  double score = 0;
  if (w.rows > 0) {
    const double n = static_cast<double>(w.rows);
    std::vector<v1::FeatureDrift> drifts;
    for (int c = 0; c < baseline_.features_size(); ++c) {
      const v1::FeatureBaseline& f = baseline_.features(c);
      std::vector<double> live(f.proportions_size());
      for (int b = 0; b < f.proportions_size(); ++b) live[b] = w.bin_counts[bin_offset_[c] + b] / n;
      v1::FeatureDrift d;
      d.set_name(c < static_cast<int>(names_.size()) ? names_[c] : "f" + std::to_string(c));
      d.set_index(c);
      d.set_psi(PopulationStabilityIndex({f.proportions().begin(), f.proportions().end()}, live));
      d.set_mean_shift((w.sums[c] / n - f.mean()) / std::max(f.std(), kStdFloor));
      d.set_out_of_range_ratio(w.out_of_range[c] / n);
      d.set_out_of_range_psi(OutOfRangePsi(d.out_of_range_ratio(), baseline_.training_rows()));
      d.set_drift(std::max(d.psi(), d.out_of_range_psi()));
      score = std::max(score, d.drift());
      drifts.push_back(std::move(d));
    }
    std::stable_sort(
        drifts.begin(), drifts.end(),
        [](const v1::FeatureDrift& a, const v1::FeatureDrift& b) { return a.drift() > b.drift(); });
    for (v1::FeatureDrift& d : drifts) *out.add_features() = std::move(d);
  }
  if (w.error_rows > 0) {
    const double n = static_cast<double>(w.error_rows);
    out.set_error_rows(w.error_rows);
    out.set_error_mean(w.error_sum / n);
    out.set_anomaly_ratio(w.anomalies / n);
    std::vector<double> live(w.error_bins.size());
    for (size_t b = 0; b < live.size(); ++b) live[b] = w.error_bins[b] / n;
    out.set_error_psi(PopulationStabilityIndex(
        {eb.histogram_proportions().begin(), eb.histogram_proportions().end()}, live));
    score = std::max(score, out.error_psi());
    // p95 by linear interpolation inside the bucket that holds it.
    const double target = 0.95 * n;
    double seen = 0;
    for (size_t b = 0; b < w.error_bins.size(); ++b) {
      const double next = seen + static_cast<double>(w.error_bins[b]);
      if (next >= target && w.error_bins[b] > 0) {
        const double lo = b == 0 ? 0.0 : error_edges_[b - 1];
        const double hi = b < error_edges_.size() ? error_edges_[b] : lo;
        out.set_error_p95(lo + (hi - lo) * (target - seen) / static_cast<double>(w.error_bins[b]));
        break;
      }
      seen = next;
    }
  }
  if (w.code_rows > 0) {
    const v1::CodeBaseline& cb = baseline_.code();
    double sum = 0, max = 0;
    for (int u = 0; u < cb.mean_size(); ++u) {
      const double shift =
          std::abs(w.code_sums[u] / static_cast<double>(w.code_rows) - cb.mean(u)) /
          std::max(cb.std(u), kStdFloor);
      sum += shift;
      max = std::max(max, shift);
    }
    out.set_code_rows(w.code_rows);
    out.set_code_drift_mean(cb.mean_size() ? sum / cb.mean_size() : 0);
    out.set_code_drift_max(max);
  }
  if (w.class_rows > 0) {
    std::vector<double> live(w.class_counts.size());
    for (size_t k = 0; k < live.size(); ++k) {
      live[k] = static_cast<double>(w.class_counts[k]) / static_cast<double>(w.class_rows);
    }
    out.set_class_rows(w.class_rows);
    out.mutable_class_shares()->Assign(live.begin(), live.end());
    out.set_class_psi(PopulationStabilityIndex(
        {baseline_.class_proportions().begin(), baseline_.class_proportions().end()}, live));
    score = std::max(score, out.class_psi());
  }
  if (w.rows > 0) out.set_drift_score(score);
  return out;
}

DriftMonitor::Totals DriftMonitor::Cumulative() const {
  MutexLock lock(&mu_);
  return totals_;
}

}  // namespace strata

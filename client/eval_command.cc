// strata eval: how good a served model is on labelled data — reconstruction
// error; for 0/1 anomaly labels ROC-AUC and average precision of its scores;
// for class labels a linear probe on its codes against the same probe on the
// raw features and on PCA features of the code's width, or the accuracy,
// confusion matrix, precision and recall of its classifier head.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <numeric>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/server_gone.h"
#include "core/analysis/pca.h"
#include "core/data/class_labels.h"
#include "core/data/csv_reader.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/evaluation.h"
#include "proto/dense_matrix.h"

namespace strata::cli {
namespace {

// The core's metric of an answer's metric.
ScoreMetric CoreMetric(v1::ScoreOptions::Metric metric) {
  switch (metric) {
    case v1::ScoreOptions::ENSEMBLE:
      return ScoreMetric::kEnsemble;
    case v1::ScoreOptions::COMBINED:
      return ScoreMetric::kCombined;
    case v1::ScoreOptions::CODE_DISTANCE:
      return ScoreMetric::kCodeDistance;
    case v1::ScoreOptions::MEAN_ABSOLUTE:
      return ScoreMetric::kMeanAbsolute;
    default:
      return ScoreMetric::kMeanSquared;
  }
}

constexpr Eigen::Index kBatchRows = 4096;

int Fail(const absl::Status& status) { return cli::Fail("eval", status); }

// The features (every column but `label_column`, named by the header), with
// each row's label cell as text (CsvTable::labels) and its line.
absl::StatusOr<CsvTable> ReadLabelled(const std::string& path, const std::string& label_column) {
  CsvOptions csv;
  csv.header = CsvOptions::Header::kPresent;
  csv.label_column = label_column;
  return ReadCsvFile(path, csv);
}

// The labels as class numbers (0, 1, 2, ...), for --task anomaly and classes.
absl::Status NumericLabels(const std::string& path, const std::string& label_column,
                           const std::vector<std::string>& texts, const std::vector<int>& lines,
                           std::vector<int>* labels) {
  labels->resize(texts.size());
  for (size_t r = 0; r < texts.size(); ++r) {
    if (IsMissingLabel(texts[r])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: line %d, column %s: no label ('%s'); --task anomaly and classes need one on every "
          "row (--task head skips rows without one)",
          path, lines[r], label_column, absl::CHexEscape(texts[r])));
    }
    double v = 0;
    const bool number = absl::SimpleAtod(texts[r], &v) && std::isfinite(v);
    if (!number || v != std::floor(v) || v < 0 || v > 1e6) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: line %d, column %s: the label '%s' is not a class number (0, 1, 2, ...)%s", path,
          lines[r], label_column, absl::CHexEscape(texts[r]),
          number ? ""
                 : "; class names are for --task head, which measures a model's classifier "
                   "head (rows without a label are skipped there)"));
    }
    (*labels)[r] = static_cast<int>(v);
  }
  return absl::OkStatus();
}

std::string Pct(double v) { return absl::StrFormat("%.4f", v); }

}  // namespace

int RunEval(const GlobalFlags& global, const std::vector<std::string>& args) {
  ModelFlags target;
  std::string data, label_column, task = "auto";
  int folds = 5;
  FlagSet flags("eval",
                "Measures a served model on labelled data (a CSV with a header):\n"
                "  reconstruction error (MSE per row, in scaled units), always;\n"
                "  --task anomaly (0/1 labels, 1 = anomaly): ROC-AUC and average precision of\n"
                "    its anomaly scores, and precision/recall at the calibrated threshold;\n"
                "  --task classes: accuracy of a linear probe (multinomial logistic regression,\n"
                "    cross-validated) on its codes, on the raw features and on PCA features of\n"
                "    the code's width;\n"
                "  --task head (a model trained with class labels; labels are its class names):\n"
                "    accuracy, confusion matrix and per-class precision and recall of its\n"
                "    classifier head (Predict); rows without a label (empty, NA, NaN, N/A, null,\n"
                "    None) are skipped and counted.\n"
                "auto picks anomaly for 0/1 labels, else classes. Ends with a RESULT line.");
  target.Add(&flags);
  flags.AddString("data", &data, "FILE.csv", "labelled rows, with a header", true);
  flags.AddString("label_column", &label_column, "COL", "the column holding the labels", true);
  flags.AddString("task", &task, "auto|anomaly|classes|head", "what the labels mean");
  flags.AddInt("folds", &folds, "cross-validation folds of the linear probe");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = target.Check(); !s.ok()) {
    Fail(s);
    return kExitUsage;
  }
  if ((task != "auto" && task != "anomaly" && task != "classes" && task != "head") || folds < 2) {
    std::cerr << "strata eval: --task is auto, anomaly, classes or head; --folds at least 2\n";
    return kExitUsage;
  }
  absl::StatusOr<CsvTable> read = ReadLabelled(data, label_column);
  if (!read.ok()) return Fail(read.status());
  CsvTable table = *std::move(read);
  const std::vector<std::string> label_texts = std::move(table.labels);
  const std::vector<int> label_lines = table.lines;
  // Class numbers (anomaly, classes), or for the head each row's class among
  // the model's (kUnlabelled for a row without a label).
  std::vector<int> y;
  std::set<int> classes;
  if (task != "head") {
    if (absl::Status s = NumericLabels(data, label_column, label_texts, label_lines, &y); !s.ok()) {
      return Fail(s);
    }
    classes.insert(y.begin(), y.end());
    const bool binary = *classes.rbegin() <= 1;
    if (task == "auto") task = binary ? "anomaly" : "classes";
    if (task == "anomaly" && !binary) {
      return Fail(
          absl::InvalidArgumentError(absl::StrCat("--task anomaly needs 0/1 labels; ", label_column,
                                                  " holds ", classes.size(), " classes")));
    }
    if (classes.size() < 2) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(label_column, " holds one value only: nothing to evaluate against")));
    }
  }

  auto client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  // One version answers every batch (a hot swap mid-way cannot mix two
  // models): the one GetModel resolves the flags to.
  v1::ModelSpec pinned = target.Spec();
  absl::StatusOr<v1::GetModelResponse> info = (*client)->GetModel(pinned);
  if (!info.ok()) {
    return Fail(ServerGone(ExplainUnservedVersion(info.status(), pinned, "eval"), global.server, ""));
  }
  pinned.set_version(info->model().version());
  const std::vector<std::string> class_names(info->class_names().begin(),
                                             info->class_names().end());
  int64_t unlabelled = 0;
  if (task == "head") {
    if (class_names.empty()) {
      return Fail(absl::FailedPreconditionError(absl::StrFormat(
          "--task head measures a classifier head, and %s version %d has none (it was trained "
          "without class labels); --task classes probes its codes instead",
          info->model().name(), info->model().version())));
    }
    absl::StatusOr<std::vector<int>> truth =
        MatchClassLabels(label_texts, class_names, label_lines);
    if (!truth.ok()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(data, ", column ", label_column, ": ", truth.status().message())));
    }
    y = *std::move(truth);
    unlabelled = std::count(y.begin(), y.end(), kUnlabelled);
    if (unlabelled == static_cast<int64_t>(y.size())) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(data, ": none of the ", y.size(), " rows has a label in ", label_column,
                       " (every cell is empty or NA, NaN, N/A, null or None)")));
    }
  }
  // Columns matched to the model's by name; scores (and, for a probe, codes;
  // for the head, its classes) in batches.
  absl::StatusOr<ModelInput> input = MatchModelColumns(**client, pinned, std::move(table));
  if (!input.ok()) return Fail(ServerGone(input.status(), global.server, ""));
  const Matrix& x = input->values;
  const v1::ModelSpec& spec = input->spec;
  std::vector<double> scores, mse;
  std::vector<int> flagged, predicted;
  std::string metric, description;
  Matrix codes;
  float threshold = 0;
  // A batch's call failed: the server going away is said in words, with
  // how far the measuring got (it prints at the end).
  const auto batch_failed = [&](const absl::Status& status, Eigen::Index start) {
    return Fail(ServerGone(
        status, global.server,
        absl::StrCat(start, " of ", x.rows(), " rows had been measured; nothing was printed")));
  };
  for (Eigen::Index start = 0; start < x.rows(); start += kBatchRows) {
    const Eigen::Index n = std::min(kBatchRows, x.rows() - start);
    v1::AnomalyScoreRequest request;
    *request.mutable_model() = spec;
    ToDenseMatrix(x.middleRows(start, n), request.mutable_rows(), input->column_names);
    // The model's default score, and the squared errors behind the MSE.
    request.mutable_options()->set_feature_errors(true);
    absl::StatusOr<v1::AnomalyScoreResponse> response = (*client)->AnomalyScore(request);
    if (!response.ok()) return batch_failed(response.status(), start);
    if (absl::Status s = CheckRowsAnswered(n, response->scores_size(), start); !s.ok()) {
      return Fail(s);
    }
    threshold = response->threshold();
    metric = absl::AsciiStrToLower(v1::ScoreOptions::Metric_Name(response->metric()));
    description = MetricDescription(CoreMetric(response->metric()));
    for (const v1::RowScore& s : response->scores()) {
      scores.push_back(s.score());
      flagged.push_back(s.is_anomaly());
      mse.push_back(std::accumulate(s.feature_errors().begin(), s.feature_errors().end(), 0.0) /
                    s.feature_errors_size());
    }
    if (task == "classes") {
      v1::EncodeRequest encode;
      *encode.mutable_model() = spec;
      ToDenseMatrix(x.middleRows(start, n), encode.mutable_rows(), input->column_names);
      absl::StatusOr<v1::EncodeResponse> features = (*client)->Encode(encode);
      if (!features.ok()) return batch_failed(features.status(), start);
      if (absl::Status s = CheckRowsAnswered(n, features->features().rows(), start); !s.ok()) {
        return Fail(s);
      }
      absl::StatusOr<Matrix> f = FromDenseMatrix(features->features(), "features");
      if (!f.ok()) return Fail(f.status());
      if (start == 0) codes.resize(x.rows(), f->cols());
      codes.middleRows(start, n) = *f;
    }
    if (task == "head") {
      v1::PredictRequest predict;
      *predict.mutable_model() = spec;
      ToDenseMatrix(x.middleRows(start, n), predict.mutable_rows(), input->column_names);
      absl::StatusOr<v1::PredictResponse> answer = (*client)->Predict(predict);
      if (!answer.ok()) return Fail(answer.status());
      if (absl::Status s = CheckRowsAnswered(n, answer->predictions_size(), start); !s.ok()) {
        return Fail(s);
      }
      for (const v1::RowPrediction& p : answer->predictions()) {
        if (p.top_index() < 0 || p.top_index() >= static_cast<int>(class_names.size())) {
          return Fail(absl::InternalError(absl::StrCat("the server answered class ", p.top_index(),
                                                       " of a head with ", class_names.size(),
                                                       " classes; no figure can be trusted")));
        }
        predicted.push_back(p.top_index());
      }
    }
  }
  std::vector<double> sorted = mse;
  std::sort(sorted.begin(), sorted.end());
  const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  auto percentile = [&](double p) { return sorted[static_cast<size_t>(p * (sorted.size() - 1))]; };
  std::cout << absl::StrFormat(
      "%s version %d on %s: %d rows, %d features\n"
      "reconstruction MSE per row: mean %.6g, p50 %.6g, p95 %.6g, max %.6g\n"
      "anomaly score %s: %d above the threshold %.6g\n  (%s)\n",
      target.model, spec.version(), data, x.rows(), x.cols(), mean, percentile(0.5),
      percentile(0.95), sorted.back(), metric, std::count(flagged.begin(), flagged.end(), 1),
      threshold, description);

  if (task == "anomaly") {
    const double auc = RocAuc(scores, y), ap = AveragePrecision(scores, y);
    int tp = 0, positives = 0, predicted_positive = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      positives += y[i];
      predicted_positive += flagged[i];
      tp += y[i] && flagged[i];
    }
    const double precision =
        predicted_positive ? static_cast<double>(tp) / predicted_positive : 0.0;
    const double recall = static_cast<double>(tp) / positives;
    std::cout << absl::StrFormat(
        "anomalies (%s = 1): %d of %d rows\n"
        "ROC-AUC %.4f   average precision %.4f   at the threshold: precision %.4f, recall "
        "%.4f\n"
        "RESULT auc=%.4f average_precision=%.4f precision=%.4f recall=%.4f mse_mean=%.6g\n",
        label_column, positives, y.size(), auc, ap, precision, recall, auc, ap, precision, recall,
        mean);
    return kExitOk;
  }

  if (task == "head") {
    const ClassifierMetrics head =
        EvaluateClassifier(y, predicted, static_cast<int>(class_names.size()));
    std::cout << absl::StrFormat(
        "classifier head, %d classes: %d labelled rows (%d rows without a label in %s "
        "skipped)\n"
        "accuracy %.4f\n",
        class_names.size(), head.rows, unlabelled, label_column, head.accuracy);
    PrintClassifierMetrics(class_names, head);
    std::cout << absl::StrFormat(
        "RESULT head_accuracy=%.4f labelled_rows=%d unlabelled_rows=%d classes=%d "
        "mse_mean=%.6g\n",
        head.accuracy, head.rows, unlabelled, class_names.size(), mean);
    return kExitOk;
  }

  // Linear probes: the same classifier on three feature sets.
  ProbeOptions probe;
  probe.folds = folds;
  absl::StatusOr<Pca> pca =
      FitPca(x, std::min<int>(static_cast<int>(codes.cols()), static_cast<int>(x.cols())));
  if (!pca.ok()) return Fail(pca.status());
  struct Row {
    std::string name;
    const Matrix features;
  };
  const Row rows[] = {{"codes", codes}, {"raw features", x}, {"PCA", pca->Project(x)}};
  std::map<std::string, double> accuracy;
  std::cout << absl::StrFormat("linear probe, %d classes, %d-fold cross-validation:\n",
                               classes.size(), folds);
  for (const Row& row : rows) {
    absl::StatusOr<ProbeResult> r = LinearProbe(row.features, y, probe);
    if (!r.ok()) return Fail(r.status());
    accuracy[row.name] = r->mean_accuracy;
    std::cout << absl::StrFormat("  %-13s width %4d   accuracy %s +- %s\n", row.name,
                                 row.features.cols(), Pct(r->mean_accuracy), Pct(r->std_accuracy));
  }
  if (!class_names.empty()) {
    std::cout << absl::StrFormat(
        "  (%s version %d has a classifier head: --task head measures it, with its class names "
        "as labels)\n",
        info->model().name(), info->model().version());
  }
  std::cout << absl::StrFormat(
      "RESULT probe_codes=%.4f probe_raw=%.4f probe_pca=%.4f code_width=%d mse_mean=%.6g\n",
      accuracy["codes"], accuracy["raw features"], accuracy["PCA"], codes.cols(), mean);
  return kExitOk;
}

}  // namespace strata::cli

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
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/cli/server_gone.h"
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

struct EvalFlags {
  ModelFlags target;
  std::string data;
  std::string label_column;
  // auto, anomaly, classes or head; auto is resolved by the labels.
  std::string task = "auto";
  int folds = 5;
};

// Parses `args` into `f`. Returns -1 to go on, else the exit code.
int ParseEvalFlags(const std::vector<std::string>& args, EvalFlags* f) {
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
  f->target.Add(&flags);
  flags.AddString("data", &f->data, "FILE.csv", "labelled rows, with a header", true);
  flags.AddString("label_column", &f->label_column, "COL", "the column holding the labels", true);
  flags.AddString("task", &f->task, "auto|anomaly|classes|head", "what the labels mean");
  flags.AddInt("folds", &f->folds, "cross-validation folds of the linear probe");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = f->target.Check(); !s.ok()) {
    Fail(s);
    return kExitUsage;
  }
  const std::string& task = f->task;
  if ((task != "auto" && task != "anomaly" && task != "classes" && task != "head") ||
      f->folds < 2) {
    std::cerr << "strata eval: --task is auto, anomaly, classes or head; --folds at least 2\n";
    return kExitUsage;
  }
  return -1;
}

// What the rows' labels are: class numbers (anomaly, classes), or for the
// head each row's class among the model's (kUnlabelled for a row without a
// label).
struct EvalLabels {
  std::vector<int> y;
  // The class numbers seen (anomaly, classes).
  std::set<int> classes;
  // The head: rows without a label.
  int64_t unlabelled = 0;
};

// The labels as class numbers, for every task but the head; resolves
// f->task "auto" to anomaly (0/1 labels) or classes.
absl::Status ClassNumberLabels(const std::vector<std::string>& texts, const std::vector<int>& lines,
                               EvalFlags* f, EvalLabels* labels) {
  if (absl::Status s = NumericLabels(f->data, f->label_column, texts, lines, &labels->y); !s.ok()) {
    return s;
  }
  std::set<int>& classes = labels->classes;
  classes.insert(labels->y.begin(), labels->y.end());
  const bool binary = *classes.rbegin() <= 1;
  if (f->task == "auto") f->task = binary ? "anomaly" : "classes";
  if (f->task == "anomaly" && !binary) {
    return absl::InvalidArgumentError(absl::StrCat("--task anomaly needs 0/1 labels; ",
                                                   f->label_column, " holds ", classes.size(),
                                                   " classes"));
  }
  if (classes.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(f->label_column, " holds one value only: nothing to evaluate against"));
  }
  return absl::OkStatus();
}

// --task head: each row's class among `info`'s class names.
absl::Status HeadLabels(const std::vector<std::string>& texts, const std::vector<int>& lines,
                        const EvalFlags& f, const v1::GetModelResponse& info,
                        const std::vector<std::string>& class_names, EvalLabels* labels) {
  if (class_names.empty()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "--task head measures a classifier head, and %s version %d has none (it was trained "
        "without class labels); --task classes probes its codes instead",
        info.model().name(), info.model().version()));
  }
  absl::StatusOr<std::vector<int>> truth = MatchClassLabels(texts, class_names, lines);
  if (!truth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.data, ", column ", f.label_column, ": ", truth.status().message()));
  }
  std::vector<int>& y = labels->y;
  y = *std::move(truth);
  labels->unlabelled = std::count(y.begin(), y.end(), kUnlabelled);
  if (labels->unlabelled == static_cast<int64_t>(y.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.data, ": none of the ", y.size(), " rows has a label in ", f.label_column,
                     " (every cell is empty or NA, NaN, N/A, null or None)"));
  }
  return absl::OkStatus();
}

// What the server answered for every row.
struct Measurements {
  std::vector<double> scores, mse;
  std::vector<int> flagged, predicted;
  std::string metric, description;
  // --task classes: the rows' codes.
  Matrix codes;
  float threshold = 0;
};

// A batch of the rows measured: rows [start, start + n) of the input.
struct Batch {
  StrataClient& client;
  const ModelInput& input;
  Eigen::Index start;
  Eigen::Index n;
  // A call's failure: the server going away is said in words, with how far
  // the measuring got (it prints at the end).
  absl::Status Failed(const absl::Status& status, const std::string& server) const {
    return ServerGone(status, server,
                      absl::StrCat(start, " of ", input.values.rows(),
                                   " rows had been measured; nothing was printed"));
  }
  void Rows(v1::DenseMatrix* rows) const {
    ToDenseMatrix(input.values.middleRows(start, n), rows, input.column_names);
  }
};

// The batch's anomaly scores, each row's flag and reconstruction MSE.
absl::Status ScoreBatch(const Batch& b, const std::string& server, Measurements* m) {
  v1::AnomalyScoreRequest request;
  *request.mutable_model() = b.input.spec;
  b.Rows(request.mutable_rows());
  // The model's default score, and the squared errors behind the MSE.
  request.mutable_options()->set_feature_errors(true);
  absl::StatusOr<v1::AnomalyScoreResponse> response = b.client.AnomalyScore(request);
  if (!response.ok()) return b.Failed(response.status(), server);
  if (absl::Status s = CheckRowsAnswered(b.n, response->scores_size(), b.start); !s.ok()) {
    return s;
  }
  m->threshold = response->threshold();
  m->metric = absl::AsciiStrToLower(v1::ScoreOptions::Metric_Name(response->metric()));
  m->description = MetricDescription(CoreMetric(response->metric()));
  for (const v1::RowScore& s : response->scores()) {
    m->scores.push_back(s.score());
    m->flagged.push_back(s.is_anomaly());
    m->mse.push_back(std::accumulate(s.feature_errors().begin(), s.feature_errors().end(), 0.0) /
                     s.feature_errors_size());
  }
  return absl::OkStatus();
}

// --task classes: the batch's codes, for the probe.
absl::Status EncodeBatch(const Batch& b, const std::string& server, Measurements* m) {
  v1::EncodeRequest encode;
  *encode.mutable_model() = b.input.spec;
  b.Rows(encode.mutable_rows());
  absl::StatusOr<v1::EncodeResponse> features = b.client.Encode(encode);
  if (!features.ok()) return b.Failed(features.status(), server);
  if (absl::Status s = CheckRowsAnswered(b.n, features->features().rows(), b.start); !s.ok()) {
    return s;
  }
  absl::StatusOr<Matrix> f = FromDenseMatrix(features->features(), "features");
  if (!f.ok()) return f.status();
  if (b.start == 0) m->codes.resize(b.input.values.rows(), f->cols());
  m->codes.middleRows(b.start, b.n) = *f;
  return absl::OkStatus();
}

// --task head: the class the head predicts for each row of the batch.
absl::Status PredictBatch(const Batch& b, size_t classes, Measurements* m) {
  v1::PredictRequest predict;
  *predict.mutable_model() = b.input.spec;
  b.Rows(predict.mutable_rows());
  absl::StatusOr<v1::PredictResponse> answer = b.client.Predict(predict);
  if (!answer.ok()) return answer.status();
  if (absl::Status s = CheckRowsAnswered(b.n, answer->predictions_size(), b.start); !s.ok()) {
    return s;
  }
  for (const v1::RowPrediction& p : answer->predictions()) {
    if (p.top_index() < 0 || p.top_index() >= static_cast<int>(classes)) {
      return absl::InternalError(absl::StrCat("the server answered class ", p.top_index(),
                                              " of a head with ", classes,
                                              " classes; no figure can be trusted"));
    }
    m->predicted.push_back(p.top_index());
  }
  return absl::OkStatus();
}

// Every row's scores (and, for a probe, codes; for the head, its classes),
// in batches of kBatchRows.
absl::Status Measure(StrataClient& client, const ModelInput& input, const std::string& task,
                     size_t classes, const std::string& server, Measurements* m) {
  const Eigen::Index rows = input.values.rows();
  for (Eigen::Index start = 0; start < rows; start += kBatchRows) {
    const Batch batch{client, input, start, std::min(kBatchRows, rows - start)};
    if (absl::Status s = ScoreBatch(batch, server, m); !s.ok()) return s;
    if (task == "classes") {
      if (absl::Status s = EncodeBatch(batch, server, m); !s.ok()) return s;
    }
    if (task == "head") {
      if (absl::Status s = PredictBatch(batch, classes, m); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// The rows, the reconstruction MSE per row and the anomaly scores; returns
// the mean MSE, for the RESULT line.
double PrintMeasured(const EvalFlags& f, const ModelInput& input, const Measurements& m) {
  const Matrix& x = input.values;
  std::vector<double> sorted = m.mse;
  std::sort(sorted.begin(), sorted.end());
  const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  auto percentile = [&](double p) { return sorted[static_cast<size_t>(p * (sorted.size() - 1))]; };
  std::cout << absl::StrFormat(
      "%s version %d on %s: %d rows, %d features\n"
      "reconstruction MSE per row: mean %.6g, p50 %.6g, p95 %.6g, max %.6g\n"
      "anomaly score %s: %d above the threshold %.6g\n  (%s)\n",
      f.target.model, input.spec.version(), f.data, x.rows(), x.cols(), mean, percentile(0.5),
      percentile(0.95), sorted.back(), m.metric, std::count(m.flagged.begin(), m.flagged.end(), 1),
      m.threshold, m.description);
  return mean;
}

// --task anomaly: ROC-AUC, average precision, and precision and recall at
// the threshold.
void PrintAnomalyResult(const EvalFlags& f, const std::vector<int>& y, const Measurements& m,
                        double mean) {
  const double auc = RocAuc(m.scores, y), ap = AveragePrecision(m.scores, y);
  int tp = 0, positives = 0, predicted_positive = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    positives += y[i];
    predicted_positive += m.flagged[i];
    tp += y[i] && m.flagged[i];
  }
  const double precision = predicted_positive ? static_cast<double>(tp) / predicted_positive : 0.0;
  const double recall = static_cast<double>(tp) / positives;
  std::cout << absl::StrFormat(
      "anomalies (%s = 1): %d of %d rows\n"
      "ROC-AUC %.4f   average precision %.4f   at the threshold: precision %.4f, recall "
      "%.4f\n"
      "RESULT auc=%.4f average_precision=%.4f precision=%.4f recall=%.4f mse_mean=%.6g\n",
      f.label_column, positives, y.size(), auc, ap, precision, recall, auc, ap, precision, recall,
      mean);
}

// --task head: accuracy, the confusion matrix, per-class precision and recall.
void PrintHeadResult(const EvalFlags& f, const EvalLabels& labels,
                     const std::vector<std::string>& class_names, const Measurements& m,
                     double mean) {
  const ClassifierMetrics head =
      EvaluateClassifier(labels.y, m.predicted, static_cast<int>(class_names.size()));
  std::cout << absl::StrFormat(
      "classifier head, %d classes: %d labelled rows (%d rows without a label in %s "
      "skipped)\n"
      "accuracy %.4f\n",
      class_names.size(), head.rows, labels.unlabelled, f.label_column, head.accuracy);
  PrintClassifierMetrics(class_names, head);
  std::cout << absl::StrFormat(
      "RESULT head_accuracy=%.4f labelled_rows=%d unlabelled_rows=%d classes=%d "
      "mse_mean=%.6g\n",
      head.accuracy, head.rows, labels.unlabelled, class_names.size(), mean);
}

// --task classes: the same linear probe on the codes, the raw features and
// PCA features of the code's width.
absl::Status PrintProbeResult(const EvalFlags& f, const EvalLabels& labels, const Matrix& x,
                              const Measurements& m, const v1::GetModelResponse& info,
                              double mean) {
  const Matrix& codes = m.codes;
  ProbeOptions probe;
  probe.folds = f.folds;
  absl::StatusOr<Pca> pca =
      FitPca(x, std::min<int>(static_cast<int>(codes.cols()), static_cast<int>(x.cols())));
  if (!pca.ok()) return pca.status();
  struct Row {
    std::string name;
    const Matrix features;
  };
  const Row rows[] = {{"codes", codes}, {"raw features", x}, {"PCA", pca->Project(x)}};
  std::map<std::string, double> accuracy;
  std::cout << absl::StrFormat("linear probe, %d classes, %d-fold cross-validation:\n",
                               labels.classes.size(), f.folds);
  for (const Row& row : rows) {
    absl::StatusOr<ProbeResult> r = LinearProbe(row.features, labels.y, probe);
    if (!r.ok()) return r.status();
    accuracy[row.name] = r->mean_accuracy;
    std::cout << absl::StrFormat("  %-13s width %4d   accuracy %s +- %s\n", row.name,
                                 row.features.cols(), Pct(r->mean_accuracy), Pct(r->std_accuracy));
  }
  if (info.class_names_size() > 0) {
    std::cout << absl::StrFormat(
        "  (%s version %d has a classifier head: --task head measures it, with its class names "
        "as labels)\n",
        info.model().name(), info.model().version());
  }
  std::cout << absl::StrFormat(
      "RESULT probe_codes=%.4f probe_raw=%.4f probe_pca=%.4f code_width=%d mse_mean=%.6g\n",
      accuracy["codes"], accuracy["raw features"], accuracy["PCA"], codes.cols(), mean);
  return absl::OkStatus();
}

}  // namespace

int RunEval(const GlobalFlags& global, const std::vector<std::string>& args) {
  EvalFlags f;
  if (int code = ParseEvalFlags(args, &f); code >= 0) return code;
  absl::StatusOr<CsvTable> read = ReadLabelled(f.data, f.label_column);
  if (!read.ok()) return Fail(read.status());
  CsvTable table = *std::move(read);
  const std::vector<std::string> label_texts = std::move(table.labels);
  const std::vector<int> label_lines = table.lines;
  EvalLabels labels;
  if (f.task != "head") {
    if (absl::Status s = ClassNumberLabels(label_texts, label_lines, &f, &labels); !s.ok()) {
      return Fail(s);
    }
  }

  auto client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  // One version answers every batch (a hot swap mid-way cannot mix two
  // models): the one GetModel resolves the flags to.
  v1::ModelSpec pinned = f.target.Spec();
  absl::StatusOr<v1::GetModelResponse> info = (*client)->GetModel(pinned);
  if (!info.ok()) {
    return Fail(
        ServerGone(ExplainUnservedVersion(info.status(), pinned, "eval"), global.server, ""));
  }
  pinned.set_version(info->model().version());
  const std::vector<std::string> class_names(info->class_names().begin(),
                                             info->class_names().end());
  if (f.task == "head") {
    if (absl::Status s = HeadLabels(label_texts, label_lines, f, *info, class_names, &labels);
        !s.ok()) {
      return Fail(s);
    }
  }
  // Columns matched to the model's by name.
  absl::StatusOr<ModelInput> input = MatchModelColumns(**client, pinned, std::move(table));
  if (!input.ok()) return Fail(ServerGone(input.status(), global.server, ""));
  Measurements m;
  if (absl::Status s = Measure(**client, *input, f.task, class_names.size(), global.server, &m);
      !s.ok()) {
    return Fail(s);
  }
  const double mean = PrintMeasured(f, *input, m);
  if (f.task == "anomaly") {
    PrintAnomalyResult(f, labels.y, m, mean);
  } else if (f.task == "head") {
    PrintHeadResult(f, labels, class_names, m, mean);
  } else if (absl::Status s = PrintProbeResult(f, labels, input->values, m, *info, mean); !s.ok()) {
    return Fail(s);
  }
  return kExitOk;
}

}  // namespace strata::cli

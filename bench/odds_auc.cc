// Anomaly detection on labelled ODDS sets, the ADBench way: for every CSV in
// --data_dir (last column `label`, 1 = anomaly) and every split seed, a
// stratified 70/30 split; strata trains a model on the training part through
// a TrainJob (labels dropped, anomalies left in) and scores the test part
// through AnomalyScore. On the same split, bench/odds_baselines.py fits the
// classical detectors (IsolationForest, PCA, kNN, LOF, MCD, one-class SVM,
// ECOD) on the standard-scaled training part. Each set's figure is the mean
// over the seeds; ROC-AUC and average precision are printed per set and
// method.
//
//   odds_auc_bench --target=127.0.0.1:PORT --data_dir=DIR --work=DIR [--seeds=0,1,2]
//                  [--config=FILE.json] [--metric=M] [--dump_dir=DIR]
//
// The classical ensemble (bench/odds_baselines.py's "Ensemble") is a baseline
// of its own, never the best single detector. Half a of the panel is the sets
// at odd positions of the case-insensitive alphabetical order, half b the
// even ones; each set's gap is strata's AUC minus the best single detector's
// on that set.
//
// Ends with: RESULT mean_auc=... mean_ap=... best_baseline=<name> best_baseline_auc=...
//   best_baseline_ap=... ensemble_baseline_auc=... ensemble_baseline_ap=...
//   mean_auc_half_a=... mean_auc_half_b=... best_baseline_auc_half_a=...
//   best_baseline_auc_half_b=... ensemble_baseline_auc_half_a=... ensemble_baseline_auc_half_b=...
//   worst_gap=... worst_gap_set=<name> oracle_auc=<mean over sets of the best single detector
//   on that set> met=<true|false> sets=... seeds=...
// The best baseline of a group of sets is the single detector with the highest mean AUC among
// those that ran on every set of it (the one-class SVM skips sets over 20,000 rows). `met` is
// issue 33's bar: on the panel and on each half, mean_auc >= best + 0.01 and >= the
// ensemble's; worst_gap >= -0.10.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
#include "bench/odds_report.h"
#include "client/strata_client.h"
#include "core/base/file_util.h"
#include "core/data/csv_reader.h"
#include "core/scoring/evaluation.h"
#include "core/train/train_config.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(std::string, data_dir, "../shared/data/odds", "directory of labelled CSV files");
ABSL_FLAG(std::string, work, "/tmp", "scratch directory for the baselines' files");
ABSL_FLAG(std::string, config, "", "TrainConfig JSON (default: strata's defaults)");
ABSL_FLAG(std::string, seeds, "0,1,2", "split seeds, comma-separated");
ABSL_FLAG(std::string, metric, "",
          "score metric (COMBINED, MEAN_SQUARED, MEAN_ABSOLUTE, CODE_DISTANCE); default: the "
          "server's default");
ABSL_FLAG(int, ensemble, 1,
          "models per split, trained with consecutive seeds, their scores averaged as ranks "
          "(an experiment: the server scores with one model)");
ABSL_FLAG(std::string, dump_dir, "",
          "also write each split's rows and strata's scores of every metric, for train and "
          "test rows, into this directory (for experiments)");

ABSL_FLAG(bool, baselines, true,
          "also run the classical detectors (bench/odds_baselines.py); false for quick "
          "experiments on strata alone");

namespace strata {
namespace {

using bench::Figures;
using bench::Mean;
using bench::SetResult;

struct Split {
  Matrix train, test;
  std::vector<int> test_labels;
  int anomalies = 0;
};

// Stratified 70/30: each class's rows shuffled with `seed`, the first 70% train.
Split StratifiedSplit(const Matrix& x, const std::vector<int>& y, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Eigen::Index> train, test;
  for (int cls : {0, 1}) {
    std::vector<Eigen::Index> rows;
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      if (y[r] == cls) rows.push_back(r);
    }
    std::shuffle(rows.begin(), rows.end(), rng);
    const size_t n_train = static_cast<size_t>(std::lround(0.7 * rows.size()));
    train.insert(train.end(), rows.begin(), rows.begin() + n_train);
    test.insert(test.end(), rows.begin() + n_train, rows.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
  Split s;
  s.train.resize(train.size(), x.cols());
  s.test.resize(test.size(), x.cols());
  for (size_t i = 0; i < train.size(); ++i) s.train.row(i) = x.row(train[i]);
  for (size_t i = 0; i < test.size(); ++i) {
    s.test.row(i) = x.row(test[i]);
    s.test_labels.push_back(y[test[i]]);
    s.anomalies += y[test[i]];
  }
  return s;
}

void WriteCsv(const std::string& path, const Matrix& x, const std::vector<int>* labels) {
  std::ofstream out(path);
  out.precision(9);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (Eigen::Index c = 0; c < x.cols(); ++c) out << (c ? "," : "") << x(r, c);
    if (labels) out << "," << (*labels)[r];
    out << "\n";
  }
}

// The classical detectors' figures on one split (bench/odds_baselines.py),
// in its order; empty when the helper does not run.
std::vector<std::pair<std::string, Figures>> Baselines(const std::string& train,
                                                       const std::string& test) {
  std::vector<std::pair<std::string, Figures>> out;
  FILE* p = popen(absl::StrCat("/usr/bin/python3 bench/odds_baselines.py ", train, " ", test,
                               " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) {
    std::vector<std::string> f = absl::StrSplit(absl::StripAsciiWhitespace(buf), ' ');
    if (f.size() != 3) continue;
    Figures fig;
    if (!absl::SimpleAtod(f[1], &fig.auc) || !absl::SimpleAtod(f[2], &fig.ap)) continue;
    out.emplace_back(f[0], fig);
  }
  if (pclose(p) != 0) out.clear();
  return out;
}

// strata's scores of `rows` from the model version trained in `job`.
absl::StatusOr<std::vector<double>> Scores(StrataClient& client, const v1::ModelSpec& model,
                                           v1::ScoreOptions::Metric metric, const Matrix& rows) {
  v1::AnomalyScoreRequest request;
  request.mutable_options()->set_metric(metric);
  *request.mutable_model() = model;
  ToDenseMatrix(rows, request.mutable_rows());
  absl::StatusOr<v1::AnomalyScoreResponse> scored = client.AnomalyScore(request);
  if (!scored.ok()) return scored.status();
  std::vector<double> out;
  for (const auto& s : scored->scores()) out.push_back(s.score());
  return out;
}

// Writes, per row of train then test: split (0 train, 1 test), label (-1 for
// training rows), then the score of each metric.
absl::Status Dump(StrataClient& client, const v1::ModelSpec& model, const Split& s,
                  const std::string& path) {
  const std::vector<v1::ScoreOptions::Metric> metrics = {
      v1::ScoreOptions::MEAN_SQUARED, v1::ScoreOptions::CODE_DISTANCE, v1::ScoreOptions::COMBINED,
      v1::ScoreOptions::ENSEMBLE};
  std::vector<std::vector<double>> train, test;
  for (auto m : metrics) {
    absl::StatusOr<std::vector<double>> a = Scores(client, model, m, s.train);
    absl::StatusOr<std::vector<double>> b = Scores(client, model, m, s.test);
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    train.push_back(*a);
    test.push_back(*b);
  }
  std::ofstream out(path);
  out << "split,label,mse,code_distance,combined,ensemble\n";
  for (size_t r = 0; r < train[0].size(); ++r) {
    out << "0,-1";
    for (const auto& m : train) out << "," << m[r];
    out << "\n";
  }
  for (size_t r = 0; r < test[0].size(); ++r) {
    out << "1," << s.test_labels[r];
    for (const auto& m : test) out << "," << m[r];
    out << "\n";
  }
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
}

// Writes the code of every training row, then of every test row.
absl::Status DumpCodes(StrataClient& client, const v1::ModelSpec& model, const Split& s,
                       const std::string& path) {
  std::ofstream out(path);
  out.precision(7);
  for (const Matrix* rows : {&s.train, &s.test}) {
    v1::EncodeRequest request;
    *request.mutable_model() = model;
    ToDenseMatrix(*rows, request.mutable_rows());
    absl::StatusOr<v1::EncodeResponse> encoded = client.Encode(request);
    if (!encoded.ok()) return encoded.status();
    absl::StatusOr<Matrix> codes = FromDenseMatrix(encoded->features(), "features", 1 << 20);
    if (!codes.ok()) return codes.status();
    for (Eigen::Index r = 0; r < codes->rows(); ++r) {
      for (Eigen::Index c = 0; c < codes->cols(); ++c) out << (c ? "," : "") << (*codes)(r, c);
      out << "\n";
    }
  }
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
}

// What the flags ask for, parsed.
struct BenchFlags {
  v1::ScoreOptions::Metric metric = v1::ScoreOptions::METRIC_UNSPECIFIED;
  std::vector<uint64_t> seeds;
  v1::TrainConfig config;
};

// Parses --metric, --seeds and --config. Returns 0, or the exit code after
// saying what is wrong.
int ParseFlags(BenchFlags* flags) {
  if (!absl::GetFlag(FLAGS_metric).empty() &&
      !v1::ScoreOptions::Metric_Parse(absl::AsciiStrToUpper(absl::GetFlag(FLAGS_metric)),
                                      &flags->metric)) {
    std::cerr << "--metric " << absl::GetFlag(FLAGS_metric) << " is not a score metric\n";
    return 2;
  }
  for (absl::string_view f : absl::StrSplit(absl::GetFlag(FLAGS_seeds), ',', absl::SkipEmpty())) {
    uint64_t seed;
    if (!absl::SimpleAtoi(f, &seed)) {
      std::cerr << "--seeds: '" << f << "' is not a seed\n";
      return 2;
    }
    flags->seeds.push_back(seed);
  }
  if (flags->seeds.empty()) {
    std::cerr << "--seeds: no seed\n";
    return 2;
  }
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<std::string> json = ReadFileToString(absl::GetFlag(FLAGS_config));
    absl::StatusOr<v1::TrainConfig> parsed =
        json.ok() ? ParseTrainConfigJson(*json) : absl::StatusOr<v1::TrainConfig>(json.status());
    if (!parsed.ok()) {
      std::cerr << parsed.status() << "\n";
      return 1;
    }
    flags->config = *parsed;
  }
  return 0;
}

// A labelled set: its features and whether each row is an anomaly.
struct LabelledSet {
  Matrix x;
  std::vector<int> y;
};

// The set in the CSV at `path` whose last column is `label`; false, said on
// stderr, for any other file.
bool ReadLabelledSet(const std::string& path, LabelledSet* set) {
  absl::StatusOr<CsvTable> table = ReadCsvFile(path, {});
  if (!table.ok() || table->column_names.empty() || table->column_names.back() != "label") {
    std::cerr << "skipping " << path << ": "
              << (table.ok() ? "its last column is not 'label'" : table.status().ToString())
              << "\n";
    return false;
  }
  const Eigen::Index d = table->values.cols() - 1;
  set->x = table->values.leftCols(d);
  set->y.resize(static_cast<size_t>(set->x.rows()));
  for (Eigen::Index r = 0; r < set->x.rows(); ++r) set->y[r] = table->values(r, d) == 1.0f;
  return true;
}

// With --dump_dir: the split's rows (first member only), and member m's
// scores of every metric and codes. False after saying what failed.
bool DumpMember(StrataClient& client, const v1::ModelSpec& model, const Split& s,
                const std::string& tag, int m) {
  const std::string base = absl::StrCat(absl::GetFlag(FLAGS_dump_dir), "/", tag);
  const std::string member = m == 0 ? "" : absl::StrCat(".m", m);
  if (m == 0) {
    WriteCsv(base + ".train.csv", s.train, nullptr);
    WriteCsv(base + ".test.csv", s.test, &s.test_labels);
  }
  absl::Status st = Dump(client, model, s, base + member + ".scores.csv");
  if (st.ok()) st = DumpCodes(client, model, s, base + member + ".codes.csv");
  if (!st.ok()) {
    std::cerr << tag << ": " << st << "\n";
    return false;
  }
  return true;
}

// Trains ensemble member m on the split's training rows and adds the ranks
// of its scores of the test rows to `scores`. False after saying what failed.
bool TrainMember(StrataClient& client, const BenchFlags& flags, const Split& s,
                 const std::string& set_name, uint64_t seed, int m, const std::string& tag,
                 std::vector<double>* scores) {
  v1::TrainJobSpec spec;
  spec.set_model_name(absl::StrCat("odds_", set_name, "_", seed, "_", m));
  *spec.mutable_config() = flags.config;
  spec.mutable_config()->set_seed((flags.config.has_seed() ? flags.config.seed() : 1) + m);
  absl::StatusOr<v1::TrainJob> job = client.UploadTrainJob(spec, s.train.data(), s.train.rows(),
                                                           static_cast<int32_t>(s.train.cols()));
  if (job.ok()) job = client.WatchTrainJob(job->id(), [](const v1::TrainJob&) {});
  if (!job.ok() || job->state() != v1::TrainJob::SUCCEEDED) {
    std::cerr << tag << ": training failed: " << (job.ok() ? job->error() : job.status().ToString())
              << "\n";
    return false;
  }
  v1::ModelSpec model;
  model.set_name(spec.model_name());
  model.set_version(job->version());
  absl::StatusOr<std::vector<double>> scored = Scores(client, model, flags.metric, s.test);
  if (!scored.ok()) {
    std::cerr << tag << ": " << scored.status() << "\n";
    return false;
  }
  if (!absl::GetFlag(FLAGS_dump_dir).empty() && !DumpMember(client, model, s, tag, m)) {
    return false;
  }
  std::vector<size_t> order(scores->size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return (*scored)[a] < (*scored)[b]; });
  for (size_t rank = 0; rank < order.size(); ++rank) (*scores)[order[rank]] += rank;
  return true;
}

// One set's figures per seed, before their means.
struct SeedFigures {
  std::vector<double> aucs, aps;
  std::map<std::string, std::vector<double>> base_aucs, base_aps;
};

// The classical detectors on the split (with --baselines), their figures
// into `figures` and any new method's name onto `methods`.
void RunBaselines(const Split& s, const std::string& tag, SeedFigures* figures,
                  std::vector<std::string>* methods) {
  const std::string base = absl::StrCat(absl::GetFlag(FLAGS_work), "/", tag);
  WriteCsv(base + ".train.csv", s.train, nullptr);
  WriteCsv(base + ".test.csv", s.test, &s.test_labels);
  const auto baselines = absl::GetFlag(FLAGS_baselines)
                             ? Baselines(base + ".train.csv", base + ".test.csv")
                             : decltype(Baselines("", "")){};
  if (baselines.empty() && absl::GetFlag(FLAGS_baselines)) {
    // Said, not skipped quietly: the set's baseline figures then rest
    // on fewer seeds than strata's.
    std::cerr << tag << ": bench/odds_baselines.py gave no figures for this split\n";
  }
  for (const auto& [method, fig] : baselines) {
    if (std::find(methods->begin(), methods->end(), method) == methods->end()) {
      methods->push_back(method);
    }
    figures->base_aucs[method].push_back(fig.auc);
    figures->base_aps[method].push_back(fig.ap);
  }
}

// strata (each member with its own seed, scores averaged as ranks) and the
// classical detectors on every seed's split of one set. False after saying
// what failed.
bool EvaluateSet(StrataClient& client, const BenchFlags& flags, const LabelledSet& set,
                 SetResult* result, std::vector<std::string>* methods) {
  SeedFigures figures;
  for (uint64_t seed : flags.seeds) {
    const Split s = StratifiedSplit(set.x, set.y, seed);
    const std::string tag = absl::StrCat(result->name, ".s", seed);
    // Each member of the ensemble (one model by default) trains with its
    // own seed; their scores are averaged as ranks.
    const absl::Time start = absl::Now();
    const int members = std::max(1, absl::GetFlag(FLAGS_ensemble));
    std::vector<double> scores(static_cast<size_t>(s.test.rows()), 0.0);
    for (int m = 0; m < members; ++m) {
      if (!TrainMember(client, flags, s, result->name, seed, m, tag, &scores)) return false;
    }
    result->seconds += absl::ToDoubleSeconds(absl::Now() - start) / flags.seeds.size();
    figures.aucs.push_back(RocAuc(scores, s.test_labels));
    figures.aps.push_back(AveragePrecision(scores, s.test_labels));
    RunBaselines(s, tag, &figures, methods);
  }
  result->strata = {Mean(figures.aucs), Mean(figures.aps)};
  for (const auto& [method, v] : figures.base_aucs) {
    result->baselines[method] = {Mean(v), Mean(figures.base_aps[method])};
  }
  return true;
}

int Run() {
  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::Minutes(10);
  auto client = *StrataClient::Create(options);
  BenchFlags flags;
  if (int code = ParseFlags(&flags); code != 0) return code;
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) {
    std::cerr << names.status() << "\n";
    return 1;
  }
  // Alphabetical, ignoring case: the order the panel's halves are taken in.
  std::sort(names->begin(), names->end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(absl::AsciiStrToLower(a), a) <
           std::make_pair(absl::AsciiStrToLower(b), b);
  });
  // Training seconds below are this machine's.
  std::printf("%s\n", strata::bench::MeasureMachine().Describe().c_str());

  std::vector<SetResult> results;
  std::vector<std::string> methods;  // the helper's order
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".csv")) continue;
    LabelledSet set;
    if (!ReadLabelledSet(absl::StrCat(dir, "/", name), &set)) continue;
    SetResult result;
    result.name = name.substr(0, name.size() - 4);
    result.rows = static_cast<int>(set.x.rows());
    result.cols = static_cast<int>(set.x.cols());
    result.anomaly_pct = 100.0 * std::count(set.y.begin(), set.y.end(), 1) / set.y.size();
    if (!EvaluateSet(*client, flags, set, &result, &methods)) return 1;
    std::printf("%-18s %6d rows %3d cols %5.1f%% anomalies: strata AUC %.4f AP %.4f (%.1f s)\n",
                result.name.c_str(), result.rows, result.cols, result.anomaly_pct,
                result.strata.auc, result.strata.ap, result.seconds);
    std::fflush(stdout);
    results.push_back(std::move(result));
  }
  if (results.empty()) {
    std::cerr << "no labelled CSV files in " << dir << "\n";
    return 1;
  }
  if (methods.empty()) {
    std::cerr << "warning: bench/odds_baselines.py did not run (python3-sklearn missing?)\n";
  }
  bench::PrintTable(
      "ROC-AUC (mean over seeds); gap: strata's minus the best single detector's on the set",
      &Figures::auc, !methods.empty(), results, methods);
  bench::PrintTable("Average precision (mean over seeds)", &Figures::ap, false, results, methods);
  std::printf("* ran on fewer sets; not a candidate for the best baseline\n");
  bench::PrintSummary(results, methods, flags.seeds);
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Run();
}

// Anomaly detection on labelled ODDS sets, the ADBench way: for every CSV in
// --data_dir (last column `label`, 1 = anomaly), a stratified 70/30 split
// from a fixed seed; strata trains a model on the training part through a
// TrainJob (labels dropped, anomalies left in), scores the test part through
// AnomalyScore, and its ROC-AUC is set against, on the same split, PCA
// reconstruction error (Eigen, the code's width) and IsolationForest
// (scikit-learn, when /usr/bin/python3 has it).
//
//   odds_auc_bench --target=127.0.0.1:PORT --data_dir=DIR --work=DIR [--config=FILE.json]
//
// Ends with: RESULT mean_auc=... baseline_auc=... pca_auc=... iforest_auc=... sets=N
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "client/strata_client.h"
#include "core/csv_reader.h"
#include "core/evaluation.h"
#include "core/file_util.h"
#include "core/pca.h"
#include "core/scaler.h"
#include "core/train_config.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(std::string, data_dir, "../shared/data/odds", "directory of labelled CSV files");
ABSL_FLAG(std::string, work, "/tmp", "scratch directory for the baselines' files");
ABSL_FLAG(std::string, config, "", "TrainConfig JSON (default: strata's defaults)");
ABSL_FLAG(uint64_t, seed, 42, "seed of the stratified split");
ABSL_FLAG(std::string, metric, "",
          "score metric (COMBINED, MEAN_SQUARED, MEAN_ABSOLUTE, CODE_DISTANCE); default: the "
          "server's default");
ABSL_FLAG(int, ensemble, 1,
          "models per set, trained with consecutive seeds, their scores averaged as ranks "
          "(an experiment: the server scores with one model)");

namespace strata {
namespace {

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

// IsolationForest's AUC from bench/odds_iforest.py, NaN when unavailable.
double IsolationForestAuc(const std::string& train, const std::string& test) {
  FILE* p = popen(absl::StrCat("/usr/bin/python3 bench/odds_iforest.py ", train, " ", test,
                               " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return std::nan("");
  char buf[64] = {0};
  const bool read = fgets(buf, sizeof(buf), p) != nullptr;
  const int status = pclose(p);
  double auc = std::nan("");
  if (read && status == 0) (void)absl::SimpleAtod(absl::StripAsciiWhitespace(buf), &auc);
  return auc;
}

// The test rows' PCA reconstruction error (standardised with the training
// part's statistics, k components fitted on it).
std::vector<double> PcaScores(const Split& s, int k) {
  const Scaler scaler = *Scaler::Fit(v1::STANDARD, s.train);
  const Matrix train = scaler.Transform(s.train);
  const Matrix test = scaler.Transform(s.test);
  const Pca pca = *FitPca(train, k);
  const Matrix diff = pca.Reconstruct(test) - test;
  std::vector<double> scores(static_cast<size_t>(test.rows()));
  for (Eigen::Index r = 0; r < test.rows(); ++r) scores[r] = diff.row(r).squaredNorm();
  return scores;
}

int Run() {
  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::Minutes(10);
  auto client = *StrataClient::Create(options);
  v1::ScoreOptions::Metric metric = v1::ScoreOptions::METRIC_UNSPECIFIED;
  if (!absl::GetFlag(FLAGS_metric).empty() &&
      !v1::ScoreOptions::Metric_Parse(absl::AsciiStrToUpper(absl::GetFlag(FLAGS_metric)),
                                      &metric)) {
    std::cerr << "--metric " << absl::GetFlag(FLAGS_metric) << " is not a score metric\n";
    return 2;
  }
  v1::TrainConfig config;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<std::string> json = ReadFileToString(absl::GetFlag(FLAGS_config));
    absl::StatusOr<v1::TrainConfig> parsed =
        json.ok() ? ParseTrainConfigJson(*json) : absl::StatusOr<v1::TrainConfig>(json.status());
    if (!parsed.ok()) {
      std::cerr << parsed.status() << "\n";
      return 1;
    }
    config = *parsed;
  }
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) {
    std::cerr << names.status() << "\n";
    return 1;
  }
  std::sort(names->begin(), names->end());
  std::printf("%-12s %7s %5s %6s | %8s %8s %9s | %s\n", "set", "rows", "cols", "anom%",
              "strata", "PCA", "IForest", "train s");
  double sum = 0, sum_baseline = 0, sum_pca = 0, sum_forest = 0;
  int sets = 0, forest_sets = 0;
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".csv")) continue;
    const std::string path = absl::StrCat(dir, "/", name);
    absl::StatusOr<CsvTable> table = ReadCsvFile(path, {});
    if (!table.ok() || table->column_names.empty() || table->column_names.back() != "label") {
      std::cerr << "skipping " << path << ": "
                << (table.ok() ? "its last column is not 'label'" : table.status().ToString())
                << "\n";
      continue;
    }
    const Eigen::Index d = table->values.cols() - 1;
    const Matrix x = table->values.leftCols(d);
    std::vector<int> y(static_cast<size_t>(x.rows()));
    for (Eigen::Index r = 0; r < x.rows(); ++r) y[r] = table->values(r, d) == 1.0f;
    const Split s = StratifiedSplit(x, y, absl::GetFlag(FLAGS_seed));
    const std::string set = name.substr(0, name.size() - 4);

    // Each member of the ensemble (one model by default) trains with its own
    // seed; their scores are averaged as ranks.
    const absl::Time start = absl::Now();
    const int members = std::max(1, absl::GetFlag(FLAGS_ensemble));
    std::vector<double> scores(static_cast<size_t>(s.test.rows()), 0.0);
    int code_width = 0;
    for (int m = 0; m < members; ++m) {
      v1::TrainJobSpec spec;
      spec.set_model_name(absl::StrCat("odds_", set, "_", m));
      *spec.mutable_config() = config;
      spec.mutable_config()->set_seed((config.has_seed() ? config.seed() : 1) + m);
      absl::StatusOr<v1::TrainJob> job =
          client->UploadTrainJob(spec, s.train.data(), s.train.rows(), static_cast<int32_t>(d));
      if (job.ok()) job = client->WatchTrainJob(job->id(), [](const v1::TrainJob&) {});
      if (!job.ok() || job->state() != v1::TrainJob::SUCCEEDED) {
        std::cerr << set << ": training failed: "
                  << (job.ok() ? job->error() : job.status().ToString()) << "\n";
        return 1;
      }
      v1::AnomalyScoreRequest request;
      request.mutable_options()->set_metric(metric);
      request.mutable_model()->set_name(spec.model_name());
      request.mutable_model()->set_version(job->version());
      ToDenseMatrix(s.test, request.mutable_rows());
      absl::StatusOr<v1::AnomalyScoreResponse> scored = client->AnomalyScore(request);
      absl::StatusOr<v1::GetModelResponse> info = client->GetModel(request.model());
      if (!scored.ok() || !info.ok()) {
        std::cerr << set << ": " << (scored.ok() ? info.status() : scored.status()) << "\n";
        return 1;
      }
      code_width = *info->architecture().encoder_widths().rbegin();
      std::vector<size_t> order(scores.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return scored->scores(a).score() < scored->scores(b).score();
      });
      for (size_t rank = 0; rank < order.size(); ++rank) scores[order[rank]] += rank;
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const double auc = RocAuc(scores, s.test_labels);
    const double pca = RocAuc(PcaScores(s, code_width), s.test_labels);
    const std::string base = absl::StrCat(absl::GetFlag(FLAGS_work), "/", set);
    WriteCsv(base + ".train.csv", s.train, nullptr);
    WriteCsv(base + ".test.csv", s.test, &s.test_labels);
    const double forest = IsolationForestAuc(base + ".train.csv", base + ".test.csv");
    const double baseline = std::isnan(forest) ? pca : std::max(pca, forest);
    std::printf("%-12s %7d %5d %6.2f | %8.4f %8.4f %9s | %.1f\n", set.c_str(),
                static_cast<int>(x.rows()), static_cast<int>(d),
                100.0 * std::count(y.begin(), y.end(), 1) / y.size(), auc, pca,
                std::isnan(forest) ? "n/a" : absl::StrFormat("%.4f", forest).c_str(), seconds);
    std::fflush(stdout);
    sum += auc;
    sum_pca += pca;
    sum_baseline += baseline;
    if (!std::isnan(forest)) sum_forest += forest, ++forest_sets;
    ++sets;
  }
  if (sets == 0) {
    std::cerr << "no labelled CSV files in " << dir << "\n";
    return 1;
  }
  std::printf("RESULT mean_auc=%.4f baseline_auc=%.4f pca_auc=%.4f iforest_auc=%s sets=%d\n",
              sum / sets, sum_baseline / sets, sum_pca / sets,
              forest_sets ? absl::StrFormat("%.4f", sum_forest / forest_sets).c_str() : "n/a",
              sets);
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Run();
}

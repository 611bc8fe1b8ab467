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
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
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

// bench/odds_baselines.py's name for the classical ensemble (IForest, kNN and
// MCD standardised by their training scores, averaged).
constexpr char kEnsembleBaseline[] = "Ensemble";

struct Figures {
  double auc = std::nan("");
  double ap = std::nan("");
};

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

double Mean(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
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
  std::vector<uint64_t> seeds;
  for (absl::string_view f : absl::StrSplit(absl::GetFlag(FLAGS_seeds), ',', absl::SkipEmpty())) {
    uint64_t seed;
    if (!absl::SimpleAtoi(f, &seed)) {
      std::cerr << "--seeds: '" << f << "' is not a seed\n";
      return 2;
    }
    seeds.push_back(seed);
  }
  if (seeds.empty()) {
    std::cerr << "--seeds: no seed\n";
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
  // Alphabetical, ignoring case: the order the panel's halves are taken in.
  std::sort(names->begin(), names->end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(absl::AsciiStrToLower(a), a) < std::make_pair(absl::AsciiStrToLower(b), b);
  });
  // Training seconds below are this machine's.
  std::printf("%s\n", strata::bench::MeasureMachine().Describe().c_str());

  // Per set: strata's and each detector's figures, each the mean over seeds.
  struct SetResult {
    std::string name;
    int rows = 0, cols = 0;
    double anomaly_pct = 0, seconds = 0;
    Figures strata;
    std::map<std::string, Figures> baselines;
  };
  std::vector<SetResult> results;
  std::vector<std::string> methods;  // the helper's order
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
    SetResult result;
    result.name = name.substr(0, name.size() - 4);
    result.rows = static_cast<int>(x.rows());
    result.cols = static_cast<int>(d);
    result.anomaly_pct = 100.0 * std::count(y.begin(), y.end(), 1) / y.size();
    std::vector<double> aucs, aps;
    std::map<std::string, std::vector<double>> base_aucs, base_aps;
    for (uint64_t seed : seeds) {
      const Split s = StratifiedSplit(x, y, seed);
      const std::string tag = absl::StrCat(result.name, ".s", seed);
      // Each member of the ensemble (one model by default) trains with its
      // own seed; their scores are averaged as ranks.
      const absl::Time start = absl::Now();
      const int members = std::max(1, absl::GetFlag(FLAGS_ensemble));
      std::vector<double> scores(static_cast<size_t>(s.test.rows()), 0.0);
      for (int m = 0; m < members; ++m) {
        v1::TrainJobSpec spec;
        spec.set_model_name(absl::StrCat("odds_", result.name, "_", seed, "_", m));
        *spec.mutable_config() = config;
        spec.mutable_config()->set_seed((config.has_seed() ? config.seed() : 1) + m);
        absl::StatusOr<v1::TrainJob> job = client->UploadTrainJob(
            spec, s.train.data(), s.train.rows(), static_cast<int32_t>(d));
        if (job.ok()) job = client->WatchTrainJob(job->id(), [](const v1::TrainJob&) {});
        if (!job.ok() || job->state() != v1::TrainJob::SUCCEEDED) {
          std::cerr << tag << ": training failed: "
                    << (job.ok() ? job->error() : job.status().ToString()) << "\n";
          return 1;
        }
        v1::ModelSpec model;
        model.set_name(spec.model_name());
        model.set_version(job->version());
        absl::StatusOr<std::vector<double>> scored = Scores(*client, model, metric, s.test);
        if (!scored.ok()) {
          std::cerr << tag << ": " << scored.status() << "\n";
          return 1;
        }
        if (!absl::GetFlag(FLAGS_dump_dir).empty()) {
          const std::string base = absl::StrCat(absl::GetFlag(FLAGS_dump_dir), "/", tag);
          const std::string member = m == 0 ? "" : absl::StrCat(".m", m);
          if (m == 0) {
            WriteCsv(base + ".train.csv", s.train, nullptr);
            WriteCsv(base + ".test.csv", s.test, &s.test_labels);
          }
          absl::Status st = Dump(*client, model, s, base + member + ".scores.csv");
          if (st.ok()) st = DumpCodes(*client, model, s, base + member + ".codes.csv");
          if (!st.ok()) {
            std::cerr << tag << ": " << st << "\n";
            return 1;
          }
        }
        std::vector<size_t> order(scores.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [&](size_t a, size_t b) { return (*scored)[a] < (*scored)[b]; });
        for (size_t rank = 0; rank < order.size(); ++rank) scores[order[rank]] += rank;
      }
      result.seconds += absl::ToDoubleSeconds(absl::Now() - start) / seeds.size();
      aucs.push_back(RocAuc(scores, s.test_labels));
      aps.push_back(AveragePrecision(scores, s.test_labels));
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
        if (std::find(methods.begin(), methods.end(), method) == methods.end()) {
          methods.push_back(method);
        }
        base_aucs[method].push_back(fig.auc);
        base_aps[method].push_back(fig.ap);
      }
    }
    result.strata = {Mean(aucs), Mean(aps)};
    for (const auto& [method, v] : base_aucs) {
      result.baselines[method] = {Mean(v), Mean(base_aps[method])};
    }
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

  // The classical ensemble is a baseline of its own, not a single detector.
  const auto single = [](const std::string& m) { return m != kEnsembleBaseline; };
  // Per set: the best single detector's AUC on it, and strata's gap to it.
  const auto best_on = [&](const SetResult& r) {
    double top = std::nan("");
    for (const auto& [m, fig] : r.baselines) {
      if (single(m) && !std::isnan(fig.auc) && (std::isnan(top) || fig.auc > top)) top = fig.auc;
    }
    return top;
  };

  // Tables: one row per set, one column per method; then the means.
  const auto table = [&](const char* title, double Figures::*field, bool gaps) {
    std::printf("\n%s\n%-18s %8s", title, "set", "strata");
    for (const auto& m : methods) std::printf(" %8s", m.c_str());
    if (gaps) std::printf(" %8s", "gap");
    std::printf("\n");
    std::vector<double> strata_col, gap_col;
    std::map<std::string, std::vector<double>> cols;
    for (const SetResult& r : results) {
      std::printf("%-18s %8.4f", r.name.c_str(), r.strata.*field);
      strata_col.push_back(r.strata.*field);
      for (const auto& m : methods) {
        const auto it = r.baselines.find(m);
        const double v = it == r.baselines.end() ? std::nan("") : it->second.*field;
        if (std::isnan(v)) {
          std::printf(" %8s", "n/a");
        } else {
          std::printf(" %8.4f", v);
          cols[m].push_back(v);
        }
      }
      if (gaps) {
        gap_col.push_back(r.strata.auc - best_on(r));
        std::printf(" %+8.4f", gap_col.back());
      }
      std::printf("\n");
    }
    std::printf("%-18s %8.4f", "mean", Mean(strata_col));
    for (const auto& m : methods) {
      std::printf(" %7.4f%s", Mean(cols[m]), cols[m].size() == results.size() ? " " : "*");
    }
    std::printf("\n");
  };
  table("ROC-AUC (mean over seeds); gap: strata's minus the best single detector's on the set",
        &Figures::auc, !methods.empty());
  table("Average precision (mean over seeds)", &Figures::ap, false);
  std::printf("* ran on fewer sets; not a candidate for the best baseline\n");

  // The figures of a group of sets (the panel, or one half of it).
  struct Group {
    Figures strata, best, ensemble;
    std::string best_name = "none";
    double oracle = std::nan(""), worst_gap = std::nan("");
    std::string worst_set;
  };
  const auto summarise = [&](const std::vector<const SetResult*>& sets) {
    Group g;
    std::vector<double> auc, ap, oracle;
    for (const SetResult* r : sets) {
      auc.push_back(r->strata.auc);
      ap.push_back(r->strata.ap);
      const double top = best_on(*r);
      if (!std::isnan(top)) oracle.push_back(top);
      const double gap = r->strata.auc - top;
      if (!std::isnan(gap) && (std::isnan(g.worst_gap) || gap < g.worst_gap)) {
        g.worst_gap = gap;
        g.worst_set = r->name;
      }
    }
    g.strata = {Mean(auc), Mean(ap)};
    g.oracle = oracle.size() == sets.size() ? Mean(oracle) : std::nan("");
    // Every method's means over the group, if it ran on every set of it.
    for (const auto& m : methods) {
      std::vector<double> m_auc, m_ap;
      for (const SetResult* r : sets) {
        const auto it = r->baselines.find(m);
        if (it == r->baselines.end() || std::isnan(it->second.auc)) break;
        m_auc.push_back(it->second.auc);
        m_ap.push_back(it->second.ap);
      }
      if (m_auc.size() != sets.size()) continue;
      const Figures f{Mean(m_auc), Mean(m_ap)};
      if (!single(m)) {
        g.ensemble = f;
      } else if (g.best_name == "none" || f.auc > g.best.auc) {
        g.best_name = m;
        g.best = f;
      }
    }
    return g;
  };
  // Half a: the sets at odd positions (1st, 3rd, ...) of the alphabetical
  // order; half b: the even ones.
  std::vector<const SetResult*> all, half[2];
  for (size_t i = 0; i < results.size(); ++i) {
    all.push_back(&results[i]);
    half[i % 2].push_back(&results[i]);
  }
  const Group panel = summarise(all), a = summarise(half[0]), b = summarise(half[1]);
  const auto fmt = [](double v) {
    return std::isnan(v) ? std::string("n/a") : absl::StrFormat("%.4f", v);
  };
  const auto names_of = [](const std::vector<const SetResult*>& sets) {
    std::vector<std::string> out;
    for (const SetResult* r : sets) out.push_back(r->name);
    return absl::StrJoin(out, ", ");
  };
  std::printf("\nhalf a: %s\nhalf b: %s\n", names_of(half[0]).c_str(), names_of(half[1]).c_str());
  std::printf("\n%-8s %8s %8s %-9s %9s %9s\n", "", "strata", "best", "(single)", "ensemble",
              "oracle");
  for (const auto& [label, g] : {std::pair<const char*, const Group&>{"panel", panel},
                                 {"half a", a}, {"half b", b}}) {
    std::printf("%-8s %8s %8s %-9s %9s %9s\n", label, fmt(g.strata.auc).c_str(),
                fmt(g.best.auc).c_str(), absl::StrCat("(", g.best_name, ")").c_str(),
                fmt(g.ensemble.auc).c_str(), fmt(g.oracle).c_str());
  }
  // The bar (bench/README.md, issue 33): on the panel and on each
  // half, at least the best single detector's mean + 0.01 and the classical
  // ensemble's; on every set, at most 0.10 below the best single detector.
  const auto beats = [](const Group& g) {
    return g.strata.auc >= g.best.auc + 0.01 && g.strata.auc >= g.ensemble.auc;
  };
  const bool met = !methods.empty() && beats(panel) && beats(a) && beats(b) &&
                   panel.worst_gap >= -0.10;
  std::printf("worst gap %s (%s); goal %s\n", fmt(panel.worst_gap).c_str(),
              panel.worst_set.c_str(), met ? "met" : "NOT met");
  absl::PrintF(
      "RESULT mean_auc=%s mean_ap=%s best_baseline=%s best_baseline_auc=%s best_baseline_ap=%s "
      "ensemble_baseline_auc=%s ensemble_baseline_ap=%s mean_auc_half_a=%s mean_auc_half_b=%s "
      "best_baseline_auc_half_a=%s best_baseline_auc_half_b=%s ensemble_baseline_auc_half_a=%s "
      "ensemble_baseline_auc_half_b=%s worst_gap=%s worst_gap_set=%s oracle_auc=%s met=%s "
      "sets=%d seeds=%s\n",
      fmt(panel.strata.auc), fmt(panel.strata.ap), panel.best_name, fmt(panel.best.auc),
      fmt(panel.best.ap), fmt(panel.ensemble.auc), fmt(panel.ensemble.ap), fmt(a.strata.auc),
      fmt(b.strata.auc), fmt(a.best.auc), fmt(b.best.auc), fmt(a.ensemble.auc),
      fmt(b.ensemble.auc), fmt(panel.worst_gap), panel.worst_set.empty() ? "none" : panel.worst_set,
      fmt(panel.oracle), met ? "true" : "false", static_cast<int>(results.size()),
      absl::StrJoin(seeds, ","));
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Run();
}

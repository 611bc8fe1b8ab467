// A user who streams shifted records sees the drifted feature in Prometheus:
// the real strata-server, scraped by a real Prometheus (Debian's) that loads
// deploy/prometheus/strata-rules.yml, queried through Prometheus' HTTP API.
// Two replicas sharing one store give one fleet-wide PSI, that of the union
// of their records.
#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "core/data/csv_reader.h"
#include "core/model/model_io.h"
#include "core/scoring/drift.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using testing::ServerProcess;
using testing::Shell;

// First series of a Prometheus instant-query answer: its `feature` label
// (if any) and value; value is NaN when the answer is empty.
struct Sample {
  std::string feature;
  double value = std::nan("");
};

Sample Query(int prometheus_port, const std::string& promql) {
  const testing::ShellResult r =
      Shell(absl::StrCat("curl -s -G --max-time 5 http://127.0.0.1:", prometheus_port,
                         "/api/v1/query --data-urlencode 'query=", promql, "'"));
  Sample s;
  std::smatch m;
  if (std::regex_search(r.output, m, std::regex("\"feature\":\"([^\"]+)\""))) s.feature = m[1];
  if (std::regex_search(r.output, m, std::regex("\"value\":\\[[0-9.]+,\"([^\"]+)\"\\]"))) {
    s.value = std::stod(m[1]);
  }
  return s;
}

// Prometheus' whole answer to an instant query.
std::string QueryBody(int prometheus_port, const std::string& promql) {
  return Shell(absl::StrCat("curl -s -G --max-time 5 http://127.0.0.1:", prometheus_port,
                            "/api/v1/query --data-urlencode 'query=", promql, "'"))
      .output;
}

// Every query of the Grafana dashboard (deploy/grafana/strata-dashboard.json),
// with the dashboard's variables filled in: $model = `model`, and Grafana's
// $__rate_interval = 1m.
std::vector<std::pair<std::string, std::string>> DashboardQueries(const std::string& model) {
  google::protobuf::Struct dashboard;
  const auto status = google::protobuf::util::JsonStringToMessage(
      testing::ReadAll("deploy/grafana/strata-dashboard.json"), &dashboard);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::vector<std::pair<std::string, std::string>> queries;
  for (const auto& panel : dashboard.fields().at("panels").list_value().values()) {
    const auto& fields = panel.struct_value().fields();
    if (!fields.contains("targets")) continue;
    for (const auto& target : fields.at("targets").list_value().values()) {
      queries.emplace_back(
          fields.at("title").string_value(),
          absl::StrReplaceAll(target.struct_value().fields().at("expr").string_value(),
                              {{"$model", model}, {"$__rate_interval", "1m"}}));
    }
  }
  return queries;
}

// Debian's Prometheus scraping `targets` (metrics ports on 127.0.0.1) every
// `scrape`, with strata's recording and alert rules, its files in `dir`.
class Prometheus {
 public:
  Prometheus(const std::string& dir, const std::vector<int>& targets, const std::string& scrape)
      : dir_(dir), port_(testing::FreeLoopbackPort()) {
    std::system(("cp deploy/prometheus/strata-rules.yml " + dir + "/").c_str());
    std::ofstream config(dir + "/prometheus.yml");
    config << "global:\n  scrape_interval: " << scrape << "\n  evaluation_interval: " << scrape
           << "\nrule_files:\n  - strata-rules.yml\n"
           << "scrape_configs:\n  - job_name: strata\n    static_configs:\n      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) {
      config << (i ? ", " : "") << "'127.0.0.1:" << targets[i] << "'";
    }
    config << "]\n";
    config.close();
    pid_ = testing::Spawn(absl::StrCat(
        "exec prometheus --config.file=", dir, "/prometheus.yml --storage.tsdb.path=", dir,
        "/tsdb --web.listen-address=127.0.0.1:", port_, " > ", dir, "/prometheus.log 2>&1"));
    EXPECT_GT(pid_, 0);
  }
  ~Prometheus() { EXPECT_EQ(testing::Stop(pid_), 0); }

  int port() const { return port_; }
  std::string Log() const { return testing::ReadAll(dir_ + "/prometheus.log").substr(0, 2000); }
  // Waits (at most 60 s) until `promql` has a value >= `at_least`; the last value.
  double WaitFor(const std::string& promql, double at_least) const {
    Sample s;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      s = Query(port_, promql);
      if (s.value >= at_least) break;
      absl::SleepFor(absl::Milliseconds(250));
    }
    return s.value;
  }

 private:
  const std::string dir_;
  const int port_;
  pid_t pid_ = -1;
};

// Writes `rows` as a CSV with the header f0, f1, ...
void WriteCsv(const Matrix& rows, const std::string& path) {
  std::ofstream out(path);
  for (Eigen::Index c = 0; c < rows.cols(); ++c) out << (c ? "," : "") << "f" << c;
  out << "\n";
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    for (Eigen::Index c = 0; c < rows.cols(); ++c) out << (c ? "," : "") << rows(r, c);
    out << "\n";
  }
}

TEST(PrometheusE2eTest, ShiftedRecordsShowAsDriftInPrometheus) {
  const std::string dir = testing::ScratchDir("e2e_prometheus");
  std::system(("mkdir -p " + dir + "/data && cp data/thyroid.csv " + dir + "/data/").c_str());
  ServerProcess server(dir);
  ASSERT_GT(server.metrics_port(), 0);
  const auto train = server.Strata(
      "train --model thyroid --server_csv thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;

  // The training rows with f3 moved by two of its standard deviations.
  CsvOptions csv;
  csv.drop_columns = {"label"};
  const CsvTable table = *ReadCsvFile("data/thyroid.csv", csv);
  Matrix shifted = table.values;
  const double mean = shifted.col(3).mean();
  const double std = std::sqrt((shifted.col(3).array() - mean).square().mean());
  shifted.col(3).array() += static_cast<float>(2 * std);
  WriteCsv(shifted, dir + "/shifted.csv");

  // Prometheus scraping strata every second; the version's counters are
  // scraped at 0 before any record, so that increase() counts them all.
  Prometheus prometheus(dir, {server.metrics_port()}, "1s");
  const int prometheus_port = prometheus.port();
  ASSERT_EQ(prometheus.WaitFor("count(strata_drift_records_total{model=\"thyroid\"})", 1), 1)
      << prometheus.Log();

  // A pipeline streams the shifted records for scoring.
  const auto score = server.Strata("score --model thyroid --stream < " + dir + "/shifted.csv");
  ASSERT_EQ(score.exit_code, 0) << score.output.substr(0, 300);

  // Within a bounded wait, Prometheus holds the drift series.
  Sample top, score_sample;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    top = Query(prometheus_port, "topk(1, strata_feature_psi{model=\"thyroid\"})");
    score_sample = Query(prometheus_port, "strata_drift_score{model=\"thyroid\"}");
    if (top.feature == "f3" && score_sample.value > 0.25) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_EQ(top.feature, "f3") << prometheus.Log();
  EXPECT_GT(top.value, 0.25);
  EXPECT_GT(score_sample.value, 0.25);
  const Sample shift = Query(prometheus_port, "strata_feature_mean_shift{feature=\"f3\"}");
  EXPECT_NEAR(shift.value, 2.0, 0.2);
  const Sample rows = Query(prometheus_port, "strata_drift_window_records{model=\"thyroid\"}");
  EXPECT_EQ(rows.value, 3772);
  const Sample requests =
      Query(prometheus_port, "sum(strata_rpc_rows_total{method=\"StreamAnomalyScore\"})");
  EXPECT_EQ(requests.value, 3772);

  // Every panel of the Grafana dashboard is a valid query with data behind
  // it (one failed call feeds the errors panel).
  EXPECT_EQ(server.Strata("encode --model nope < " + dir + "/shifted.csv").exit_code, 1);
  const auto queries = DashboardQueries("thyroid");
  EXPECT_GE(queries.size(), 15u);
  std::vector<std::string> empty;
  const absl::Time panels_deadline = absl::Now() + absl::Seconds(60);
  do {
    empty.clear();
    for (const auto& [title, promql] : queries) {
      const std::string body = QueryBody(prometheus_port, promql);
      EXPECT_THAT(body, ::testing::HasSubstr("\"status\":\"success\"")) << title << ": " << promql;
      if (body.find("\"result\":[{") == std::string::npos) {
        empty.push_back(absl::StrCat(title, ": ", promql));
      }
    }
    if (!empty.empty()) absl::SleepFor(absl::Seconds(1));
  } while (!empty.empty() && absl::Now() < panels_deadline);
  EXPECT_THAT(empty, ::testing::IsEmpty());
}

// f3's PSI over `rows` against the training bins of `model`, as one
// replica's window holding exactly these rows says it.
double FeaturePsi(const Model& model, const Matrix& rows, const std::string& feature) {
  DriftMonitor monitor(model.info().drift_baseline, model.scaler(), model.info().feature_names,
                       model.info().calibration, 10 * rows.rows());
  monitor.Observe(rows, nullptr, nullptr);
  const v1::DriftFigures figures = monitor.Figures();
  for (const v1::FeatureDrift& f : figures.features()) {
    if (f.name() == feature) return f.psi();
  }
  return std::nan("");
}

TEST(PrometheusE2eTest, TwoReplicasGiveTheFleetPsiOfTheUnionOfTheirRecords) {
  // Two strata-server processes serve one store; a client sends half of a
  // shifted stream to each. Replica a's half has f3 moved by one training
  // std, b's by three, so neither replica's own PSI is the fleet's.
  const std::string dir = testing::ScratchDir("e2e_prometheus_fleet");
  std::system(
      ("mkdir -p " + dir + "/data " + dir + "/b/data && cp data/thyroid.csv " + dir + "/data/")
          .c_str());
  ServerProcess a(dir);
  const auto train = a.Strata(
      "train --model thyroid --server_csv thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  ServerProcess b(dir + "/b", "--model_root=" + dir + "/models");
  const absl::Time loaded_deadline = absl::Now() + absl::Seconds(20);
  while (b.Strata("models").output.find("thyroid") == std::string::npos &&
         absl::Now() < loaded_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }

  CsvOptions csv;
  csv.drop_columns = {"label"};
  const Matrix table = ReadCsvFile("data/thyroid.csv", csv)->values;
  const Eigen::Index half = table.rows() / 2;
  const double mean = table.col(3).mean();
  const float std = static_cast<float>(std::sqrt((table.col(3).array() - mean).square().mean()));
  Matrix stream = table;
  stream.col(3).head(half).array() += std;
  stream.col(3).tail(table.rows() - half).array() += 3 * std;
  WriteCsv(stream.topRows(half), dir + "/a.csv");
  WriteCsv(stream.bottomRows(table.rows() - half), dir + "/b.csv");

  // Scrapes and rule evaluations every 250 ms keep increase()'s
  // extrapolation past the last scrape (which weighs each replica's counts)
  // small against the tens of seconds the counters cover.
  Prometheus prometheus(dir, {a.metrics_port(), b.metrics_port()}, "250ms");
  ASSERT_EQ(prometheus.WaitFor("count(strata_drift_records_total{model=\"thyroid\"})", 2), 2)
      << prometheus.Log();
  const absl::Time first_scrape = absl::Now();
  ASSERT_EQ(a.Strata("score --model thyroid --stream < " + dir + "/a.csv").exit_code, 0);
  ASSERT_EQ(b.Strata("score --model thyroid --stream < " + dir + "/b.csv").exit_code, 0);

  // The union's PSI, computed here from the model file, against each half's.
  const std::unique_ptr<Model> model = *ReadModelFile(dir + "/models/thyroid/1/model.strata");
  const double union_psi = FeaturePsi(*model, stream, "f3");
  const double a_psi = FeaturePsi(*model, stream.topRows(half), "f3");
  const double b_psi = FeaturePsi(*model, stream.bottomRows(table.rows() - half), "f3");
  ASSERT_GT(union_psi, 0.25);
  ASSERT_GT(std::min(std::abs(union_psi - a_psi), std::abs(union_psi - b_psi)), 0.2 * union_psi);

  // Every record counted, by both replicas' counters; then the counters
  // cover at least 20 s.
  const double n = static_cast<double>(table.rows());
  EXPECT_GE(prometheus.WaitFor("strata:drift_records:increase1h{model=\"thyroid\"}", n), n)
      << prometheus.Log();
  absl::SleepFor(std::max(absl::ZeroDuration(), first_scrape + absl::Seconds(20) - absl::Now()));
  const Sample fleet =
      Query(prometheus.port(), "strata:feature_psi:1h{model=\"thyroid\",feature=\"f3\"}");
  std::cout << "f3 PSI: fleet rule " << fleet.value << ", union " << union_psi << ", replica a "
            << a_psi << ", b " << b_psi << "\n";
  EXPECT_NEAR(fleet.value, union_psi, 0.02 * union_psi)
      << "replica a alone " << a_psi << ", b alone " << b_psi;
  // Each replica's own gauge holds its half, not the fleet's figure.
  const Sample b_gauge =
      Query(prometheus.port(), absl::StrCat("strata_feature_psi{feature=\"f3\",instance=\"",
                                            "127.0.0.1:", b.metrics_port(), "\"}"));
  EXPECT_NEAR(b_gauge.value, b_psi, 1e-3);
  // The fleet's drift score and its alert rule's inputs.
  EXPECT_GE(Query(prometheus.port(), "strata:drift_score:1h{model=\"thyroid\"}").value,
            fleet.value - 1e-9);
  EXPECT_NEAR(Query(prometheus.port(), "strata:scored_records:increase1h").value, n, 0.02 * n);
  // Per series: at most --drift_max_features x bins bin counters a version.
  const Sample series = Query(prometheus.port(), "count(strata_drift_bin_records_total)");
  EXPECT_GT(series.value, 0);
  EXPECT_LE(series.value, 2 * 6 * 10);
}

}  // namespace
}  // namespace strata

// A user who streams shifted records sees the drifted feature in Prometheus:
// the real strata-server, scraped by a real Prometheus (Debian's), queried
// through Prometheus' HTTP API.
#include <cmath>
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "core/csv_reader.h"
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
  {
    std::ofstream out(dir + "/shifted.csv");
    out << "f0,f1,f2,f3,f4,f5\n";
    for (Eigen::Index r = 0; r < shifted.rows(); ++r) {
      for (Eigen::Index c = 0; c < shifted.cols(); ++c) out << (c ? "," : "") << shifted(r, c);
      out << "\n";
    }
  }

  // Prometheus scraping strata every second.
  const int prometheus_port = testing::FreeLoopbackPort();
  {
    std::ofstream config(dir + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           << "scrape_configs:\n  - job_name: strata\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << server.metrics_port() << "']\n";
  }
  const pid_t prometheus = testing::Spawn(absl::StrCat(
      "exec prometheus --config.file=", dir, "/prometheus.yml --storage.tsdb.path=", dir,
      "/tsdb --web.listen-address=127.0.0.1:", prometheus_port, " > ", dir,
      "/prometheus.log 2>&1"));
  ASSERT_GT(prometheus, 0);

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
  EXPECT_EQ(top.feature, "f3") << testing::ReadAll(dir + "/prometheus.log").substr(0, 2000);
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
  EXPECT_EQ(testing::Stop(prometheus), 0);
}

}  // namespace
}  // namespace strata

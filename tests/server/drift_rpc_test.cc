// Drift monitoring over gRPC: scored traffic feeds each version's drift
// window; DriftReport and /metrics name the shifted feature, with the fleet
// counters Prometheus' recording rules turn into PSI.
#include <algorithm>
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestServer;
using testing::WaitForJob;

// Scores `rows` through the stream in batches, as a pipeline would.
void StreamRows(TestServer& t, const std::string& model, const Matrix& rows) {
  Eigen::Index start = 0;
  const absl::Status s = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* r) {
        if (start >= rows.rows()) return false;
        if (start == 0) r->mutable_model()->set_name(model);
        const Eigen::Index n = std::min<Eigen::Index>(500, rows.rows() - start);
        ToDenseMatrix(rows.middleRows(start, n), r->mutable_rows());
        start += n;
        return true;
      },
      [](const v1::AnomalyScoreResponse&) {});
  ASSERT_TRUE(s.ok()) << s;
}

TEST(StrataServerTest, DriftReportFindsTheShiftedFeature) {
  // Each model gets its own window: in-distribution and shifted traffic.
  TestServer t("server_drift", [](StrataServer::Options* o) {
    o->metrics_address = "127.0.0.1:0";
    o->drift_max_features = 3;
  });
  const Matrix data = testing::ManifoldData(4000, 6, 2, 11);
  v1::TrainJobSpec spec;
  spec.mutable_config()->set_finetune_epochs(10);
  for (const char* f : {"temp", "pressure", "flow", "rpm", "vibration", "load"}) {
    spec.add_feature_names(f);
  }
  for (const char* name : {"calm", "shifted"}) {
    spec.set_model_name(name);
    auto job = t.client->UploadTrainJob(spec, data.data(), data.rows(), 6);
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_EQ(WaitForJob(t, job->id()).state(), v1::TrainJob::SUCCEEDED);
  }
  // Nothing seen yet: no drift score on /metrics (a 0 would read as stable).
  const std::string unseen = t.server->metrics()->Scrape();
  EXPECT_THAT(unseen, HasSubstr("strata_drift_window_records{model=\"calm\",version=\"1\"} 0"));
  EXPECT_THAT(unseen, Not(HasSubstr("strata_drift_score{model=\"calm\"")));
  // Fresh records from the same distribution, and the same records with
  // "flow" moved by 2 training standard deviations.
  const Matrix live = testing::ManifoldData(3000, 6, 2, 11);
  Matrix shifted = live;
  const double mean = data.col(2).mean();
  const double std = std::sqrt((data.col(2).array() - mean).square().mean());
  shifted.col(2).array() += static_cast<float>(2 * std);
  StreamRows(t, "calm", live);
  StreamRows(t, "shifted", shifted);

  v1::ModelSpec calm_spec;
  calm_spec.set_name("calm");
  auto calm = t.client->DriftReport(calm_spec);
  ASSERT_TRUE(calm.ok()) << calm.status();
  EXPECT_EQ(calm->figures().window_rows(), 3000);
  ASSERT_EQ(calm->figures().features_size(), 6);
  for (const v1::FeatureDrift& f : calm->figures().features()) {
    EXPECT_LT(f.psi(), 0.1) << f.name();
  }
  EXPECT_EQ(calm->figures().error_rows(), 3000);
  EXPECT_NEAR(calm->figures().anomaly_ratio(), 0.01, 0.015);

  v1::ModelSpec shifted_spec;
  shifted_spec.set_name("shifted");
  auto drift = t.client->DriftReport(shifted_spec);
  ASSERT_TRUE(drift.ok()) << drift.status();
  const v1::FeatureDrift& top = drift->figures().features(0);
  EXPECT_EQ(top.name(), "flow");
  EXPECT_GT(top.psi(), 0.25);
  EXPECT_NEAR(top.mean_shift(), 2.0, 0.15);
  EXPECT_LT(drift->figures().features(1).psi(), 0.1);
  EXPECT_GT(drift->figures().drift_score(), 0.25);
  // Scoring traffic feeds the code layer too: calm codes barely move.
  EXPECT_EQ(calm->figures().code_rows(), 3000);
  EXPECT_LT(calm->figures().code_drift_max(), 0.2);
  EXPECT_GT(drift->figures().code_drift_max(), calm->figures().code_drift_max());

  // The same figures on /metrics, with at most 3 features per version.
  const std::string scraped = t.server->metrics()->Scrape();
  EXPECT_THAT(scraped,
              HasSubstr("strata_feature_psi{model=\"shifted\",version=\"1\",feature=\"flow\"}"));
  EXPECT_THAT(scraped, HasSubstr("strata_drift_score{model=\"shifted\",version=\"1\"}"));
  EXPECT_THAT(scraped,
              HasSubstr("strata_reconstruction_error_bucket{model=\"calm\",version=\"1\""));
  EXPECT_THAT(scraped, HasSubstr("strata_rpc_requests_total{code=\"OK\",method="
                                 "\"StreamAnomalyScore\",model=\"shifted\",version=\"1\"} 6"));
  EXPECT_THAT(scraped, HasSubstr("strata_train_jobs{state=\"SUCCEEDED\"} 2"));
  EXPECT_THAT(scraped,
              HasSubstr("strata_rpc_requests_total{code=\"OK\",method=\"UploadTrainJob\""));
  EXPECT_THAT(scraped, HasSubstr("strata_model_versions_loaded{model=\"calm\"} 1"));
  size_t psi_series = 0;
  for (size_t at = scraped.find("\nstrata_feature_psi{"); at != std::string::npos;
       at = scraped.find("\nstrata_feature_psi{", at + 1)) {
    ++psi_series;
  }
  EXPECT_EQ(psi_series, 6u);  // 3 features x 2 versions
  // Fleet counters for the first 3 features in input order: temp, pressure
  // and flow, each bin counting every streamed record once.
  size_t bin_series = 0;
  double flow_records = 0;
  const std::string flow_prefix =
      "\nstrata_drift_bin_records_total{model=\"shifted\",version=\"1\",feature=\"flow\"";
  for (size_t at = scraped.find("\nstrata_drift_bin_records_total{"); at != std::string::npos;
       at = scraped.find("\nstrata_drift_bin_records_total{", at + 1)) {
    ++bin_series;
    if (scraped.compare(at, flow_prefix.size(), flow_prefix) == 0) {
      flow_records += std::stod(scraped.substr(scraped.find("} ", at) + 2));
    }
  }
  EXPECT_GT(bin_series, 2u * 3u);
  EXPECT_LE(bin_series, 2u * 3u * 10u);
  EXPECT_EQ(flow_records, 3000);
  EXPECT_THAT(scraped, HasSubstr("strata_drift_records_total{model=\"calm\",version=\"1\"} 3000"));
  EXPECT_THAT(scraped, HasSubstr("strata_drift_bin_training_share{model=\"calm\",version=\"1\","
                                 "feature=\"temp\",bin=\"0\"} "));
  EXPECT_THAT(scraped, Not(HasSubstr("feature=\"rpm\",bin=")));
  EXPECT_GT(t.server->metrics_port(), 0);

  // A model version without a drift baseline answers FAILED_PRECONDITION;
  // unknown ones NOT_FOUND.
  calm_spec.set_version(9);
  EXPECT_EQ(t.client->DriftReport(calm_spec).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata

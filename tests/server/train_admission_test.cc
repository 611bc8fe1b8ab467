// AdmitTrainJob (server/train_admission.h) alone: what a spec and its data
// may become, without a manager, a store or a worker.
#include "server/train_admission.h"

#include <climits>
#include <cstdlib>
#include <fstream>

#include "core/base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/sweep_spec.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::SweepValues;

v1::TrainJobSpec Spec(const std::string& model, int epochs) {
  v1::TrainJobSpec spec;
  spec.set_model_name(model);
  spec.mutable_config()->set_finetune_epochs(epochs);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  return spec;
}

TrainJobData Rows(int rows) {
  TrainJobData d;
  d.rows = testing::ManifoldData(rows, 5, 2, 1);
  return d;
}

std::string DataRoot(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_admission_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  EXPECT_TRUE(CreateDirectories(dir).ok());
  return dir;
}

absl::Status Refusal(const v1::TrainJobSpec& spec, TrainJobData data,
                     const TrainJobLimits& limits = {}) {
  return AdmitTrainJob(spec, std::move(data), limits).status();
}

TEST(TrainAdmissionTest, RefusesBadNamesLabelsAndMissingData) {
  EXPECT_THAT(Refusal(Spec("", 1), Rows(60)).message(), HasSubstr("spec.model_name: "));
  v1::TrainJobSpec bad_label = Spec("m", 1);
  bad_label.add_labels("no spaces");
  EXPECT_THAT(Refusal(bad_label, Rows(60)).message(), HasSubstr("spec.labels: "));
  const absl::Status none = Refusal(Spec("m", 1), {});
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(none.message(), "the job has no training data");
  v1::TrainJobSpec header_inline = Spec("m", 1);
  header_inline.set_csv_header(v1::TrainJobSpec::CSV_HEADER_PRESENT);
  EXPECT_THAT(Refusal(header_inline, Rows(60)).message(),
              HasSubstr("spec.csv_header applies to csv_path data"));
}

TEST(TrainAdmissionTest, RefusesABadConfigTooFewRowsAndMiscountedNames) {
  v1::TrainJobSpec bad_config = Spec("m", 1);
  bad_config.mutable_config()->set_batch_size(0);
  const absl::Status refused = Refusal(bad_config, Rows(60));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("spec.config: config field batch_size"));
  EXPECT_THAT(Refusal(Spec("m", 1), Rows(1)).message(), HasSubstr("has 1 rows; at least 50"));
  v1::TrainJobSpec names = Spec("m", 1);
  names.add_feature_names("only_one");
  const absl::Status miscounted = Refusal(names, Rows(50));
  EXPECT_EQ(miscounted.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(miscounted.message(), HasSubstr("spec.feature_names has 1 names for 5 columns"));
}

TEST(TrainAdmissionTest, ClassLabelsAreIndexedAndMovedOutOfTheSpec) {
  v1::TrainJobSpec spec = Spec("m", 1);
  for (int r = 0; r < 60; ++r) spec.add_class_labels(r % 3 == 0 ? "" : r % 3 == 1 ? "a" : "b");
  // Inline rows that name their columns: the names are resolved into the
  // spec, so the job records them (unnamed rows leave the spec's empty).
  TrainJobData named = Rows(60);
  named.column_names = {"c0", "c1", "c2", "c3", "c4"};
  absl::StatusOr<AdmittedTrainJob> job = AdmitTrainJob(spec, named, {});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec.class_labels_size(), 0);
  EXPECT_EQ(job->classes.classes.size(), 60u);
  EXPECT_THAT(job->classes.names, ::testing::ElementsAre("a", "b"));
  EXPECT_FALSE(job->sweep.has_value());
  EXPECT_THAT(job->spec.feature_names(), ::testing::ElementsAre("c0", "c1", "c2", "c3", "c4"));
  absl::StatusOr<AdmittedTrainJob> unnamed = AdmitTrainJob(spec, Rows(60), {});
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->spec.feature_names_size(), 0);
  spec.clear_class_labels();
  spec.add_class_labels("a");
  EXPECT_THAT(Refusal(spec, Rows(60)).message(),
              HasSubstr("spec.class_labels has 1 labels for 60 rows"));
}

TEST(TrainAdmissionTest, CsvPathsAreConfinedAndResolved) {
  TrainJobData outside;
  outside.csv_path = "any.csv";
  EXPECT_EQ(Refusal(Spec("m", 1), outside).code(), absl::StatusCode::kFailedPrecondition);
  TrainJobLimits limits;
  limits.data_root = DataRoot("csv");
  std::ofstream(limits.data_root + "/any.csv") << "a\n1\n";
  TrainJobData climbs;
  climbs.csv_path = "../../etc/passwd";
  EXPECT_EQ(Refusal(Spec("m", 1), climbs, limits).code(), absl::StatusCode::kPermissionDenied);
  TrainJobData csv;
  csv.csv_path = "any.csv";
  absl::StatusOr<AdmittedTrainJob> job = AdmitTrainJob(Spec("m", 1), csv, limits);
  ASSERT_TRUE(job.ok()) << job.status();
  char canonical[PATH_MAX];
  ASSERT_NE(realpath((limits.data_root + "/any.csv").c_str(), canonical), nullptr);
  EXPECT_THAT(job->data.csv_files, ::testing::ElementsAre(canonical));
  EXPECT_EQ(job->data.csv_path, canonical);
  // A CSV's config is checked as for one column: a bad field still fails.
  v1::TrainJobSpec bad_config = Spec("m", 1);
  bad_config.mutable_config()->set_batch_size(0);
  EXPECT_THAT(Refusal(bad_config, csv, limits).message(), HasSubstr("batch_size"));
  v1::TrainJobSpec labelled = Spec("m", 1);
  labelled.set_label_column("a");
  EXPECT_THAT(Refusal(labelled, Rows(60)).message(),
              HasSubstr("spec.label_column names a column of csv_path data"));
}

TEST(TrainAdmissionTest, AJobBeyondTheMemoryLimitIsRefused) {
  v1::TrainJobSpec wide = Spec("wide", 1);
  wide.mutable_config()->add_encoder_widths(16384);
  TrainJobData data;
  data.rows = testing::ManifoldData(2 * 16384, 5, 2, 1);
  TrainJobLimits limits;
  limits.max_job_memory_bytes = int64_t{1} << 30;
  const absl::Status s = Refusal(wide, std::move(data), limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("this server allows 1.0 GiB per job (--max_job_memory)"));
}

TEST(TrainAdmissionTest, ASweepIsPlannedAndEachTrialChecked) {
  v1::TrainJobSpec spec = Spec("m", 1);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.01"});
  absl::StatusOr<AdmittedTrainJob> job = AdmitTrainJob(spec, Rows(60), {});
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(job->sweep.has_value());
  EXPECT_EQ(job->sweep->plans.size(), 2u);
  EXPECT_FALSE(job->sweep->trains_head);
  *spec.mutable_sweep()->mutable_parameters(0) =
      SweepValues("optimizer.learning_rate", {"0.1", "-2"});
  const absl::Status s = Refusal(spec, Rows(60));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("spec.sweep trial 2 (optimizer.learning_rate=-2)"));
  *spec.mutable_sweep()->mutable_parameters(0) = SweepValues("weight_decay", {"0", "0.01"});
  spec.mutable_sweep()->set_objective(v1::HEAD_ACCURACY);
  EXPECT_THAT(Refusal(spec, Rows(60)).message(),
              HasSubstr("spec.sweep.objective HEAD_ACCURACY needs class labels"));
}

}  // namespace
}  // namespace strata

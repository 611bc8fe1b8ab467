// TrainJobManager::Submit and the data a job reads: what admission refuses
// (server/train_admission.h), column names, CSV data and row files, and the
// memory and queue bounds.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/train_jobs.h"
#include "tests/server/train_jobs_fixture.h"

namespace strata {
namespace {

using jobs_test::Fixture;
using jobs_test::Rows;
using jobs_test::SeenTraining;
using jobs_test::Spec;
using ::testing::HasSubstr;
using testing::SweepValues;

TEST(TrainJobsTest, SubmitValidatesWhatItCan) {
  Fixture f("jobs_validate");
  EXPECT_THAT(f.jobs->Submit(Spec("", 1), Rows(60)).status().message(), HasSubstr("model_name"));
  v1::TrainJobSpec bad_label = Spec("m", 1);
  bad_label.add_labels("no spaces");
  EXPECT_THAT(f.jobs->Submit(bad_label, Rows(60)).status().message(), HasSubstr("spec.labels"));
  // A bad config, or too few rows, is refused at once and creates no job.
  v1::TrainJobSpec bad_config = Spec("m", 1);
  bad_config.mutable_config()->set_batch_size(0);
  const absl::Status refused = f.jobs->Submit(bad_config, Rows(60)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("spec.config: config field batch_size"));
  TrainJobManager::JobData bad_csv;
  bad_csv.csv_path = "any.csv";
  std::ofstream(f.root + "/data/any.csv") << "a\n1\n";
  EXPECT_THAT(f.jobs->Submit(bad_config, bad_csv).status().message(), HasSubstr("batch_size"));
  EXPECT_THAT(f.jobs->Submit(Spec("m", 1), Rows(1)).status().message(),
              HasSubstr("has 1 rows; at least 50"));
  EXPECT_TRUE(f.jobs->List("").empty());
  EXPECT_THAT(f.jobs->Submit(Spec("m", 1), {}).status().message(), HasSubstr("no training data"));
  TrainJobManager::JobData csv;
  csv.csv_path = "../../etc/passwd";
  EXPECT_EQ(f.jobs->Submit(Spec("m", 1), csv).status().code(), absl::StatusCode::kPermissionDenied);
  // Feature names that do not match the columns are refused at once.
  v1::TrainJobSpec names = Spec("m", 1);
  names.add_feature_names("only_one");
  const absl::Status miscounted = f.jobs->Submit(names, Rows(50)).status();
  EXPECT_EQ(miscounted.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(miscounted.message(), HasSubstr("spec.feature_names has 1 names for 5 columns"));
  v1::TrainJobSpec header_inline = Spec("m", 1);
  header_inline.set_csv_header(v1::TrainJobSpec::CSV_HEADER_PRESENT);
  EXPECT_THAT(f.jobs->Submit(header_inline, Rows(60)).status().message(),
              HasSubstr("spec.csv_header applies to csv_path data"));
  v1::TrainJobSpec header_unknown = Spec("m", 1);
  header_unknown.set_csv_header(static_cast<v1::TrainJobSpec::CsvHeader>(7));
  EXPECT_THAT(f.jobs->Submit(header_unknown, csv).status().message(),
              HasSubstr("spec.csv_header: unknown value 7"));
  EXPECT_TRUE(f.jobs->List("").empty());
}

// A model records the names its training columns had: a spec naming them
// otherwise (another order included) is refused, never recorded, since every
// later by-name score would then read the wrong columns.
TEST(TrainJobsTest, AModelRecordsTheNamesItsDataGaveItsColumns) {
  Fixture f("jobs_names");
  const auto names_of = [&f](int64_t version) {
    v1::ModelSpec spec;
    spec.set_name("m");
    spec.set_version(version);
    f.registry->Refresh();
    absl::StatusOr<ServableModel> served = f.registry->Get(spec);
    return served.ok() ? served->model->info().feature_names : std::vector<std::string>{};
  };
  // Inline rows that name their columns: the names are the model's.
  TrainJobManager::JobData named = Rows(60);
  named.column_names = {"a", "b", "c", "d", "e"};
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(Spec("m", 1), named)->id());
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  EXPECT_THAT(names_of(j.version()), ::testing::ElementsAre("a", "b", "c", "d", "e"));
  // A spec naming them in another order: refused at Submit, no job.
  v1::TrainJobSpec reversed = Spec("m", 1);
  for (const char* n : {"e", "d", "c", "b", "a"}) reversed.add_feature_names(n);
  const absl::Status refused = f.jobs->Submit(reversed, named).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(),
              HasSubstr("column 0 is 'e' in spec.feature_names and 'a' in the data"));
  // A CSV header likewise (checked when the job reads it).
  std::ofstream(f.root + "/data/named.csv")
      << testing::CsvText(testing::ManifoldData(60, 5, 2, 3), "a,b,c,d,e");
  TrainJobManager::JobData file;
  file.csv_path = "named.csv";
  const v1::TrainJob from_csv = f.WaitFor(f.jobs->Submit(reversed, file)->id());
  EXPECT_EQ(from_csv.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(from_csv.error(), HasSubstr("contradict the names the data gives its columns"));
  EXPECT_THAT(*f.store->ListVersions("m"), ::testing::ElementsAre(1));
  // Unnamed rows take the spec's names.
  const v1::TrainJob unnamed = f.WaitFor(f.jobs->Submit(reversed, Rows(60))->id());
  ASSERT_EQ(unnamed.state(), v1::TrainJob::SUCCEEDED) << unnamed.error();
  EXPECT_THAT(names_of(unnamed.version()), ::testing::ElementsAre("e", "d", "c", "b", "a"));
  // So does a headerless CSV with a column dropped (its columns f1 ... f5).
  std::string headerless = testing::CsvText(testing::ManifoldData(60, 6, 2, 5));
  headerless.erase(0, headerless.find('\n') + 1);
  std::ofstream(f.root + "/data/headerless.csv") << headerless;
  TrainJobManager::JobData unnamed_file;
  unnamed_file.csv_path = "headerless.csv";
  v1::TrainJobSpec dropped = reversed;
  dropped.add_drop_columns("f0");
  const v1::TrainJob from_headerless = f.WaitFor(f.jobs->Submit(dropped, unnamed_file)->id());
  ASSERT_EQ(from_headerless.state(), v1::TrainJob::SUCCEEDED) << from_headerless.error();
  EXPECT_THAT(names_of(from_headerless.version()), ::testing::ElementsAre("e", "d", "c", "b", "a"));
}

// pandas writes a header of numbers (0,1,2,...): detected, it reads as a
// data row; spec.csv_header (strata train --header yes) says it is a header.
TEST(TrainJobsTest, TheCsvHeaderModeReachesTheServer) {
  Fixture f("jobs_csv_header");
  std::ofstream(f.root + "/data/numbered.csv")
      << testing::CsvText(testing::ManifoldData(60, 5, 2, 4), "0,1,2,3,4");
  TrainJobManager::JobData file;
  file.csv_path = "numbered.csv";
  v1::TrainJobSpec present = Spec("m", 1);
  present.set_csv_header(v1::TrainJobSpec::CSV_HEADER_PRESENT);
  const v1::TrainJob header = f.WaitFor(f.jobs->Submit(present, file)->id());
  ASSERT_EQ(header.state(), v1::TrainJob::SUCCEEDED) << header.error();
  EXPECT_EQ(header.rows(), 60);
  v1::ModelSpec latest;
  latest.set_name("m");
  f.registry->Refresh();
  EXPECT_THAT(f.registry->Get(latest)->model->info().feature_names,
              ::testing::ElementsAre("0", "1", "2", "3", "4"));
  const v1::TrainJob detected = f.WaitFor(f.jobs->Submit(Spec("m", 1), file)->id());
  ASSERT_EQ(detected.state(), v1::TrainJob::SUCCEEDED) << detected.error();
  EXPECT_EQ(detected.rows(), 61);
}

// The version is published, but a caller waiting on the job hears that its
// label did not move (before, only the server's log said so).
TEST(TrainJobsTest, ALabelThatCannotMoveIsAWarningOnTheJob) {
  Fixture f("jobs_label_warning");
  // labels.json cannot be written: a directory holds its place.
  std::system(("mkdir -p " + f.root + "/models/m/labels.json").c_str());
  v1::TrainJobSpec spec = Spec("m", 1);
  spec.add_labels("prod");
  // Enough rows for a firm calibration: the label is the one warning.
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(spec, Rows(2000))->id());
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  ASSERT_EQ(j.warnings_size(), 1) << absl::StrJoin(j.warnings(), "; ");
  EXPECT_THAT(j.warnings(0), HasSubstr(absl::StrCat("published version ", j.version(),
                                                    " but could not set label prod")));
}

TEST(TrainJobsTest, CsvDataTrainsFromARowFileAndMaxTrainValuesBoundsWhatIsHeldInMemory) {
  const std::string root = testing::ScratchDir("jobs_csv_limit");
  auto store = *ModelStore::Create({root + "/models"});
  ModelRegistry::Options ro;
  ro.store = store.get();
  ro.poll_interval = absl::ZeroDuration();
  auto registry = *ModelRegistry::Create(std::move(ro));
  TrainJobManager::Options jo;
  jo.store = store.get();
  jo.registry = registry.get();
  jo.data_root = root + "/data";
  jo.row_cache_dir = root + "/rows";
  jo.max_train_values = 1000;
  std::system(("mkdir -p " + jo.data_root + "/shards " + jo.row_cache_dir).c_str());
  auto jobs = *TrainJobManager::Create(jo);
  const auto write = [](const std::string& path, int rows, int from) {
    std::ofstream csv(path);
    csv << "a,b,c,d\n";
    for (int r = from; r < from + rows; ++r) {
      csv << r << "," << r % 7 << "," << r % 3 << "," << r % 11 << "\n";
    }
  };
  write(jo.data_root + "/big.csv", 400, 0);
  write(jo.data_root + "/shards/0.csv", 300, 0);
  write(jo.data_root + "/shards/1.csv", 200, 300);
  const auto run = [&](const std::string& path, const std::string& label_column) {
    TrainJobManager::JobData data;
    data.csv_path = path;
    v1::TrainJobSpec spec = Spec("m", 1);
    spec.set_label_column(label_column);
    const std::string id = jobs->Submit(spec, data)->id();
    v1::TrainJob j;
    for (int i = 0; i < 4000 && !IsTerminalState(j.state()); ++i) {
      j = *jobs->Get(id);
      absl::SleepFor(absl::Milliseconds(5));
    }
    return j;
  };
  // 1,600 and 2,000 values, beyond --max_train_values: from a row file.
  const v1::TrainJob file = run("big.csv", "");
  EXPECT_EQ(file.state(), v1::TrainJob::SUCCEEDED) << file.error();
  EXPECT_EQ(file.rows(), 400);
  EXPECT_EQ(file.cols(), 4);
  const v1::TrainJob shards = run("shards", "");
  EXPECT_EQ(shards.state(), v1::TrainJob::SUCCEEDED) << shards.error();
  EXPECT_EQ(shards.rows(), 500);
  EXPECT_THAT(*store->ListVersions("m"), ::testing::ElementsAre(1, 2));
  absl::StatusOr<std::vector<std::string>> cached = ListDir(jo.row_cache_dir);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->size(), 0u) << "row files are hidden (.strata-rows-*)";
  EXPECT_EQ(testing::Shell("ls -A " + jo.row_cache_dir + " | grep -c '^.strata-rows-'").output,
            "2\n");
  // With a label column the rows are read into memory: still bounded.
  const v1::TrainJob labelled = run("big.csv", "d");
  EXPECT_EQ(labelled.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(labelled.error(), HasSubstr("400 rows x 3 columns = 1200 values; at most 1000"));
  EXPECT_THAT(labelled.error(), HasSubstr("(--max_train_values)"));
  TrainJobManager::JobData two_files;
  two_files.csv_path = "shards";
  v1::TrainJobSpec spec = Spec("m", 1);
  spec.set_label_column("d");
  absl::StatusOr<v1::TrainJob> refused = jobs->Submit(spec, two_files);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("names 2 files; class labels are read from one"));
  EXPECT_THAT(*store->ListVersions("m"), ::testing::ElementsAre(1, 2));
}

TEST(TrainJobsTest, AJobBeyondMaxJobMemoryIsRefusedWithItsEstimate) {
  Fixture f("jobs_memory", 1, true,
            [](TrainJobManager::Options* o) { o->max_job_memory_bytes = int64_t{1} << 30; });
  // A code of 16384 units: the calibration alone needs five 16384 x 16384
  // double matrices (10 GiB). Refused at Submit, before a job exists.
  v1::TrainJobSpec wide = Spec("wide", 1);
  wide.mutable_config()->add_encoder_widths(16384);
  TrainJobManager::JobData data;
  data.rows = testing::ManifoldData(2 * 16384, 5, 2, 1);
  absl::StatusOr<v1::TrainJob> job = f.jobs->Submit(wide, std::move(data));
  ASSERT_EQ(job.status().code(), absl::StatusCode::kResourceExhausted) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("the job would need about"));
  EXPECT_THAT(std::string(job.status().message()),
              ::testing::ContainsRegex("calibration [0-9.]+ GiB\\)"));
  EXPECT_THAT(job.status().message(),
              HasSubstr("this server allows 1.0 GiB per job (--max_job_memory)"));
  // A CSV job: the config alone already exceeds the limit whatever the
  // file's width, so it is refused at Submit too.
  {
    std::ofstream csv(f.root + "/data/small.csv");
    csv << "a,b\n";
    for (int r = 0; r < 60; ++r) csv << r << "," << r % 7 << "\n";
  }
  TrainJobManager::JobData csv;
  csv.csv_path = "small.csv";
  EXPECT_EQ(f.jobs->Submit(wide, csv).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(f.jobs->List("").empty()) << "a refused job was created";
  // The same data with a small code fits.
  const v1::TrainJob ok = f.WaitFor(f.jobs->Submit(Spec("narrow", 1), Rows(200))->id());
  EXPECT_EQ(ok.state(), v1::TrainJob::SUCCEEDED) << ok.error();
}

TEST(TrainJobsTest, CsvJobsAreCheckedAgainstMaxJobMemoryOnceTheirShapeIsKnown) {
  int64_t limit = 0;
  Fixture f("jobs_memory_csv", 1, true, [&limit](TrainJobManager::Options* o) {
    // Room for the config as for one column and the file, not for the
    // rows the file turns out to hold (the isolation forest's 1.2 MB of
    // nodes is in both).
    o->max_job_memory_bytes = 3 << 20;
    limit = o->max_job_memory_bytes;
  });
  {
    std::ofstream csv(f.root + "/data/wide.csv");
    for (int c = 0; c < 200; ++c) csv << (c ? "," : "") << "f" << c;
    csv << "\n";
    for (int r = 0; r < 400; ++r) {
      for (int c = 0; c < 200; ++c) csv << (c ? "," : "") << (r * c) % 13;
      csv << "\n";
    }
  }
  TrainJobManager::JobData data;
  data.csv_path = "wide.csv";
  absl::StatusOr<v1::TrainJob> job = f.jobs->Submit(Spec("m", 1), data);
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::TrainJob j = f.WaitFor(job->id());
  EXPECT_EQ(j.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(j.error(), HasSubstr("(--max_job_memory)"));
  EXPECT_TRUE(f.store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, QueuedTrainingValuesAreBounded) {
  // One worker, busy with a long job; queued jobs may hold 2 x 250 x 5 values.
  Fixture f("jobs_queue_bound", 1, true,
            [](TrainJobManager::Options* o) { o->max_queued_values = 2 * 250 * 5; });
  const std::string running = f.jobs->Submit(Spec("busy", 100000), Rows(250))->id();
  for (int i = 0; i < 2000 && f.jobs->Get(running)->state() != v1::TrainJob::RUNNING; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(f.jobs->Get(running)->state(), v1::TrainJob::RUNNING);
  const std::string first = f.jobs->Submit(Spec("q1", 1), Rows(250))->id();
  const std::string second = f.jobs->Submit(Spec("q2", 1), Rows(250))->id();
  absl::StatusOr<v1::TrainJob> third = f.jobs->Submit(Spec("q3", 1), Rows(250));
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_THAT(third.status().message(), HasSubstr("already hold 2500 training values"));
  EXPECT_THAT(third.status().message(), HasSubstr("--max_queued_train_values"));
  // Cancelling a queued job gives its share back.
  ASSERT_TRUE(f.jobs->Cancel(second).ok());
  EXPECT_TRUE(f.jobs->Submit(Spec("q3", 1), Rows(250)).ok());
  ASSERT_TRUE(f.jobs->Cancel(running).ok());
  EXPECT_EQ(f.WaitFor(first).state(), v1::TrainJob::SUCCEEDED);
}

// Rows being uploaded count against the same bound: an upload reserves
// them as they arrive, and the job it becomes takes the reservation over.
TEST(TrainJobsTest, UploadsInProgressCountAgainstTheQueueBound) {
  Fixture f("jobs_upload_bound", 1, true,
            [](TrainJobManager::Options* o) { o->max_queued_values = 1000; });
  const std::string running = f.jobs->Submit(Spec("busy", 100000), Rows(100))->id();
  for (int i = 0; i < 2000 && f.jobs->Get(running)->state() != v1::TrainJob::RUNNING; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(f.jobs->Get(running)->state(), v1::TrainJob::RUNNING);
  ASSERT_TRUE(f.jobs->ReserveUpload(600).ok());
  absl::StatusOr<v1::TrainJob> refused = f.jobs->Submit(Spec("q1", 1), Rows(100));  // 500 values
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(refused.status().message(),
              HasSubstr("queued jobs and uploads in progress already hold 600"));
  const absl::Status also = f.jobs->ReserveUpload(401);
  EXPECT_EQ(also.code(), absl::StatusCode::kResourceExhausted) << also;
  f.jobs->ReleaseUpload(600);
  const std::string q1 = f.jobs->Submit(Spec("q1", 1), Rows(100))->id();  // 500 queued
  ASSERT_TRUE(f.jobs->ReserveUpload(500).ok());                           // 1000 held
  EXPECT_EQ(f.jobs->ReserveUpload(1).code(), absl::StatusCode::kResourceExhausted);
  // The upload's own 500 become the job's: still 1000 held, not 1500.
  TrainJobManager::JobData uploaded = Rows(100);
  uploaded.reserved_values = 500;
  const std::string q2 = f.jobs->Submit(Spec("q2", 1), std::move(uploaded))->id();
  EXPECT_EQ(f.jobs->ReserveUpload(1).code(), absl::StatusCode::kResourceExhausted);
  // With q1 cancelled, q2's 500 are all that is held: had Submit kept the
  // upload's reservation as well, 1000 would still be.
  ASSERT_TRUE(f.jobs->Cancel(q1).ok());
  EXPECT_TRUE(f.jobs->ReserveUpload(500).ok());
  f.jobs->ReleaseUpload(500);
  ASSERT_TRUE(f.jobs->Cancel(running).ok());
}

// Issue 14, item 7: a threshold resting on a few rows trains, and the job
// (what SubmitTrainJob's caller watches) says so, not only the model file.
TEST(TrainJobsTest, AWeakCalibrationIsAWarningOnTheJob) {
  Fixture f("jobs_weak_calibration");
  const v1::TrainJob weak = f.WaitFor(f.jobs->Submit(Spec("m", 1), Rows(60))->id());
  ASSERT_EQ(weak.state(), v1::TrainJob::SUCCEEDED) << weak.error();
  ASSERT_EQ(weak.warnings_size(), 1);
  EXPECT_THAT(weak.warnings(0), HasSubstr("weak calibration: the p99 threshold rests on"));
  const v1::TrainJob firm = f.WaitFor(f.jobs->Submit(Spec("m", 1), Rows(2000))->id());
  ASSERT_EQ(firm.state(), v1::TrainJob::SUCCEEDED) << firm.error();
  EXPECT_EQ(firm.warnings_size(), 0) << absl::StrJoin(firm.warnings(), "; ");
}

// --row_cache_dir is checked when the server starts, not by the first job
// that reads CSV data: it needs --data_root, and is created if missing.
TEST(TrainJobsTest, TheRowCacheDirectoryIsCheckedAtStart) {
  const auto cache_in = [](const std::string& dir, bool with_data_root) {
    return [dir, with_data_root](TrainJobManager::Options* o) {
      o->row_cache_dir = ::testing::TempDir() + "/strata_jobs_row_cache/" + dir;
      if (!with_data_root) o->data_root.clear();
    };
  };
  const Fixture no_root("jobs_row_cache", 0, true, cache_in("rows", false));
  EXPECT_EQ(no_root.created.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_root.created.message(),
              HasSubstr("row_cache_dir holds the row files of csv_path data"));
  const Fixture made("jobs_row_cache", 0, true, cache_in("rows/cache", true));
  ASSERT_TRUE(made.created.ok()) << made.created;
  EXPECT_EQ(testing::Shell("test -d " + made.root + "/rows/cache").exit_code, 0);
  std::ofstream(made.root + "/file") << "x";
  const Fixture under_a_file("jobs_row_cache", 0, false, cache_in("file/cache", true));
  EXPECT_FALSE(under_a_file.created.ok());
  EXPECT_THAT(under_a_file.created.message(), HasSubstr("row_cache_dir: "));
}

}  // namespace
}  // namespace strata

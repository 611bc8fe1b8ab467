#include "server/train_jobs.h"

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

#include "absl/strings/str_join.h"
#include "core/base/file_util.h"
#include "core/model/model_io.h"
#include "core/train/train_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/shell.h"
#include "tests/testing/sweep_spec.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::SweepValues;

struct Fixture {
  explicit Fixture(const std::string& name, int workers = 1, bool fresh = true,
                   const std::function<void(TrainJobManager::Options*)>& configure = nullptr) {
    root = fresh ? testing::ScratchDir(name) : ::testing::TempDir() + "/strata_" + name;
    store = *ModelStore::Create({root + "/models"});
    ModelRegistry::Options ro;
    ro.store = store.get();
    ro.poll_interval = absl::ZeroDuration();
    registry = *ModelRegistry::Create(std::move(ro));
    TrainJobManager::Options jo;
    jo.store = store.get();
    jo.registry = registry.get();
    jo.max_concurrent_jobs = workers;
    jo.data_root = root + "/data";
    jo.records_dir = root + "/models/.jobs";
    std::system(("mkdir -p " + jo.data_root).c_str());
    if (configure) configure(&jo);
    absl::StatusOr<std::unique_ptr<TrainJobManager>> made = TrainJobManager::Create(jo);
    created = made.status();
    if (made.ok()) jobs = *std::move(made);
  }
  v1::TrainJob WaitFor(const std::string& id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      v1::TrainJob j = *jobs->Get(id);
      if (IsTerminalState(j.state())) return j;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "job " << id << " did not end";
    return {};
  }
  std::string root;
  std::unique_ptr<ModelStore> store;
  std::unique_ptr<ModelRegistry> registry;
  std::unique_ptr<TrainJobManager> jobs;  // null when Create failed
  absl::Status created;                   // what TrainJobManager::Create said
};

v1::TrainJobSpec Spec(const std::string& model, int epochs) {
  v1::TrainJobSpec spec;
  spec.set_model_name(model);
  spec.mutable_config()->set_finetune_epochs(epochs);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  return spec;
}

TrainJobManager::JobData Rows(int rows, uint64_t seed = 1) {
  TrainJobManager::JobData d;
  d.rows = testing::ManifoldData(rows, 5, 2, seed);
  return d;
}

TEST(TrainJobsTest, ResolveDataPathConfinesToTheRoot) {
  const std::string root = testing::ScratchDir("jobs_paths");
  std::system(("mkdir -p " + root + "/sub && touch " + root + "/sub/a.csv").c_str());
  symlink("/etc/hostname", (root + "/link.csv").c_str());
  symlink((root + "/sub/a.csv").c_str(), (root + "/inside.csv").c_str());
  char canonical[PATH_MAX];
  ASSERT_NE(realpath((root + "/sub/a.csv").c_str(), canonical), nullptr);
  using ::testing::ElementsAre;
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "sub/a.csv"), ElementsAre(canonical));
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "./sub/../sub/a.csv"),
              ElementsAre(canonical));
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "inside.csv"), ElementsAre(canonical));
  // A directory of shards, or a glob: every file it matches is checked.
  std::system(("touch " + root + "/sub/b.csv").c_str());
  const std::string b = std::string(canonical, std::strlen(canonical) - 5) + "b.csv";
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "sub"), ElementsAre(canonical, b));
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "sub/?.csv"), ElementsAre(canonical, b));
  // The root's *.csv include link.csv, which leads to /etc.
  for (const char* bad :
       {"../x.csv", "sub/../../x.csv", "/etc/hostname", "link.csv", "", "*.csv", "../sub"}) {
    EXPECT_EQ(TrainJobManager::ResolveDataPath(root, bad).status().code(),
              absl::StatusCode::kPermissionDenied)
        << bad;
  }
  EXPECT_EQ(TrainJobManager::ResolveDataPath(root, "nope.csv").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TrainJobManager::ResolveDataPath("", "a.csv").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TrainJobsTest, ResolveDataPathTakesNoListsAndARootWithPatternCharacters) {
  // A root whose name holds glob characters: they are not a pattern.
  const std::string root = testing::ScratchDir("jobs_paths_[odd]*");
  std::system(("mkdir -p '" + root + "/sub' && touch '" + root + "/sub/a.csv'").c_str());
  char canonical[PATH_MAX];
  ASSERT_NE(realpath((root + "/sub/a.csv").c_str(), canonical), nullptr);
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "sub"), ::testing::ElementsAre(canonical));
  EXPECT_THAT(*TrainJobManager::ResolveDataPath(root, "sub/*.csv"),
              ::testing::ElementsAre(canonical));
  // A comma is part of a name, not a list whose parts escape the checks
  // (this crashed the server: "a.csv,/nope" resolved "/nope" outside).
  for (const char* listed :
       {"sub/a.csv,/nope", "sub/a.csv,../../../x", "sub/a.csv,/etc/hostname"}) {
    absl::StatusOr<std::vector<std::string>> files = TrainJobManager::ResolveDataPath(root, listed);
    EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound) << listed;
    EXPECT_THAT(files.status().message(), HasSubstr("does not exist under --data_root")) << listed;
  }
}

TEST(TrainJobsTest, JobsPublishNextVersionsAndSetLabels) {
  Fixture f("jobs_publish", 2);
  v1::TrainJobSpec spec = Spec("m", 2);
  spec.add_labels("stable");
  const std::string a = f.jobs->Submit(spec, Rows(200, 1))->id();
  const std::string b = f.jobs->Submit(Spec("m", 2), Rows(200, 2))->id();
  const v1::TrainJob ja = f.WaitFor(a), jb = f.WaitFor(b);
  ASSERT_EQ(ja.state(), v1::TrainJob::SUCCEEDED) << ja.error();
  ASSERT_EQ(jb.state(), v1::TrainJob::SUCCEEDED) << jb.error();
  // Two jobs ran at once and got distinct versions.
  EXPECT_NE(ja.version(), jb.version());
  EXPECT_EQ(ja.version() + jb.version(), 3);
  EXPECT_EQ(f.store->ReadLabels("m")->labels().at("stable"), ja.version());
  v1::ModelSpec latest;
  latest.set_name("m");
  EXPECT_EQ(f.registry->Get(latest)->version, 2);
  EXPECT_GT(ja.finished_unix_micros(), ja.started_unix_micros());
  EXPECT_GE(ja.started_unix_micros(), ja.created_unix_micros());
}

TEST(TrainJobsTest, ConcurrentSubmitCancelAndListStayConsistent) {
  Fixture f("jobs_concurrent", 2);
  std::vector<std::string> ids(12);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        const int k = t * 3 + i;
        ids[k] = f.jobs->Submit(Spec("m" + std::to_string(k % 3), k % 2 ? 100000 : 2), Rows(100, k))
                     ->id();
        f.jobs->List("");
        if (k % 2) f.jobs->Cancel(ids[k]).IgnoreError();
      }
    });
  }
  for (auto& t : threads) t.join();
  int succeeded = 0, cancelled = 0;
  for (int k = 0; k < 12; ++k) {
    const v1::TrainJob j = f.WaitFor(ids[k]);
    if (k % 2) {
      EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << k;
      ++cancelled;
    } else {
      EXPECT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << k << ": " << j.error();
      ++succeeded;
    }
  }
  EXPECT_EQ(succeeded, 6);
  EXPECT_EQ(cancelled, 6);
  EXPECT_EQ(f.jobs->List("").size(), 12u);
  EXPECT_EQ(f.jobs->List("m0").size(), 4u);
  // Only the 6 finished jobs published: 2 versions for each of 3 models.
  for (const char* m : {"m0", "m1", "m2"}) EXPECT_EQ(f.store->ListVersions(m)->size(), 2u) << m;
}

// Waits (bounded) until job `id` is seen RUNNING with at least one epoch
// done, so that a cancel reaches the trainer's loop, not the queue. (The jobs
// cancelled below plan kMaxEpochs: 100,000 epochs of 500 rows take only 4 s.)
::testing::AssertionResult SeenTraining(TrainJobManager& jobs, const std::string& id) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  v1::TrainJob j;
  do {
    j = *jobs.Get(id);
    if (j.state() == v1::TrainJob::RUNNING && j.progress().epochs_done() >= 1) {
      return ::testing::AssertionSuccess();
    }
    if (IsTerminalState(j.state())) break;
    absl::SleepFor(absl::Milliseconds(5));
  } while (absl::Now() < deadline);
  return ::testing::AssertionFailure()
         << "job " << id << " was never seen training: " << v1::TrainJob::State_Name(j.state())
         << ", " << j.progress().epochs_done() << " epochs done";
}

TEST(TrainJobsTest, CancelStopsARunningJobAndPublishesNothing) {
  Fixture f("jobs_cancel_running");
  const std::string id = f.jobs->Submit(Spec("m", kMaxEpochs), Rows(500))->id();
  ASSERT_TRUE(SeenTraining(*f.jobs, id));
  // A running job is only flagged here; the trainer ends it within a batch.
  ASSERT_TRUE(f.jobs->Cancel(id).ok());
  const v1::TrainJob j = f.WaitFor(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  EXPECT_GT(j.started_unix_micros(), 0);
  EXPECT_GE(j.progress().epochs_done(), 1);
  EXPECT_LT(j.progress().epochs_done(), kMaxEpochs);
  EXPECT_EQ(j.version(), 0);
  EXPECT_TRUE(f.store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, ShutdownCancelsRunningJobsCleanly) {
  std::string id;
  {
    Fixture f("jobs_shutdown");
    id = f.jobs->Submit(Spec("m", kMaxEpochs), Rows(500))->id();
    ASSERT_TRUE(SeenTraining(*f.jobs, id));
    f.jobs.reset();  // joins the worker after cancelling
    EXPECT_TRUE(f.store->ListVersions("m")->empty());
  }
  // The job ended as CANCELLED and said so in its record; a job killed
  // mid-run would read as FAILED (interrupted) here.
  Fixture again("jobs_shutdown", 1, /*fresh=*/false);
  const v1::TrainJob j = *again.jobs->Get(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  EXPECT_TRUE(again.store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, RecordsOutliveTheProcessAndInterruptedJobsReadAsFailed) {
  std::string done_id;
  {
    Fixture f("jobs_records");
    done_id = f.jobs->Submit(Spec("m", 2), Rows(100))->id();
    EXPECT_EQ(f.WaitFor(done_id).state(), v1::TrainJob::SUCCEEDED);
  }
  // What a process killed mid-job leaves: a record that says RUNNING, and a
  // half-written version in a temp directory.
  const std::string dir = ::testing::TempDir() + "/strata_jobs_records/models";
  v1::TrainJob running;
  running.set_id("job-7-abcd");
  running.set_model_name("m");
  running.set_state(v1::TrainJob::RUNNING);
  running.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  ASSERT_TRUE(WriteFileAtomically(dir + "/.jobs/job-7-abcd.pb", running.SerializeAsString()).ok());
  std::system(
      ("mkdir -p " + dir + "/m/.tmp-1-2 && echo partial > " + dir + "/m/.tmp-1-2/model.strata")
          .c_str());

  Fixture again("jobs_records", 1, /*fresh=*/false);
  const v1::TrainJob done = *again.jobs->Get(done_id);
  EXPECT_EQ(done.state(), v1::TrainJob::SUCCEEDED);
  EXPECT_EQ(done.version(), 1);
  const v1::TrainJob interrupted = *again.jobs->Get("job-7-abcd");
  EXPECT_EQ(interrupted.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(interrupted.error(), HasSubstr("interrupted"));
  EXPECT_GT(interrupted.finished_unix_micros(), 0);
  // The store shows the one complete version; new ids continue after job-7.
  EXPECT_EQ(*again.store->ListVersions("m"), std::vector<int64_t>{1});
  EXPECT_EQ(*again.store->ListModels(), std::vector<std::string>{"m"});
  const v1::TrainJob next = *again.jobs->Submit(Spec("m", 1), Rows(50));
  EXPECT_THAT(next.id(), ::testing::StartsWith("job-8-"));
  EXPECT_EQ(again.WaitFor(next.id()).version(), 2);
  EXPECT_EQ(again.jobs->List("m").size(), 3u);
}

TEST(TrainJobsTest, AWriteErrorWhilePublishingFailsTheJobAndPublishesNothing) {
  Fixture f("jobs_disk_full");
  ASSERT_EQ(f.WaitFor(f.jobs->Submit(Spec("m", 1), Rows(100))->id()).version(), 1);
  // Files may grow to 1 KiB only, as on a full disk: the job records (~100
  // bytes) fit, the model file (~2.5 KB) cannot be written (EFBIG rather
  // than ENOSPC; the same path through the store).
  signal(SIGXFSZ, SIG_IGN);
  rlimit old;
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const v1::TrainJob failed = f.WaitFor(f.jobs->Submit(Spec("m", 1), Rows(100, 2))->id());
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_EQ(failed.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("File too large"));
  EXPECT_EQ(failed.version(), 0);
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
  const testing::ShellResult leftovers =
      testing::Shell("ls -A " + f.root + "/models/m | grep -c tmp || true");
  EXPECT_EQ(leftovers.output, "0\n");
  // Version 1 is still served.
  v1::ModelSpec spec;
  spec.set_name("m");
  EXPECT_EQ(f.registry->Get(spec)->version, 1);
}

// Training that diverges on its last step (patience 0: nothing to restore)
// used to read SUCCEEDED, with NaN weights published and labels moved to a
// version the loader rejects. It fails, publishes nothing, moves no label.
TEST(TrainJobsTest, AJobThatDivergesOnItsLastStepFailsAndPublishesNothing) {
  Fixture f("jobs_diverged");
  v1::TrainJobSpec good = Spec("m", 1);
  good.add_labels("prod");
  ASSERT_EQ(f.WaitFor(f.jobs->Submit(good, Rows(100))->id()).version(), 1);
  v1::TrainJobSpec spec = Spec("m", 1);  // patience 0
  spec.add_labels("prod");
  spec.add_labels("canary");
  v1::TrainConfig* c = spec.mutable_config();
  c->set_scaler(v1::IDENTITY);
  c->set_validation_fraction(0);
  c->set_batch_size(1000);  // one step, checked by nothing after it
  c->mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  c->mutable_optimizer()->set_learning_rate(3e38f);
  TrainJobManager::JobData data;
  data.rows = testing::GaussianMatrix(200, 5, 1, 100.0);
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(spec, data)->id());
  EXPECT_EQ(j.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(j.error(), HasSubstr("diverged"));
  EXPECT_EQ(j.version(), 0);
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
  const auto labels = f.store->ReadLabels("m");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->labels().size(), 1u);
  EXPECT_EQ(labels->labels().at("prod"), 1);
}

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

// ---- Sweeps

TEST(TrainJobsTest, ASweepPublishesItsBestTrialWithTheResultsTable) {
  Fixture f("jobs_sweep", 2);
  v1::TrainJobSpec spec = Spec("m", 15);
  spec.add_labels("best");
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("encoder_widths", {"[8, 1]", "[8, 2]", "[16, 8, 4]"});
  const absl::StatusOr<v1::TrainJob> queued = f.jobs->Submit(spec, Rows(400));
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_EQ(queued->sweep().trials_size(), 3);
  EXPECT_EQ(queued->sweep().objective(), v1::VALIDATION_LOSS);
  EXPECT_EQ(queued->sweep().trials(2).state(), v1::SweepTrial::QUEUED);
  const v1::TrainJob j = f.WaitFor(queued->id());
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  // One version, the best trial's: the lowest validation loss.
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
  EXPECT_EQ(f.store->ReadLabels("m")->labels().at("best"), 1);
  int best = 0;
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    ASSERT_EQ(t.state(), v1::SweepTrial::SUCCEEDED) << t.error();
    ASSERT_TRUE(t.has_validation_loss());
    EXPECT_EQ(t.objective(), t.validation_loss());
    EXPECT_GT(t.epochs(), 0);
    if (best == 0 || t.objective() < j.sweep().trials(best - 1).objective()) best = t.trial();
  }
  EXPECT_EQ(j.sweep().best_trial(), best);
  auto model = ReadModelFile(f.store->ModelFilePath("m", 1));
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::TrainingSummary& summary = (*model)->info().summary;
  EXPECT_EQ(summary.sweep().best_trial(), best);
  ASSERT_EQ(summary.sweep().trials_size(), 3);
  EXPECT_EQ(summary.final_validation_loss(), j.sweep().trials(best - 1).validation_loss());
  const int widths[] = {1, 2, 4};
  EXPECT_EQ((*model)->autoencoder().code_dim(), widths[best - 1]);
  // The progress is a trial's epoch.
  EXPECT_GE(j.progress().trial(), 1);
  EXPECT_LE(j.progress().trial(), 3);
}

// A sweep's progress counted the running trial's epochs alone: a 6-trial
// sweep read RUNNING 15/15 after its first trial, and started again with
// each. It counts every trial's now (each trial here: 2 networks x 3
// epochs), never going back, with two trials running at once.
TEST(TrainJobsTest, ASweepsProgressCountsEveryTrialsEpochs) {
  Fixture f("jobs_sweep_progress", 2);
  v1::TrainJobSpec spec = Spec("m", 3);
  spec.mutable_config()->mutable_anomaly()->set_ensemble_size(2);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
  const absl::StatusOr<v1::TrainJob> queued = f.jobs->Submit(spec, Rows(300));
  ASSERT_TRUE(queued.ok()) << queued.status();
  int last_done = 0;
  v1::TrainJob j;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    j = *f.jobs->Get(queued->id());
    const v1::TrainJobProgress& p = j.progress();
    EXPECT_GE(p.epochs_done(), last_done) << "the count went back";
    EXPECT_LE(p.epochs_done(), p.epochs_planned());
    EXPECT_LE(p.epochs_planned(), 3 * 2 * 3);
    last_done = p.epochs_done();
    absl::SleepFor(absl::Milliseconds(1));
  } while (!IsTerminalState(j.state()) && absl::Now() < deadline);
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  EXPECT_EQ(j.progress().epochs_done(), 3 * 2 * 3);
  EXPECT_EQ(j.progress().epochs_planned(), 3 * 2 * 3);
  for (const v1::SweepTrial& t : j.sweep().trials()) EXPECT_EQ(t.epochs(), 2 * 3) << t.trial();
  EXPECT_GE(j.progress().trial(), 1);
  EXPECT_EQ(j.progress().networks(), 2);
}

// A job counts every network of its ensemble, marked by network, and ends
// with the published version's summary: the CLI printed the served
// network's "40 epochs (1.12s)" of a training that took 9.89 s, while
// `strata inspect` gave the version's seconds.
TEST(TrainJobsTest, AJobCountsEveryNetworkAndCarriesTheVersionsSummary) {
  Fixture f("jobs_networks");
  v1::TrainJobSpec spec = Spec("m", 4);
  spec.mutable_config()->mutable_anomaly()->set_ensemble_size(3);
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(spec, Rows(200))->id());
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  EXPECT_EQ(j.progress().epochs_done(), 3 * 4);
  EXPECT_EQ(j.progress().epochs_planned(), 3 * 4);
  EXPECT_EQ(j.progress().network(), 3);
  EXPECT_EQ(j.progress().networks(), 3);
  ASSERT_TRUE(j.has_summary());
  auto model = ReadModelFile(f.store->ModelFilePath("m", j.version()));
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::TrainingSummary& published = (*model)->info().summary;
  EXPECT_EQ(j.summary().epochs(), 3 * 4);
  EXPECT_EQ(j.summary().epochs(), published.epochs());
  EXPECT_EQ(j.summary().seconds(), published.seconds());
  EXPECT_EQ(j.summary().final_train_loss(), published.final_train_loss());
  // The whole training's seconds: the last epoch's report is in them.
  EXPECT_GE(j.summary().seconds(), j.progress().elapsed_seconds());
  EXPECT_EQ((*model)->info().history.size(), 4u);  // the served network's
}

TEST(TrainJobsTest, ASweepGoesOnPastFailedTrialsAndFailsWhenAllFail) {
  Fixture f("jobs_sweep_fail");
  v1::TrainJobSpec spec = Spec("m", 2);
  v1::TrainConfig* c = spec.mutable_config();
  c->set_scaler(v1::IDENTITY);
  c->mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("optimizer.learning_rate", {"1e-6", "3e38"});
  TrainJobManager::JobData data;
  data.rows = testing::GaussianMatrix(200, 5, 1, 100.0);
  const v1::TrainJob one = f.WaitFor(f.jobs->Submit(spec, data)->id());
  ASSERT_EQ(one.state(), v1::TrainJob::SUCCEEDED) << one.error();
  EXPECT_EQ(one.sweep().trials(0).state(), v1::SweepTrial::SUCCEEDED);
  EXPECT_EQ(one.sweep().trials(1).state(), v1::SweepTrial::FAILED);
  EXPECT_THAT(one.sweep().trials(1).error(), HasSubstr("diverged"));
  EXPECT_FALSE(one.sweep().trials(1).has_objective());
  EXPECT_EQ(one.sweep().best_trial(), 1);
  EXPECT_EQ(one.version(), 1);

  spec.mutable_sweep()->mutable_parameters(0)->set_values(0, "1e38");
  const v1::TrainJob none = f.WaitFor(f.jobs->Submit(spec, data)->id());
  EXPECT_EQ(none.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(none.error(),
              HasSubstr("every trial failed; trial 1 (optimizer.learning_rate=1e38)"));
  EXPECT_THAT(none.error(), HasSubstr("trial 2 (optimizer.learning_rate=3e38)"));
  EXPECT_EQ(none.sweep().best_trial(), 0);
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
}

TEST(TrainJobsTest, CancellingASweepCancelsItsTrialsAndPublishesNothing) {
  Fixture f("jobs_sweep_cancel");
  v1::TrainJobSpec spec = Spec("m", kMaxEpochs);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
  const std::string id = f.jobs->Submit(spec, Rows(500))->id();
  // Queued behind it: runs once the sweep has let go of the worker.
  const std::string after = f.jobs->Submit(Spec("n", 1), Rows(100))->id();
  ASSERT_TRUE(SeenTraining(*f.jobs, id));
  EXPECT_EQ(f.jobs->Get(id)->sweep().trials(0).state(), v1::SweepTrial::RUNNING);
  ASSERT_TRUE(f.jobs->Cancel(id).ok());
  const v1::TrainJob j = f.WaitFor(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    EXPECT_EQ(t.state(), v1::SweepTrial::CANCELLED) << t.trial();
  }
  EXPECT_EQ(j.sweep().trials(1).error(), "the sweep was cancelled");
  EXPECT_LT(j.progress().epochs_done(), kMaxEpochs);
  EXPECT_TRUE(f.store->ListVersions("m")->empty());
  EXPECT_EQ(f.WaitFor(after).state(), v1::TrainJob::SUCCEEDED);
  // A queued sweep cancelled ends at once, its trials with it.
  Fixture g("jobs_sweep_cancel_queued");
  const std::string blocker = g.jobs->Submit(Spec("b", kMaxEpochs), Rows(500))->id();
  const std::string queued = g.jobs->Submit(spec, Rows(100))->id();
  const v1::TrainJob c = *g.jobs->Cancel(queued);
  EXPECT_EQ(c.state(), v1::TrainJob::CANCELLED);
  EXPECT_EQ(c.sweep().trials(2).state(), v1::SweepTrial::CANCELLED);
  ASSERT_TRUE(g.jobs->Cancel(blocker).ok());
}

// A server stopping mid-sweep ends it CANCELLED, every trial with it, and
// says so in the record the next process reads.
TEST(TrainJobsTest, ShutdownEndsARunningSweepAndItsQueuedTrials) {
  std::string id;
  {
    Fixture f("jobs_sweep_shutdown");
    v1::TrainJobSpec spec = Spec("m", kMaxEpochs);
    *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
    id = f.jobs->Submit(spec, Rows(500))->id();
    ASSERT_TRUE(SeenTraining(*f.jobs, id));
    f.jobs.reset();
  }
  Fixture again("jobs_sweep_shutdown", 1, /*fresh=*/false);
  const v1::TrainJob j = *again.jobs->Get(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  ASSERT_EQ(j.sweep().trials_size(), 3);
  EXPECT_EQ(j.sweep().trials(0).state(), v1::SweepTrial::CANCELLED);
  EXPECT_EQ(j.sweep().trials(2).state(), v1::SweepTrial::CANCELLED);
  EXPECT_EQ(j.sweep().trials(2).error(), "the server stopped");
  EXPECT_TRUE(again.store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, ASweepWhoseDataCannotBeReadFailsOnceAndRunsNoOtherTrial) {
  Fixture f("jobs_sweep_bad_csv", 2);
  std::ofstream(f.root + "/data/bad.csv") << "a,b,c\n1,2,3\n4,x,6\n";
  v1::TrainJobSpec spec = Spec("m", 1);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.1", "0.2", "0.3"});
  TrainJobManager::JobData csv;
  csv.csv_path = "bad.csv";
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(spec, csv)->id());
  EXPECT_EQ(j.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(j.error(), HasSubstr("line 3"));
  int failed = 0, skipped = 0;
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    failed += t.state() == v1::SweepTrial::FAILED;
    skipped += t.state() == v1::SweepTrial::CANCELLED;
    if (t.state() == v1::SweepTrial::CANCELLED) {
      EXPECT_EQ(t.error(), "not run: the data could not be read");
    }
  }
  // The trials that had started when the read failed (one per worker at
  // most) fail with it; the others never run.
  EXPECT_GE(failed, 1);
  EXPECT_LE(failed, 2);
  EXPECT_EQ(failed + skipped, 4);
  // With one worker the failing trial is the only one ever started, and
  // ends the sweep itself.
  Fixture one("jobs_sweep_bad_csv_one");
  std::ofstream(one.root + "/data/bad.csv") << "a,b,c\n1,2,3\n4,x,6\n";
  const v1::TrainJob k = one.WaitFor(one.jobs->Submit(spec, csv)->id());
  EXPECT_EQ(k.state(), v1::TrainJob::FAILED);
  EXPECT_EQ(k.sweep().trials(0).state(), v1::SweepTrial::FAILED);
  EXPECT_EQ(k.sweep().trials(3).state(), v1::SweepTrial::CANCELLED);
}

TEST(TrainJobsTest, SweepsAreCheckedAtSubmit) {
  Fixture f("jobs_sweep_validate");
  v1::TrainJobSpec spec = Spec("m", 1);
  *spec.mutable_sweep()->add_parameters() = SweepValues("optimizer.learning_rate", {"0.1", "-2"});
  absl::Status s = f.jobs->Submit(spec, Rows(60)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("spec.sweep trial 2 (optimizer.learning_rate=-2)"));
  // Each trial's own code width sets its fewest rows.
  spec.mutable_sweep()->mutable_parameters(0)->set_field("encoder_widths");
  spec.mutable_sweep()->mutable_parameters(0)->set_values(0, "[8, 2]");
  spec.mutable_sweep()->mutable_parameters(0)->set_values(1, "[40, 30]");
  s = f.jobs->Submit(spec, Rows(55)).status();
  EXPECT_THAT(s.message(), HasSubstr("spec.sweep trial 2: "));
  EXPECT_THAT(s.message(), HasSubstr("at least 60"));
  spec.mutable_sweep()->set_objective(v1::HEAD_ACCURACY);
  EXPECT_THAT(f.jobs->Submit(spec, Rows(60)).status().message(),
              HasSubstr("spec.sweep.objective HEAD_ACCURACY needs class labels"));
  EXPECT_TRUE(f.jobs->List("").empty());
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

// TrainJobManager: the life of a job (queue, workers, cancel, shutdown,
// records on disk, publishing, progress) and CSV paths confined to the data
// root.
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

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/train_jobs_fixture.h"

namespace strata {
namespace {

using jobs_test::Fixture;
using jobs_test::Rows;
using jobs_test::SeenTraining;
using jobs_test::Spec;
using ::testing::HasSubstr;
using testing::SweepValues;

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

}  // namespace
}  // namespace strata

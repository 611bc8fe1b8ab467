#include "server/train_jobs.h"

#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

struct Fixture {
  explicit Fixture(const std::string& name, int workers = 1) {
    root = testing::ScratchDir(name);
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
    std::system(("mkdir -p " + jo.data_root).c_str());
    jobs = *TrainJobManager::Create(jo);
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
  std::unique_ptr<TrainJobManager> jobs;
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
  EXPECT_EQ(*TrainJobManager::ResolveDataPath(root, "sub/a.csv"), canonical);
  EXPECT_EQ(*TrainJobManager::ResolveDataPath(root, "./sub/../sub/a.csv"), canonical);
  EXPECT_EQ(*TrainJobManager::ResolveDataPath(root, "inside.csv"), canonical);
  for (const char* bad : {"../x.csv", "sub/../../x.csv", "/etc/hostname", "link.csv", ""}) {
    EXPECT_EQ(TrainJobManager::ResolveDataPath(root, bad).status().code(),
              absl::StatusCode::kPermissionDenied)
        << bad;
  }
  EXPECT_EQ(TrainJobManager::ResolveDataPath(root, "nope.csv").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TrainJobManager::ResolveDataPath("", "a.csv").status().code(),
            absl::StatusCode::kFailedPrecondition);
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

TEST(TrainJobsTest, ShutdownCancelsRunningJobsCleanly) {
  auto f = std::make_unique<Fixture>("jobs_shutdown");
  const std::string id = f->jobs->Submit(Spec("m", 100000), Rows(500))->id();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (f->jobs->Get(id)->progress().epochs_done() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  f->jobs.reset();  // joins the worker after cancelling
  EXPECT_TRUE(f->store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, SubmitValidatesWhatItCan) {
  Fixture f("jobs_validate");
  EXPECT_THAT(f.jobs->Submit(Spec("", 1), Rows(10)).status().message(), HasSubstr("model_name"));
  v1::TrainJobSpec bad_label = Spec("m", 1);
  bad_label.add_labels("no spaces");
  EXPECT_THAT(f.jobs->Submit(bad_label, Rows(10)).status().message(), HasSubstr("spec.labels"));
  EXPECT_THAT(f.jobs->Submit(Spec("m", 1), {}).status().message(), HasSubstr("no training data"));
  TrainJobManager::JobData csv;
  csv.csv_path = "../../etc/passwd";
  EXPECT_EQ(f.jobs->Submit(Spec("m", 1), csv).status().code(), absl::StatusCode::kPermissionDenied);
  // Feature names that do not match the columns fail the job.
  v1::TrainJobSpec names = Spec("m", 1);
  names.add_feature_names("only_one");
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(names, Rows(50))->id());
  EXPECT_EQ(j.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(j.error(), HasSubstr("feature_names"));
}

}  // namespace
}  // namespace strata

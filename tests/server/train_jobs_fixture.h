// Fixtures of the TrainJobManager tests (train_jobs_test.cc,
// train_job_submit_test.cc, train_job_sweep_test.cc): a manager over a fresh
// store and registry, specs, rows, and waiting for a job to train.
#ifndef STRATA_TESTS_SERVER_TRAIN_JOBS_FIXTURE_H_
#define STRATA_TESTS_SERVER_TRAIN_JOBS_FIXTURE_H_

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
namespace jobs_test {

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

inline v1::TrainJobSpec Spec(const std::string& model, int epochs) {
  v1::TrainJobSpec spec;
  spec.set_model_name(model);
  spec.mutable_config()->set_finetune_epochs(epochs);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  return spec;
}

inline TrainJobManager::JobData Rows(int rows, uint64_t seed = 1) {
  TrainJobManager::JobData d;
  d.rows = testing::ManifoldData(rows, 5, 2, seed);
  return d;
}

// Waits (bounded) until job `id` is seen RUNNING with at least one epoch
// done, so that a cancel reaches the trainer's loop, not the queue. (The jobs
// cancelled below plan kMaxEpochs: 100,000 epochs of 500 rows take only 4 s.)
inline ::testing::AssertionResult SeenTraining(TrainJobManager& jobs, const std::string& id) {
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

}  // namespace jobs_test
}  // namespace strata

#endif  // STRATA_TESTS_SERVER_TRAIN_JOBS_FIXTURE_H_

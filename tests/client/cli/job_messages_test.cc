#include "client/cli/job_messages.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;

v1::TrainJob Job(v1::TrainJob::State state, int epochs_done) {
  v1::TrainJob job;
  job.set_id("job-3-5f1a");
  job.set_model_name("thyroid");
  job.set_state(state);
  job.mutable_progress()->set_epochs_done(epochs_done);
  job.mutable_progress()->set_epochs_planned(90);
  return job;
}

// The printed commands reach the same server as the command that printed
// them: a user pastes them as they are.
TEST(JobMessagesTest, CommandLinesCarryTheGlobalFlagsThatWereGiven) {
  GlobalFlags global;
  EXPECT_EQ(StrataCommandLine(global, "jobs --cancel job-1"), "strata jobs --cancel job-1");
  global.server = "db.internal:50051";
  global.token_file = "/etc/strata/my token";
  global.tls_ca = "ca.pem";
  EXPECT_EQ(StrataCommandLine(global, "jobs --id job-1"),
            "strata --server=db.internal:50051 --token_file='/etc/strata/my token' "
            "--tls_ca=ca.pem jobs --id job-1");
  global.token_file = "it's";
  EXPECT_THAT(StrataCommandLine(global, "models"), HasSubstr("--token_file='it'\\''s'"));
}

// Ctrl-C on `train --wait` or `sweep` left the job running and said
// nothing: now it says that the job goes on and how to cancel it.
TEST(JobMessagesTest, AnInterruptedWaitSaysTheJobGoesOnAndHowToCancelIt) {
  GlobalFlags global;
  EXPECT_EQ(InterruptedWaitMessage(global, "train", Job(v1::TrainJob::RUNNING, 40)),
            "strata train: interrupted; job-3-5f1a keeps going on the server and will publish the "
            "next version of thyroid if it succeeds. Cancel it with: strata jobs --cancel "
            "job-3-5f1a\n");

  v1::TrainJob sweep = Job(v1::TrainJob::RUNNING, 0);
  sweep.mutable_sweep()->add_trials()->set_trial(1);
  global.server = "h:1";
  EXPECT_EQ(
      InterruptedWaitMessage(global, "sweep", sweep),
      "strata sweep: interrupted; sweep job-3-5f1a keeps going on the server and will publish "
      "its best trial as the next version of thyroid. Follow it again with: strata "
      "--server=h:1 sweep --job job-3-5f1a; cancel it with: strata --server=h:1 jobs "
      "--cancel job-3-5f1a\n");
}

TEST(JobMessagesTest, LastSeenJobSaysWhereItStoodAndHowToAsk) {
  GlobalFlags global;
  EXPECT_EQ(LastSeenJob(global, Job(v1::TrainJob::RUNNING, 40)),
            "job-3-5f1a was RUNNING at epoch 40 of 90 when last heard of; ask with 'strata jobs "
            "--id job-3-5f1a' once the server answers");
  EXPECT_THAT(LastSeenJob(global, Job(v1::TrainJob::QUEUED, 0)),
              HasSubstr("job-3-5f1a was QUEUED when last heard of"));
}

// `jobs --cancel` printed nothing that said what it did.
TEST(JobMessagesTest, CancelRequestedSaysWhatWasCancelled) {
  EXPECT_EQ(CancelRequested(Job(v1::TrainJob::CANCELLED, 0)),
            "cancelled job-3-5f1a (model thyroid): nothing is published");
  EXPECT_EQ(CancelRequested(Job(v1::TrainJob::RUNNING, 12)),
            "cancelling job-3-5f1a (model thyroid, RUNNING at epoch 12 of 90): it stops at its "
            "next check and publishes nothing");
}

}  // namespace
}  // namespace strata::cli

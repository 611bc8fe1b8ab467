#include "client/training_report.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TrainProgress Epoch(v1::EpochRecord::Phase phase, int done, int planned) {
  TrainProgress p;
  p.record.set_phase(phase);
  p.record.set_epoch(3);
  p.record.set_train_loss(0.5);
  p.record.set_learning_rate(1e-3f);
  p.epochs_done = done;
  p.epochs_planned = planned;
  return p;
}

// "An ensemble's networks are not counted": the live line sat at 40/40
// ("ETA 0s") while four more networks trained. It counts them all and says
// which network is training.
TEST(TrainingReportTest, TheProgressLineNamesTheNetworkOfAnEnsemble) {
  TrainProgress p = Epoch(v1::EpochRecord::FINETUNE, 12, 45);
  p.network = 2;
  p.networks = 5;
  p.eta_seconds = 30;
  const std::string line = FormatProgress(p);
  EXPECT_THAT(line, HasSubstr("] 12/45 network 2 of 5 finetune"));
  EXPECT_THAT(line, HasSubstr("ETA 30s"));
  // The bar is the share of every network's epochs: 12/45 of 20.
  EXPECT_THAT(line, HasSubstr("[#####..............."));
  p.network = p.networks = 1;
  EXPECT_THAT(FormatProgress(p), Not(HasSubstr("network")));
}

TEST(TrainingReportTest, EpochsAndSecondsAreTheSummarysOverEveryNetwork) {
  v1::TrainingSummary s;
  s.set_epochs(200);
  s.set_seconds(9.891);
  EXPECT_EQ(FormatEpochsAndSeconds(s, 5), "200 epochs (5 networks) in 9.89s");
  EXPECT_EQ(FormatEpochsAndSeconds(s, 1), "200 epochs in 9.89s");
}

// "Figures that disagree" (a): `strata jobs` showed a classifier's
// cross-entropy under LOSS, `inspect` and the report its reconstruction
// loss. Each cell now says which loss it is; a finished job's is the
// published version's, the figure `inspect` shows.
TEST(TrainingReportTest, TheJobsLossColumnNamesItsLoss) {
  google::protobuf::RepeatedPtrField<v1::TrainJob> jobs;
  v1::TrainJob* supervised = jobs.Add();
  supervised->set_id("job-1-aaaa");
  supervised->set_state(v1::TrainJob::RUNNING);
  v1::TrainJobProgress* p = supervised->mutable_progress();
  p->set_phase(v1::EpochRecord::SUPERVISED);
  p->set_train_loss(0.75);
  p->set_epochs_done(60);
  p->set_epochs_planned(300);
  p->set_network(1);
  p->set_networks(5);
  v1::TrainJob* pretraining = jobs.Add();
  pretraining->set_state(v1::TrainJob::RUNNING);
  p = pretraining->mutable_progress();
  p->set_phase(v1::EpochRecord::PRETRAIN);
  p->set_layer(2);
  p->set_train_loss(0.5);
  p->set_epochs_done(7);
  p->set_epochs_planned(50);
  p->set_network(3);
  p->set_networks(5);
  v1::TrainJob* done = jobs.Add();
  done->set_state(v1::TrainJob::SUCCEEDED);
  done->set_version(4);
  *done->mutable_progress() = supervised->progress();
  done->mutable_summary()->set_final_train_loss(0.0125);
  v1::TrainJob* queued = jobs.Add();
  queued->set_state(v1::TrainJob::QUEUED);

  const std::vector<std::vector<std::string>> rows = FormatJobsTable(jobs);
  ASSERT_EQ(rows.size(), 5u);
  ASSERT_EQ(rows[0][5], "LOSS");
  EXPECT_EQ(rows[1][0], "job-1-aaaa");
  EXPECT_EQ(rows[1][4], "60/300");
  EXPECT_EQ(rows[1][5], "0.75 supervised objective (last epoch)");
  EXPECT_EQ(rows[2][5], "0.5 layer 2 reconstruction (last epoch of network 3 of 5)");
  EXPECT_EQ(rows[3][5], "0.0125 final reconstruction");
  EXPECT_EQ(rows[3][3], "4");
  EXPECT_EQ(rows[4][5], "-");
}

// "Figures that disagree" (b): a job's validation accuracy (its last
// epoch's, 0.8767) and the report's (the published head's, 0.8967) are two
// figures: early stopping restores the weights of the epoch with the best
// validation objective. Each now says whose it is.
TEST(TrainingReportTest, EachAccuracySaysWhoseWeightsItMeasures) {
  TrainProgress p = Epoch(v1::EpochRecord::SUPERVISED, 1, 1);
  p.record.set_validation_accuracy(0.8767);
  EXPECT_THAT(FormatProgress(p), HasSubstr("supervised  epoch 3    loss 0.5"));
  EXPECT_THAT(FormatProgress(p), HasSubstr("val_acc 0.877"));
  v1::ClassifierSummary c;
  c.set_train_accuracy(0.95);
  c.set_train_labelled_rows(410);
  c.set_validation_accuracy(0.8967);
  c.set_validation_labelled_rows(70);
  EXPECT_EQ(FormatClassifierSummary(c, 3),
            "classifier: 3 classes, accuracy 0.9500 on 410 labelled training rows, validation "
            "accuracy 0.8967 on 70 labelled rows (the published weights: the epoch early "
            "stopping kept)");
  c.clear_validation_accuracy();
  EXPECT_THAT(FormatClassifierSummary(c, 3), Not(HasSubstr("validation")));
}

}  // namespace
}  // namespace strata::cli

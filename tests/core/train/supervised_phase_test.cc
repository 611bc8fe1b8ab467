// The supervised phase: a classifier head trained on the labelled rows,
// its summary and warnings, and the labels the trainer refuses.
#include "core/train/supervised_phase.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/data/class_labels.h"
#include "core/scoring/drift.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/train_for_test.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::Train;

// Three blobs in 8 dimensions; a fifth of the rows (of every class)
// unlabelled.
struct LabelledSet {
  Matrix rows;
  std::vector<int> classes;
  Trainer::Options options;
};
LabelledSet ThreeBlobs() {
  testing::Blobs blobs = testing::GaussianBlobs(600, 8, 3, 17, 0.5);
  LabelledSet set{std::move(blobs.rows), std::move(blobs.classes), {}};
  for (size_t r = 0; r < set.classes.size(); r += 5) set.classes[r] = kUnlabelled;
  set.options.class_names = {"a", "b", "c"};
  return set;
}

v1::TrainConfig SupervisedConfig() {
  v1::TrainConfig config;
  config.add_encoder_widths(6);
  config.add_encoder_widths(3);
  config.set_finetune_epochs(50);
  config.set_validation_fraction(0.25f);
  config.mutable_optimizer()->set_learning_rate(0.01f);
  config.mutable_anomaly()->set_ensemble_size(1);
  config.mutable_supervised()->set_epochs(50);
  return config;
}

TEST(TrainerTest, SupervisedFineTuningPredictsTheLabelledClasses) {
  const LabelledSet set = ThreeBlobs();
  auto model = Train(SupervisedConfig(), set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->classifier().has_value());
  EXPECT_EQ((*model)->info().class_names, set.options.class_names);
  EXPECT_TRUE(ValidateModel(**model).ok());

  // Every row, the unlabelled ones too, is predicted as its blob.
  auto probabilities = (*model)->Predict(set.rows);
  ASSERT_TRUE(probabilities.ok()) << probabilities.status();
  ASSERT_EQ(probabilities->cols(), 3);
  EXPECT_LT((probabilities->rowwise().sum().array() - 1).abs().maxCoeff(), 1e-5);
  const std::vector<int> top = TopClasses(*probabilities);
  int right = 0;
  for (size_t r = 0; r < top.size(); ++r) right += top[r] == static_cast<int>(r % 3);
  EXPECT_GE(right, 0.95 * 600);

  // The sampled training codes carry their rows' labels, for the report.
  const v1::CodeBaseline& sample = (*model)->info().drift_baseline.code();
  ASSERT_EQ(sample.sample_classes_size(), sample.sample_rows());
  const int64_t stride = CodeSampleStride(600, (*model)->autoencoder().code_dim());
  for (int i = 0; i < sample.sample_rows(); ++i) {
    EXPECT_EQ(sample.sample_classes(i), set.classes[i * stride]) << i;
  }

  const v1::ClassifierSummary& c = (*model)->info().summary.classifier();
  EXPECT_EQ(c.train_labelled_rows() + c.validation_labelled_rows(), 480);
  EXPECT_GT(c.validation_labelled_rows(), 0);
  int64_t counted = 0, confused = 0;
  for (int64_t n : c.class_counts()) counted += n;
  for (int64_t n : c.confusion()) confused += n;
  EXPECT_EQ(counted, 480);
  // Every class has labelled rows, some of them in the validation split.
  EXPECT_THAT((*model)->info().summary.warnings(),
              ::testing::Not(::testing::Contains(HasSubstr("class"))));
  EXPECT_EQ(c.confusion_size(), 9);
  EXPECT_EQ(confused, c.validation_labelled_rows());
  EXPECT_GE(c.validation_accuracy(), 0.95);
  EXPECT_GE(c.train_accuracy(), 0.95);

  // The history ends with the supervised phase, watched on its accuracy.
  const v1::EpochRecord& last = (*model)->info().history.back();
  EXPECT_EQ(last.phase(), v1::EpochRecord::SUPERVISED);
  EXPECT_TRUE(last.has_validation_accuracy());
  double share_sum = 0;
  for (double share : (*model)->info().drift_baseline.class_proportions()) share_sum += share;
  EXPECT_NEAR(share_sum, 1.0, 1e-9);
  EXPECT_NEAR((*model)->info().drift_baseline.class_proportions(0), 1.0 / 3, 0.05);

  // Encode, Reconstruct and AnomalyScore serve as for any model.
  EXPECT_TRUE((*model)->Score(set.rows, (*model)->default_metric()).ok());
}

// "Figures that disagree" (b): why a job's last validation accuracy and its
// version's differ. Progress reports each epoch's; early stopping then
// restores the weights of the epoch with the lowest validation objective,
// and the summary measures those, on the same labelled validation rows.
TEST(TrainerTest, TheSummarysValidationAccuracyIsTheKeptEpochs) {
  const LabelledSet set = ThreeBlobs();
  v1::TrainConfig config = SupervisedConfig();
  config.mutable_supervised()->set_epochs(200);
  config.mutable_supervised()->set_head_epochs(0);  // one stage, whose losses compare
  config.mutable_early_stopping()->set_patience(3);
  auto model = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  double best = std::numeric_limits<double>::infinity();
  const v1::EpochRecord* kept = nullptr;
  for (const v1::EpochRecord& e : (*model)->info().history) {
    if (e.phase() != v1::EpochRecord::SUPERVISED) continue;
    ASSERT_TRUE(e.has_validation_accuracy());
    if (e.validation_loss() < best) {  // min_delta 0
      best = e.validation_loss();
      kept = &e;
    }
  }
  ASSERT_TRUE(kept != nullptr);
  EXPECT_DOUBLE_EQ((*model)->info().summary.classifier().validation_accuracy(),
                   kept->validation_accuracy());
}

// With fewer labelled validation rows than make an estimate (here ~15 of
// kMinLabelledValidationRows), early stopping and the weights it keeps
// follow the training objective, not the noise of the few validation rows.
TEST(TrainerTest, FewLabelledValidationRowsLeaveEarlyStoppingToTheTrainingObjective) {
  LabelledSet set = ThreeBlobs();
  for (size_t r = 0; r < set.classes.size(); ++r) {
    if (r % 10 != 1) set.classes[r] = kUnlabelled;  // 60 labelled rows
  }
  v1::TrainConfig config = SupervisedConfig();
  config.mutable_supervised()->set_epochs(200);
  config.mutable_supervised()->set_head_epochs(0);  // one stage, one epoch count
  config.mutable_supervised()->set_learning_rate(0.01f);
  config.mutable_early_stopping()->set_patience(3);
  auto model = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_LT((*model)->info().summary.classifier().validation_labelled_rows(),
            kMinLabelledValidationRows);
  const v1::EpochRecord* by_train = nullptr;
  const v1::EpochRecord* by_validation = nullptr;
  for (const v1::EpochRecord& e : (*model)->info().history) {
    if (e.phase() != v1::EpochRecord::SUPERVISED) continue;
    if (by_train == nullptr || e.train_loss() < by_train->train_loss()) by_train = &e;
    if (by_validation == nullptr || e.validation_loss() < by_validation->validation_loss()) {
      by_validation = &e;
    }
  }
  ASSERT_TRUE(by_train != nullptr);
  // The two watch different epochs here, so the check below can tell them apart.
  ASSERT_NE(by_train->epoch(), by_validation->epoch());
  const v1::ClassifierSummary& c = (*model)->info().summary.classifier();
  EXPECT_DOUBLE_EQ(c.validation_accuracy(), by_train->validation_accuracy());
  // The phase stopped 3 epochs after its lowest training objective, or ran all.
  const int last = (*model)->info().history.rbegin()->epoch();
  EXPECT_TRUE(last == by_train->epoch() + 3 || last == 200) << last;
}

// A few labels (every 10th row): the accuracy a sweep would choose by rests
// on ~15 labelled validation rows, and the summary says so.
TEST(TrainerTest, AnAccuracyFromFewLabelledValidationRowsIsAWeakEstimate) {
  LabelledSet set = ThreeBlobs();
  for (size_t r = 0; r < set.classes.size(); ++r) {
    if (r % 10 != 1) set.classes[r] = kUnlabelled;
  }
  auto model = Train(SupervisedConfig(), set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::ClassifierSummary& c = (*model)->info().summary.classifier();
  ASSERT_GT(c.validation_labelled_rows(), 0);
  ASSERT_LT(c.validation_labelled_rows(), kMinLabelledValidationRows);
  EXPECT_THAT((*model)->info().summary.warnings(),
              ::testing::Contains(HasSubstr(
                  absl::StrCat("weak accuracy estimate: the classifier's validation accuracy ",
                               absl::StrFormat("%.3f", c.validation_accuracy()), " rests on ",
                               c.validation_labelled_rows(), " labelled validation rows"))));
}

// A missing-value marker read as a class (as "?" or -1 would be): most rows
// unlabelled, and one class holding most of the labelled ones. The summary
// names it.
TEST(TrainerTest, AClassHoldingMostOfFewLabelsIsAWarning) {
  LabelledSet set = ThreeBlobs();
  // Every 10th row labelled (60 of 600): a third of them a, the rest c.
  for (size_t r = 0; r < set.classes.size(); ++r) {
    set.classes[r] = r % 10 != 1 ? kUnlabelled : (r % 30 == 1 ? 0 : 2);
  }
  auto model = Train(SupervisedConfig(), set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->info().summary.warnings(),
              ::testing::Contains(HasSubstr("class 'c' holds 40 of the 60 labelled rows (66.7%) "
                                            "while 540 of the 600 rows (90.0%) are unlabelled")));
}

// The frozen encoder leaves the autoencoder as training without labels
// left it, bit for bit; full fine-tuning moves the encoder, and with the
// reconstruction weight at 0 leaves the decoder as it was.
TEST(TrainerTest, FrozenEncoderTrainsTheHeadOnlyAndFullFineTuningTheEncoder) {
  const LabelledSet set = ThreeBlobs();
  v1::TrainConfig config = SupervisedConfig();
  auto plain = Train(config, set.rows);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->classifier().has_value());
  const Parameters& p0 = (*plain)->autoencoder().parameters();

  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  auto frozen = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  ASSERT_TRUE((*frozen)->classifier().has_value());
  const Parameters& pf = (*frozen)->autoencoder().parameters();
  for (size_t l = 0; l < p0.weights.size(); ++l) {
    EXPECT_EQ(pf.weights[l], p0.weights[l]) << l;
    EXPECT_EQ(pf.biases[l], p0.biases[l]) << l;
  }
  EXPECT_GE((*frozen)->info().summary.classifier().validation_accuracy(), 0.9);

  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FULL);
  config.mutable_supervised()->set_reconstruction_weight(0);
  auto ce_only = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(ce_only.ok()) << ce_only.status();
  const Parameters& pc = (*ce_only)->autoencoder().parameters();
  EXPECT_NE(pc.weights[0], p0.weights[0]);
  for (size_t l = 2; l < p0.weights.size(); ++l) {
    EXPECT_EQ(pc.weights[l], p0.weights[l]) << "decoder layer " << l;
    EXPECT_EQ(pc.biases[l], p0.biases[l]) << "decoder layer " << l;
  }
  // Its thresholds are its own: recalibrated on the fine-tuned network.
  EXPECT_NE((*ce_only)->info().calibration.mean_squared().threshold(),
            (*plain)->info().calibration.mean_squared().threshold());

  config.mutable_supervised()->set_reconstruction_weight(1);
  auto joint = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(joint.ok()) << joint.status();
  EXPECT_NE((*joint)->autoencoder().parameters().weights[0], p0.weights[0]);
  EXPECT_NE((*joint)->autoencoder().parameters().weights[3], p0.weights[3]);
}

// supervised.head_epochs: the head alone first, then the encoder with it;
// both stages are SUPERVISED epochs in the history and in the plan.
TEST(TrainerTest, HeadEpochsTrainTheHeadAloneBeforeTheEncoder) {
  const LabelledSet set = ThreeBlobs();
  v1::TrainConfig config = SupervisedConfig();
  config.mutable_early_stopping()->set_patience(0);  // every epoch runs
  config.mutable_reduce_lr_on_plateau()->set_patience(0);
  config.mutable_supervised()->set_head_epochs(4);
  config.mutable_supervised()->set_epochs(3);
  auto model = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  int head_alone = 0, full = 0;
  for (const v1::EpochRecord& e : (*model)->info().history) {
    if (e.phase() != v1::EpochRecord::SUPERVISED) continue;
    // The head alone first (layer 1), then the full stage (layer 0).
    if (e.layer() == train_internal::kHeadAloneStage) {
      EXPECT_EQ(full, 0) << "a head-alone epoch after the full stage began";
      ++head_alone;
    } else {
      EXPECT_EQ(e.layer(), 0);
      ++full;
    }
  }
  EXPECT_EQ(head_alone, 4);
  EXPECT_EQ(full, 3);
  EXPECT_EQ((*model)->info().config.supervised().head_epochs(), 4);
  EXPECT_GE((*model)->info().summary.classifier().validation_accuracy(), 0.9);
  auto resolved = ResolveTrainConfig(config, 8);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(PlannedEpochs(*resolved, 1, /*labelled=*/true), 50 + 4 + 3);
  // A frozen encoder has no head-alone stage: its phase is the head alone.
  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  resolved = ResolveTrainConfig(config, 8);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(PlannedEpochs(*resolved, 1, /*labelled=*/true), 50 + 3);
  config.mutable_supervised()->set_head_epochs(-1);
  EXPECT_THAT(ResolveTrainConfig(config, 8).status().message(),
              HasSubstr("supervised.head_epochs"));
}

// An epoch over few labelled rows still makes kMinSupervisedBatches steps
// (passing over them several times): one epoch of a frozen encoder's head
// on about 45 labelled rows in batches of 64 is 20 steps, not 1, and fits
// the three blobs; a single step from the random head does not (checked
// with kMinSupervisedBatches set to 1).
TEST(TrainerTest, AnEpochOverFewLabelledRowsMakesTheLeastSteps) {
  LabelledSet set = ThreeBlobs();
  for (size_t r = 0; r < set.classes.size(); ++r) {
    if (r % 12 != 0) set.classes[r] = kUnlabelled;  // 50 labelled rows
  }
  v1::TrainConfig config = SupervisedConfig();
  config.set_batch_size(64);
  config.set_validation_fraction(0.1f);
  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  config.mutable_supervised()->set_epochs(1);
  auto model = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::ClassifierSummary& c = (*model)->info().summary.classifier();
  ASSERT_LT(c.train_labelled_rows(), 64);
  EXPECT_GE(c.train_accuracy(), 0.95);
}

// supervised.reconstruct_unlabelled: the unlabelled rows stay in the
// reconstruction term while the labelled ones fine-tune the network. Here a
// whole blob is unlabelled: fine-tuned on the other two alone, the network
// forgets how to reconstruct it; with them, it keeps it.
TEST(TrainerTest, ReconstructUnlabelledKeepsTheUnlabelledRowsInTheObjective) {
  LabelledSet set = ThreeBlobs();
  std::vector<int> unlabelled_blob;
  for (size_t r = 0; r < set.classes.size(); ++r) {
    if (r % 3 == 2) {
      set.classes[r] = kUnlabelled;
      unlabelled_blob.push_back(static_cast<int>(r));
    }
  }
  set.options.class_names = {"a", "b"};
  Matrix blob(static_cast<Eigen::Index>(unlabelled_blob.size()), set.rows.cols());
  for (size_t i = 0; i < unlabelled_blob.size(); ++i) {
    blob.row(static_cast<Eigen::Index>(i)) = set.rows.row(unlabelled_blob[i]);
  }
  v1::TrainConfig config = SupervisedConfig();
  config.mutable_early_stopping()->set_patience(0);
  config.mutable_supervised()->set_epochs(100);
  const auto blob_error = [&](bool reconstruct_unlabelled) {
    config.mutable_supervised()->set_reconstruct_unlabelled(reconstruct_unlabelled);
    auto model = Train(config, set.rows, set.options, set.classes);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return 0.0;
    EXPECT_EQ((*model)->info().config.supervised().reconstruct_unlabelled(),
              reconstruct_unlabelled);
    const Matrix back = *(*model)->Reconstruct(blob);
    return static_cast<double>((back - blob).squaredNorm() / static_cast<double>(blob.size()));
  };
  const double without = blob_error(false);
  const double with = blob_error(true);
  EXPECT_LT(with, without) << "mean squared error on the unlabelled blob";
}

// With class labels and no unsupervised epochs the network trains from its
// initialisation in the supervised phase alone, as one network; without
// labels that config is refused.
TEST(TrainerTest, ClassLabelsTrainFromScratchWithoutUnsupervisedEpochs) {
  const LabelledSet set = ThreeBlobs();
  v1::TrainConfig config = SupervisedConfig();
  config.set_finetune_epochs(0);
  config.mutable_anomaly()->clear_ensemble_size();
  auto model = Train(config, set.rows, set.options, set.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->ensemble().empty());
  for (const v1::EpochRecord& e : (*model)->info().history) {
    EXPECT_EQ(e.phase(), v1::EpochRecord::SUPERVISED);
  }
  EXPECT_GE((*model)->info().summary.classifier().validation_accuracy(), 0.9);
  EXPECT_THAT(Train(config, set.rows).status().message(),
              HasSubstr("pretrain_epochs and finetune_epochs are both 0"));
}

TEST(TrainerTest, BadClassLabelsAreRefusedNamingTheRow) {
  LabelledSet set = ThreeBlobs();
  const v1::TrainConfig config = SupervisedConfig();
  std::vector<int> short_labels(set.classes.begin(), set.classes.end() - 1);
  EXPECT_THAT(Train(config, set.rows, set.options, short_labels).status().message(),
              HasSubstr("599 class labels for 600 rows"));
  set.classes[7] = 3;
  auto out_of_range = Train(config, set.rows, set.options, set.classes);
  EXPECT_EQ(out_of_range.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out_of_range.status().message(), HasSubstr("row 7: class 3"));
  set.options.class_names = {"only"};
  EXPECT_THAT(Train(config, set.rows, set.options).status().message(),
              HasSubstr("a classifier takes 2 to"));
}

}  // namespace
}  // namespace strata

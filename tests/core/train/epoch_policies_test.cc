// The trainer's epoch policies alone (core/train/epoch_policies.h): the
// cosine learning rate, early stopping with the restore of the best
// weights, and the plateau reduction, each on a scripted sequence of
// monitored losses with hand-computed expectations.
#include "core/train/epoch_policies.h"

#include <optional>

#include "gtest/gtest.h"

namespace strata {
namespace train_internal {
namespace {

// Weights that say which epoch left them: one 1 x 1 weight holding it.
Parameters WeightsOfEpoch(int epoch) {
  Parameters p;
  p.weights = {Matrix::Constant(1, 1, static_cast<float>(epoch))};
  return p;
}

ClassifierHead HeadOfEpoch(int epoch) {
  ClassifierHead head;
  head.weights = Matrix::Constant(1, 2, static_cast<float>(epoch));
  head.bias = RowVector::Constant(2, static_cast<float>(-epoch));
  return head;
}

// lr(e) = final + (initial - final) (1 + cos(pi (e - 1) / epochs)) / 2.
TEST(CosineLearningRateTest, AnnealsFromTheInitialRateTowardsTheFinalOne) {
  const CosineLearningRate cosine(1.0f, 0.0f, 4);
  EXPECT_EQ(cosine.At(1), 1.0f);               // cos 0 = 1
  EXPECT_FLOAT_EQ(cosine.At(2), 0.85355339f);  // (1 + sqrt(2)/2) / 2
  EXPECT_FLOAT_EQ(cosine.At(3), 0.5f);         // cos(pi/2) = 0
  EXPECT_FLOAT_EQ(cosine.At(4), 0.14644661f);  // (1 - sqrt(2)/2) / 2
  EXPECT_NEAR(cosine.At(5), 0.0f, 1e-7f);      // cos pi = -1: the final rate

  const CosineLearningRate shifted(0.5f, 0.1f, 2);
  EXPECT_FLOAT_EQ(shifted.At(1), 0.5f);
  EXPECT_FLOAT_EQ(shifted.At(2), 0.3f);  // 0.1 + 0.4 (1 + 0) / 2
}

// Patience 2, min_delta 0.1. Epoch 2 (0.95) is not 0.1 below the best
// (1.0), epoch 3 (0.85) is; epochs 4 and 5 are not 0.1 below 0.85, so the
// phase stops after epoch 5 with epoch 3's weights restored.
TEST(EarlyStoppingTest, StopsAfterPatienceEpochsWithoutGainAndRestoresTheBest) {
  EarlyStopping stopping(2, 0.1);
  const double losses[] = {1.0, 0.95, 0.85, 0.8, 0.9};
  const bool stops[] = {false, false, false, false, true};
  const int since_best[] = {0, 1, 0, 1, 2};
  for (int epoch = 1; epoch <= 5; ++epoch) {
    const Parameters weights = WeightsOfEpoch(epoch);
    const ClassifierHead head = HeadOfEpoch(epoch);
    EXPECT_EQ(stopping.EndEpoch(losses[epoch - 1], weights, &head), stops[epoch - 1]) << epoch;
    EXPECT_EQ(stopping.epochs_since_best(), since_best[epoch - 1]) << epoch;
  }
  EXPECT_EQ(stopping.best(), 0.85);

  Parameters weights = WeightsOfEpoch(5);
  ClassifierHead head = HeadOfEpoch(5);
  stopping.RestoreBest(&weights, &head);
  EXPECT_EQ(weights.weights[0](0, 0), 3.0f);
  EXPECT_EQ(head.weights(0, 1), 3.0f);
  EXPECT_EQ(head.bias(1), -3.0f);
}

// Without a head, only the network's weights are kept and restored.
TEST(EarlyStoppingTest, RestoresTheNetworkAloneWithoutAHead) {
  EarlyStopping stopping(3, 0.0);
  const double losses[] = {2.0, 1.0, 1.5};
  for (int epoch = 1; epoch <= 3; ++epoch) {
    EXPECT_FALSE(stopping.EndEpoch(losses[epoch - 1], WeightsOfEpoch(epoch), nullptr));
  }
  Parameters weights = WeightsOfEpoch(3);
  stopping.RestoreBest(&weights, nullptr);
  EXPECT_EQ(weights.weights[0](0, 0), 2.0f);
}

// Patience 0: never stops, and restores nothing (the last weights stay).
TEST(EarlyStoppingTest, PatienceZeroNeverStopsNorRestores) {
  EarlyStopping stopping(0, 0.0);
  const double losses[] = {1.0, 2.0, 3.0, 4.0};
  for (int epoch = 1; epoch <= 4; ++epoch) {
    EXPECT_FALSE(stopping.EndEpoch(losses[epoch - 1], WeightsOfEpoch(epoch), nullptr));
  }
  EXPECT_EQ(stopping.best(), 1.0);
  EXPECT_EQ(stopping.epochs_since_best(), 3);
  Parameters weights = WeightsOfEpoch(4);
  stopping.RestoreBest(&weights, nullptr);
  EXPECT_EQ(weights.weights[0](0, 0), 4.0f);
}

// Patience 2, factor 0.5: the rate halves on the third epoch in a row
// without a new lowest loss (more than `patience`), then the count starts
// again; a new lowest loss resets it.
TEST(PlateauLearningRateTest, HalvesAfterMoreThanPatienceEpochsWithoutANewLow) {
  PlateauLearningRate plateau(2, 0.5f, 0.01f);
  float lr = 0.1f;
  const double losses[] = {1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7};
  const float expected[] = {0.1f,  0.1f,   0.1f,   0.05f,  0.05f,  0.05f,
                            0.05f, 0.025f, 0.025f, 0.025f, 0.0125f};
  for (int e = 0; e < 11; ++e) {
    if (std::optional<float> reduced = plateau.EndEpoch(losses[e], lr)) lr = *reduced;
    EXPECT_EQ(lr, expected[e]) << "epoch " << e + 1;
  }
}

TEST(PlateauLearningRateTest, NeverGoesBelowTheMinimumAndPatienceZeroNeverReduces) {
  PlateauLearningRate floor(1, 0.5f, 0.01f);
  EXPECT_FALSE(floor.EndEpoch(1.0, 0.015f).has_value());
  EXPECT_FALSE(floor.EndEpoch(1.0, 0.015f).has_value());  // 1 epoch: not more than patience
  EXPECT_EQ(floor.EndEpoch(1.0, 0.015f), 0.01f);          // 0.0075, held at the minimum

  PlateauLearningRate off(0, 0.5f, 0.0f);
  for (int e = 0; e < 10; ++e) EXPECT_FALSE(off.EndEpoch(1.0, 0.1f).has_value());
}

}  // namespace
}  // namespace train_internal
}  // namespace strata

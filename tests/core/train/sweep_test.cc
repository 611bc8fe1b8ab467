#include "core/train/sweep.h"

#include <cmath>
#include <set>

#include "core/data/class_labels.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/sweep_spec.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SweepValues;

v1::TrainConfig Base() {
  v1::TrainConfig c;
  c.add_encoder_widths(16);
  c.add_encoder_widths(4);
  c.set_weight_decay(0.5f);
  c.mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  c.set_finetune_epochs(3);
  return c;
}

std::string Error(const v1::SweepSpec& sweep, bool labels = false,
                  const v1::TrainConfig& base = Base()) {
  return std::string(PlanSweep(sweep, base, 6, labels).status().message());
}

TEST(SweepTest, AGridTriesEveryCombinationFirstParameterSlowest) {
  v1::SweepSpec sweep;
  *sweep.add_parameters() = SweepValues("encoder_widths", {"[8, 2]", "[32,16,3]"});
  *sweep.add_parameters() = SweepValues("optimizer.learning_rate", {"0.1", "0.01", "1e-3"});
  auto plans = PlanSweep(sweep, Base(), 6, false);
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 6u);
  // The list replaces the base's widths (not appended to them); the rest of
  // the config, the optimizer's kind included, is the base's.
  EXPECT_THAT((*plans)[0].config.encoder_widths(), ElementsAre(8, 2));
  EXPECT_FLOAT_EQ((*plans)[0].config.optimizer().learning_rate(), 0.1f);
  EXPECT_FLOAT_EQ((*plans)[2].config.optimizer().learning_rate(), 1e-3f);
  EXPECT_THAT((*plans)[3].config.encoder_widths(), ElementsAre(32, 16, 3));
  EXPECT_FLOAT_EQ((*plans)[4].config.optimizer().learning_rate(), 0.01f);
  for (const SweepTrialPlan& plan : *plans) {
    EXPECT_EQ(plan.config.optimizer().kind(), v1::OptimizerConfig::SGD);
    EXPECT_FLOAT_EQ(plan.config.weight_decay(), 0.5f);
    EXPECT_EQ(plan.config.finetune_epochs(), 3);
    ASSERT_EQ(plan.settings.size(), 2u);
  }
  EXPECT_EQ((*plans)[4].settings[0].value(), "[32,16,3]");
  v1::SweepTrial trial;
  trial.mutable_settings()->Add((*plans)[4].settings.begin(), (*plans)[4].settings.end());
  EXPECT_EQ(FormatSweepSettings(trial), "encoder_widths=[32,16,3] optimizer.learning_rate=0.01");
}

TEST(SweepTest, EnumsBooleansAndZeroValuesApply) {
  v1::SweepSpec sweep;
  *sweep.add_parameters() = SweepValues("hidden_activations", {"[\"TANH\"]"});
  *sweep.add_parameters() = SweepValues("residual", {"true"});
  *sweep.add_parameters() = SweepValues("weight_decay", {"0"});
  *sweep.add_parameters() = SweepValues("noise", {"{\"kind\": \"GAUSSIAN\", \"stddev\": 0.2}"});
  auto plans = PlanSweep(sweep, Base(), 6, false);
  ASSERT_TRUE(plans.ok()) << plans.status();
  const v1::TrainConfig& c = (*plans)[0].config;
  EXPECT_THAT(c.hidden_activations(), ElementsAre(v1::TANH));
  EXPECT_TRUE(c.residual());
  EXPECT_EQ(c.weight_decay(), 0.0f);
  EXPECT_EQ(c.noise().kind(), v1::NoiseConfig::GAUSSIAN);
  EXPECT_FLOAT_EQ(c.noise().stddev(), 0.2f);
}

TEST(SweepTest, RandomSearchDrawsWithinRangesReproducibly) {
  v1::SweepSpec sweep;
  sweep.set_search(v1::SweepSpec::RANDOM);
  sweep.set_trials(40);
  v1::SweepParameter lr;
  lr.set_field("optimizer.learning_rate");
  lr.set_min(1e-4);
  lr.set_max(1e-1);
  lr.set_log_scale(true);
  *sweep.add_parameters() = lr;
  v1::SweepParameter epochs;
  epochs.set_field("finetune_epochs");
  epochs.set_min(1);
  epochs.set_max(4);
  *sweep.add_parameters() = epochs;
  *sweep.add_parameters() = SweepValues("encoder_widths", {"[8,2]", "[16,4]"});
  auto plans = PlanSweep(sweep, Base(), 6, false);
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 40u);
  int below_1e3 = 0;
  std::set<int> epoch_values;
  std::set<int> first_widths;
  for (const SweepTrialPlan& plan : *plans) {
    const float rate = plan.config.optimizer().learning_rate();
    EXPECT_GE(rate, 1e-4f * 0.999f);
    EXPECT_LE(rate, 1e-1f * 1.001f);
    below_1e3 += rate < 1e-3f;
    epoch_values.insert(plan.config.finetune_epochs());
    first_widths.insert(plan.config.encoder_widths(0));
    // The integer field is written as an integer.
    EXPECT_EQ(plan.settings[1].value().find('.'), std::string::npos) << plan.settings[1].value();
  }
  // Log-uniform: a third of the draws fall in the lowest decade of three.
  EXPECT_GE(below_1e3, 4);
  EXPECT_LE(below_1e3, 24);
  EXPECT_EQ(epoch_values, (std::set<int>{1, 2, 3, 4}));
  // Whole numbers equally likely, the ends too (rounding a uniform draw
  // would give 1 and 4 half the chance of 2 and 3).
  int ends = 0;
  for (const SweepTrialPlan& plan : *plans) {
    ends += plan.config.finetune_epochs() == 1 || plan.config.finetune_epochs() == 4;
  }
  EXPECT_GE(ends, 12);  // 20 expected of 40; 13.3 if the ends had half the chance
  EXPECT_LE(ends, 28);
  EXPECT_EQ(first_widths, (std::set<int>{8, 16}));
  // The same seed draws the same trials; another draws others.
  auto again = PlanSweep(sweep, Base(), 6, false);
  EXPECT_EQ((*again)[7].settings[0].value(), (*plans)[7].settings[0].value());
  sweep.set_seed(2);
  auto other = PlanSweep(sweep, Base(), 6, false);
  EXPECT_NE((*other)[7].settings[0].value(), (*plans)[7].settings[0].value());
}

TEST(SweepTest, BadSweepsAreRefusedNamingTheParameterOrTrial) {
  v1::SweepSpec sweep;
  EXPECT_THAT(Error(sweep), HasSubstr("varies at least one field"));
  *sweep.add_parameters() = SweepValues("encoder_width", {"[4]"});
  EXPECT_THAT(Error(sweep), HasSubstr("sweep.parameters[0] (encoder_width): not a TrainConfig"));
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("optimizer.learning_rate", {"0.1", "fast"});
  EXPECT_THAT(Error(sweep), HasSubstr("sweep.parameters[0] (optimizer.learning_rate), values[1]"));
  // A value that would set other fields besides its own.
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("weight_decay", {"0, \"loss\": \"BCE\""});
  EXPECT_THAT(Error(sweep), HasSubstr("is not one JSON value"));
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("encoder_widths", {"[]"});
  EXPECT_THAT(Error(sweep), HasSubstr("is an empty list"));
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("encoder_widths", {"null"});
  EXPECT_THAT(Error(sweep), HasSubstr("value null would leave encoder_widths out"));
  // Trials scored on the validation split must share its rows.
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("seed", {"1", "2"});
  EXPECT_THAT(Error(sweep), HasSubstr("different validation rows"));
  sweep.set_objective(v1::HEAD_ACCURACY);
  EXPECT_THAT(Error(sweep, true), HasSubstr("measure HEAD_ACCURACY on different validation rows"));
  sweep.set_objective(v1::LINEAR_PROBE_ACCURACY);
  EXPECT_TRUE(PlanSweep(sweep, Base(), 6, true).ok());
  sweep.clear_objective();
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("optimizer", {"{}"});
  *sweep.add_parameters() = SweepValues("optimizer.learning_rate", {"0.1"});
  EXPECT_THAT(Error(sweep), HasSubstr("overlaps sweep.parameters[0] (optimizer)"));
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("scaler", {"\"MINMAX\"", "\"STANDARD\""});
  EXPECT_THAT(Error(sweep), HasSubstr("different units"));
  sweep.set_objective(v1::LINEAR_PROBE_ACCURACY);
  EXPECT_THAT(Error(sweep), HasSubstr("needs class labels"));
  EXPECT_TRUE(PlanSweep(sweep, Base(), 6, true).ok());
  sweep.clear_objective();
  sweep.clear_parameters();
  *sweep.add_parameters() =
      SweepValues("batch_size", {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"});
  *sweep.add_parameters() =
      SweepValues("finetune_epochs", {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"});
  EXPECT_THAT(Error(sweep), HasSubstr("more than 100 combinations"));
  sweep.clear_parameters();
  *sweep.add_parameters() = SweepValues("optimizer.learning_rate", {"0.1", "-1"});
  EXPECT_THAT(Error(sweep), HasSubstr("sweep trial 2 (optimizer.learning_rate=-1)"));
  sweep.set_trials(3);
  EXPECT_THAT(Error(sweep), HasSubstr("sweep.trials is for RANDOM"));
  sweep.clear_trials();
  // Settings that would be silently ignored are refused too.
  sweep.set_seed(7);
  EXPECT_THAT(Error(sweep), HasSubstr("sweep.seed seeds RANDOM search's draws"));
  sweep.clear_seed();
  *sweep.mutable_parameters(0) = SweepValues("optimizer.learning_rate", {"0.1", "0.01"});
  sweep.mutable_parameters(0)->set_log_scale(true);
  EXPECT_THAT(Error(sweep), HasSubstr("log_scale shapes a min/max range"));
  v1::SweepParameter range;
  range.set_field("finetune_epochs");
  range.set_min(1);
  range.set_max(3);
  *sweep.mutable_parameters(0) = range;
  EXPECT_THAT(Error(sweep), HasSubstr("ranges are for RANDOM"));
  sweep.set_search(v1::SweepSpec::RANDOM);
  sweep.mutable_parameters(0)->set_field("encoder_widths");
  EXPECT_THAT(Error(sweep), HasSubstr("numeric field that is not a list"));
  // An integer range must hold a whole number the field can take.
  sweep.mutable_parameters(0)->set_field("finetune_epochs");
  sweep.mutable_parameters(0)->set_min(1.2);
  sweep.mutable_parameters(0)->set_max(1.4);
  EXPECT_THAT(Error(sweep), HasSubstr("needs a whole number in [min, max]"));
  sweep.mutable_parameters(0)->set_min(1);
  sweep.mutable_parameters(0)->set_max(3e9);
  EXPECT_THAT(Error(sweep), HasSubstr("within [-2147483647, 2147483647]"));
  sweep.mutable_parameters(0)->set_field("weight_decay");
  sweep.mutable_parameters(0)->set_min(0);
  sweep.mutable_parameters(0)->set_log_scale(true);
  EXPECT_THAT(Error(sweep), HasSubstr("log_scale needs min > 0"));
  // Validation loss needs validation rows.
  v1::TrainConfig no_validation = Base();
  no_validation.set_validation_fraction(0);
  sweep.clear_parameters();
  sweep.set_search(v1::SweepSpec::GRID);
  *sweep.add_parameters() = SweepValues("weight_decay", {"0"});
  EXPECT_THAT(Error(sweep, false, no_validation), HasSubstr("validation_fraction is 0"));
  // The classes are the base config's.
  *sweep.add_parameters() = SweepValues("supervised", {"{\"class_names\": [\"a\", \"b\"]}"});
  EXPECT_THAT(Error(sweep, true), HasSubstr("changes supervised.class_names"));
}

TEST(SweepTest, ParsesFromJsonSayingWhereItIsWrong) {
  auto sweep = ParseSweepSpecJson(R"({"search": "random", "trials": 4, "parameters": [
      {"field": "noise.stddev", "min": 0.05, "max": 0.3}]})");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->search(), v1::SweepSpec::RANDOM);
  EXPECT_EQ(sweep->trials(), 4);
  EXPECT_DOUBLE_EQ(sweep->parameters(0).max(), 0.3);
  EXPECT_THAT(ParseSweepSpecJson("{\"parameters\": [{\"feild\": \"x\"}]}").status().message(),
              HasSubstr("invalid sweep JSON: line 1"));
  // null would read as left out (the default): refused wherever it is.
  EXPECT_THAT(ParseSweepSpecJson(R"({"trials": null})").status().message(),
              HasSubstr("sweep field trials: is null"));
  EXPECT_THAT(ParseSweepSpecJson(R"({"search": "random", "parameters": [
      {"field": "noise.stddev", "min": 0.05, "max": null}]})")
                  .status()
                  .message(),
              HasSubstr("sweep field parameters[0].max: is null"));
}

TEST(SweepTest, ObjectivesDefaultByLabelsAndCompareInTheirDirection) {
  v1::SweepSpec sweep;
  EXPECT_EQ(ResolveSweepObjective(sweep, false), v1::VALIDATION_LOSS);
  EXPECT_EQ(ResolveSweepObjective(sweep, true), v1::HEAD_ACCURACY);
  EXPECT_TRUE(SweepTrainsHead(v1::HEAD_ACCURACY, true));
  EXPECT_FALSE(SweepTrainsHead(v1::LINEAR_PROBE_ACCURACY, true));
  EXPECT_TRUE(SweepBetter(v1::VALIDATION_LOSS, 0.1, 0.2));
  EXPECT_FALSE(SweepBetter(v1::VALIDATION_LOSS, 0.2, 0.1));
  EXPECT_TRUE(SweepBetter(v1::HEAD_ACCURACY, 0.9, 0.8));
  EXPECT_TRUE(SweepBetter(v1::LINEAR_PROBE_ACCURACY, 0.9, 0.8));
}

TEST(SweepTest, ScoringMeasuresTheObjectiveOnTheTrainedModel) {
  const testing::Blobs blobs = testing::GaussianBlobs(300, 6, 3, 5);
  v1::TrainConfig config;
  config.add_encoder_widths(8);
  config.add_encoder_widths(3);
  config.set_finetune_epochs(20);
  config.set_pretrain_epochs(0);
  Trainer::Options options;
  options.config = config;
  options.input_dim = 6;
  auto trainer = Trainer::Create(options);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto model = (*trainer)->Train(blobs.rows);
  ASSERT_TRUE(model.ok()) << model.status();

  v1::SweepTrial trial;
  ASSERT_TRUE(ScoreSweepTrial(v1::VALIDATION_LOSS, **model, blobs.rows, {}, &trial).ok());
  EXPECT_EQ(trial.objective(), (*model)->info().summary.final_validation_loss());
  EXPECT_FALSE(trial.has_probe_accuracy());
  // No head: no head accuracy to score.
  EXPECT_EQ(ScoreSweepTrial(v1::HEAD_ACCURACY, **model, blobs.rows, {}, &trial).code(),
            absl::StatusCode::kFailedPrecondition);
  // The probe on the codes of the labelled rows (a third unlabelled):
  // separated blobs stay separable in a 3-unit code.
  std::vector<int> classes = blobs.classes;
  for (size_t r = 0; r < classes.size(); r += 3) classes[r] = kUnlabelled;
  v1::SweepTrial probe;
  const absl::Status s =
      ScoreSweepTrial(v1::LINEAR_PROBE_ACCURACY, **model, blobs.rows, classes, &probe);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GT(probe.probe_accuracy(), 0.9);
  EXPECT_EQ(probe.objective(), probe.probe_accuracy());
  EXPECT_TRUE(probe.has_validation_loss());
  EXPECT_GT(probe.epochs(), 0);
  classes.pop_back();
  EXPECT_THAT(
      ScoreSweepTrial(v1::LINEAR_PROBE_ACCURACY, **model, blobs.rows, classes, &probe).message(),
      HasSubstr("299 labels for 300 rows"));
}

}  // namespace
}  // namespace strata

#include "core/train/train_config.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TrainConfigTest, ParsesJsonWithLowercaseEnums) {
  auto c = ParseTrainConfigJson(R"({
    "encoder_widths": [16, 8, 2],
    "hidden_activations": ["leaky_relu"],
    "codeActivation": "sigmoid",
    "scaler": "minmax",
    "optimizer": {"kind": "sgd", "learning_rate": 0.05, "nesterov": true},
    "noise": {"kind": "masking", "mask_fraction": 0.3}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->encoder_widths(), ElementsAre(16, 8, 2));
  EXPECT_EQ(c->hidden_activations(0), v1::LEAKY_RELU);
  EXPECT_EQ(c->code_activation(), v1::SIGMOID);
  EXPECT_EQ(c->optimizer().kind(), v1::OptimizerConfig::SGD);
  EXPECT_FLOAT_EQ(c->noise().mask_fraction(), 0.3f);
}

TEST(TrainConfigTest, UnknownFieldsAndBadValuesAreNamed) {
  auto unknown = ParseTrainConfigJson(R"({"encoder_width": [3]})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("encoder_width"));
  auto bad_enum = ParseTrainConfigJson(R"({"loss": "hinge"})");
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_THAT(bad_enum.status().message(), HasSubstr("hinge"));
  EXPECT_FALSE(ParseTrainConfigJson("{not json").ok());
}

TEST(TrainConfigTest, ResolveFillsDocumentedDefaults) {
  auto c = ResolveTrainConfig(v1::TrainConfig(), 6);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->encoder_widths(), ElementsAre(3, 2));
  EXPECT_THAT(c->hidden_activations(), ElementsAre(v1::RELU));
  EXPECT_EQ(c->code_activation(), v1::LINEAR);
  EXPECT_EQ(c->output_activation(), v1::LINEAR);
  EXPECT_EQ(c->scaler(), v1::STANDARD);
  EXPECT_EQ(c->loss(), v1::MSE);
  EXPECT_EQ(c->optimizer().kind(), v1::OptimizerConfig::ADAM);
  EXPECT_FLOAT_EQ(c->optimizer().learning_rate(), 1e-3f);
  EXPECT_EQ(c->batch_size(), 64);
  EXPECT_EQ(c->finetune_epochs(), 50);
  EXPECT_EQ(c->pretrain_epochs(), 0);
  EXPECT_FLOAT_EQ(c->validation_fraction(), 0.1f);
  EXPECT_EQ(c->early_stopping().patience(), 20);
  EXPECT_EQ(c->reduce_lr_on_plateau().patience(), 10);
  EXPECT_EQ(c->seed(), 1u);
  // Resolving twice changes nothing.
  auto again = ResolveTrainConfig(*c, 6);
  EXPECT_EQ(again->SerializeAsString(), c->SerializeAsString());
}

TEST(TrainConfigTest, ExplicitZerosAreKept) {
  v1::TrainConfig in;
  in.set_validation_fraction(0);
  in.set_seed(0);
  in.mutable_early_stopping()->set_patience(0);
  auto c = ResolveTrainConfig(in, 4);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->validation_fraction(), 0);
  EXPECT_EQ(c->seed(), 0u);
  EXPECT_EQ(c->early_stopping().patience(), 0);
}

TEST(TrainConfigTest, OutOfRangeValuesAreRefusedNotTurnedIntoDefaults) {
  // Left out: the documented defaults.
  auto defaults = ResolveTrainConfig(*ParseTrainConfigJson("{}"), 8);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->batch_size(), 64);
  EXPECT_EQ(defaults->drift_bins(), 10);
  EXPECT_EQ(defaults->encoder_widths_size(), 2);
  // Given as 0 (or []): an error naming the field, as learning_rate: 0 is.
  for (const auto& [json, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"batch_size": 0})", "batch_size: must be at least 1, got 0"},
           {R"({"drift_bins": 0})", "drift_bins: must be in [2, 50], got 0"},
           {R"({"optimizer": {"learning_rate": 0}})", "optimizer.learning_rate"}}) {
    auto parsed = ParseTrainConfigJson(json);
    ASSERT_TRUE(parsed.ok()) << json;
    const absl::Status s = ResolveTrainConfig(*parsed, 8).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(s.message(), HasSubstr(field)) << json;
  }
  const auto empty = ParseTrainConfigJson(R"({"encoder_widths": []})");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("encoder_widths: is an empty list"));
  // null reads as left out too, at any depth.
  for (const auto& [json, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"batch_size": null})", "config field batch_size: is null"},
           {R"({"encoder_widths": null})", "config field encoder_widths: is null"},
           {R"({"anomaly": {"threshold_percentile": null}})",
            "config field anomaly.threshold_percentile: is null"}}) {
    const auto parsed = ParseTrainConfigJson(json);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(parsed.status().message(), HasSubstr(message)) << json;
  }
  EXPECT_EQ(MinTrainingRows(*defaults), 50);
  EXPECT_TRUE(CheckTrainingRows(*defaults, 50).ok());
  EXPECT_FALSE(CheckTrainingRows(*defaults, 49).ok());
}

TEST(TrainConfigTest, BceDefaultsToSigmoidAndMinMax) {
  v1::TrainConfig in;
  in.set_loss(v1::BCE);
  auto c = ResolveTrainConfig(in, 4);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->output_activation(), v1::SIGMOID);
  EXPECT_EQ(c->scaler(), v1::MINMAX);
}

TEST(TrainConfigTest, BceMisuseIsRejected) {
  v1::TrainConfig linear_out;
  linear_out.set_loss(v1::BCE);
  linear_out.set_output_activation(v1::LINEAR);
  EXPECT_THAT(ResolveTrainConfig(linear_out, 4).status().message(),
              HasSubstr("BCE needs output_activation sigmoid"));
  v1::TrainConfig standard;
  standard.set_loss(v1::BCE);
  standard.set_scaler(v1::STANDARD);
  EXPECT_THAT(ResolveTrainConfig(standard, 4).status().message(), HasSubstr("minmax"));
}

TEST(TrainConfigTest, InvalidFieldsAreNamed) {
  auto expect_error = [](v1::TrainConfig c, const std::string& field) {
    auto r = ResolveTrainConfig(c, 5);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(field));
  };
  v1::TrainConfig c;
  c.add_encoder_widths(0);
  expect_error(c, "encoder_widths[0]");
  c = {};
  c.add_encoder_widths(4);
  c.add_encoder_widths(3);
  c.add_encoder_widths(2);
  c.add_hidden_activations(v1::RELU);
  c.add_hidden_activations(v1::RELU);
  c.add_hidden_activations(v1::RELU);
  expect_error(c, "hidden_activations");
  c = {};
  c.set_output_activation(v1::RELU);
  expect_error(c, "output_activation");
  c = {};
  c.set_dropout(1.0f);
  expect_error(c, "dropout");
  c = {};
  c.set_validation_fraction(0.95f);
  expect_error(c, "validation_fraction");
  c = {};
  c.mutable_optimizer()->set_learning_rate(-1);
  expect_error(c, "optimizer.learning_rate");
  c = {};
  // No epochs at all: refused, unless class labels give the rows something
  // to train on.
  c.set_finetune_epochs(0);
  auto no_epochs = ResolveTrainConfig(c, 4);
  ASSERT_TRUE(no_epochs.ok()) << no_epochs.status();
  EXPECT_THAT(CheckTrainingEpochs(*no_epochs, false).message(),
              HasSubstr("config field finetune_epochs"));
  EXPECT_TRUE(CheckTrainingEpochs(*no_epochs, true).ok());
  // The supervised phase alone trains one network, not the ensemble asked.
  c.mutable_anomaly()->set_ensemble_size(3);
  EXPECT_THAT(CheckTrainingEpochs(*ResolveTrainConfig(c, 4), true).message(),
              HasSubstr("config field anomaly.ensemble_size: 3 networks need unsupervised"));
  c.mutable_anomaly()->set_ensemble_size(1);
  EXPECT_TRUE(CheckTrainingEpochs(*ResolveTrainConfig(c, 4), true).ok());
  c = {};
  c.mutable_sparsity()->set_weight(0.1f);
  expect_error(c, "sparsity.weight");  // no sigmoid layer to act on
  c = {};
  c.mutable_reduce_lr_on_plateau()->set_factor(1.5f);
  expect_error(c, "reduce_lr_on_plateau.factor");
  c = {};
  c.set_batch_size(-3);
  expect_error(c, "batch_size");
  // Configs come from clients: sizes that would exhaust a server are refused.
  c = {};
  c.add_encoder_widths(100000000);
  expect_error(c, "encoder_widths[0]");
  c = {};
  c.add_encoder_widths(60000);
  c.add_encoder_widths(60000);
  expect_error(c, "weights; the limit is");
  c = {};
  c.set_finetune_epochs(2000000000);
  expect_error(c, "finetune_epochs");
  c = {};
  c.set_threads(100000);
  expect_error(c, "threads");
}

TEST(TrainConfigTest, BatchNormAndResidualAreCheckedAndReachTheArchitecture) {
  v1::TrainConfig c;
  c.set_batch_norm(v1::AFTER_ACTIVATION);
  c.set_residual(true);
  auto r = ResolveTrainConfig(c, 5);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FLOAT_EQ(r->batch_norm_momentum(), 0.1f);
  const v1::Architecture arch = ArchitectureFromConfig(*r, 5);
  EXPECT_EQ(arch.batch_norm(), v1::AFTER_ACTIVATION);
  EXPECT_TRUE(arch.residual());
  const auto refused = [](const v1::TrainConfig& c) {
    auto r = ResolveTrainConfig(c, 5);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : std::string(r.status().message());
  };
  c.set_batch_norm_momentum(0);
  EXPECT_THAT(refused(c), HasSubstr("batch_norm_momentum"));
  c.set_batch_norm_momentum(0.5f);
  c.set_batch_size(1);
  EXPECT_THAT(refused(c), HasSubstr("batch_size: must be at least 2 with batch_norm"));
  c.set_batch_size(8);
  c.set_tied_weights(true);
  EXPECT_TRUE(ResolveTrainConfig(c, 5).ok());  // after the activation: folds anyway
  c.set_batch_norm(v1::BEFORE_ACTIVATION);
  EXPECT_THAT(refused(c), HasSubstr("cannot be folded into tied weights"));
  c.set_batch_norm(static_cast<v1::BatchNorm>(9));
  EXPECT_THAT(refused(c), HasSubstr("batch_norm"));
  // JSON names, as the rest of the config.
  auto parsed = ParseTrainConfigJson(
      R"({"batch_norm": "before_activation", "residual": true, "batch_norm_momentum": 0.2})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->batch_norm(), v1::BEFORE_ACTIVATION);
}

TEST(TrainConfigTest, ArchitectureMirrorsConfig) {
  v1::TrainConfig in;
  in.add_encoder_widths(8);
  in.add_encoder_widths(4);
  in.add_encoder_widths(2);
  in.add_hidden_activations(v1::TANH);
  in.set_tied_weights(true);
  auto c = ResolveTrainConfig(in, 10);
  ASSERT_TRUE(c.ok());
  const v1::Architecture a = ArchitectureFromConfig(*c, 10);
  EXPECT_EQ(a.input_dim(), 10);
  EXPECT_THAT(a.encoder_activations(), ElementsAre(v1::TANH, v1::TANH, v1::LINEAR));
  EXPECT_TRUE(a.tied_weights());
}

// The count a job's progress plans, the trainer's and a sweep's alike:
// every network's unsupervised epochs, the served one's supervised ones.
TEST(TrainConfigTest, PlannedEpochsCountEveryNetwork) {
  v1::TrainConfig config;
  config.add_encoder_widths(4);
  config.add_encoder_widths(2);
  config.set_pretrain_epochs(3);
  config.set_finetune_epochs(10);
  config.mutable_supervised()->set_epochs(7);
  auto resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(TrainedNetworks(*resolved, 300, 6), 5);  // the default on small data
  EXPECT_EQ(PlannedEpochs(*resolved, 5, /*labelled=*/false), 5 * (3 * 2 + 10));
  // Pretrained and fully fine-tuned: the head's own epochs first.
  EXPECT_EQ(PlannedEpochs(*resolved, 5, /*labelled=*/true),
            5 * (3 * 2 + 10) + kDefaultHeadEpochs + 7);
  // A classifier from its initialisation: one network, its supervised epochs.
  config.set_pretrain_epochs(0);
  config.set_finetune_epochs(0);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(TrainedNetworks(*resolved, 300, 6), 1);
  EXPECT_EQ(PlannedEpochs(*resolved, 1, /*labelled=*/true), 7);
  // Beyond int: saturates rather than wraps.
  for (int i = 0; i < 2200; ++i) config.add_encoder_widths(1);
  config.set_pretrain_epochs(kMaxEpochs);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(PlannedEpochs(*resolved, 16, false), std::numeric_limits<int>::max());
}

// The supervised phase's defaults follow from whether the network was
// pretrained (docs/training.md "Few labels"): after unsupervised epochs,
// full fine-tuning starts from a head trained alone, at a tenth of the
// optimizer's rate; from scratch, or with a frozen encoder, neither.
TEST(TrainConfigTest, SupervisedDefaultsFollowPretraining) {
  v1::TrainConfig config;
  config.set_finetune_epochs(10);
  auto resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->supervised().mode(), v1::SupervisedConfig::FULL);
  EXPECT_EQ(resolved->supervised().head_epochs(), kDefaultHeadEpochs);
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 1e-4f);
  EXPECT_FALSE(resolved->supervised().reconstruct_unlabelled());
  EXPECT_EQ(resolved->supervised().epochs(), 50);

  config.mutable_optimizer()->set_learning_rate(0.02f);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 0.002f);

  config.set_finetune_epochs(0);  // from scratch
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->supervised().head_epochs(), 0);
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 0.02f);

  config.set_pretrain_epochs(3);
  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->supervised().head_epochs(), 0);
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 0.02f);

  // Without head epochs, full fine-tuning keeps the optimizer's rate.
  config.set_pretrain_epochs(3);
  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FULL);
  config.mutable_supervised()->set_head_epochs(0);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 0.02f);

  // What a config sets stays.
  config.mutable_supervised()->set_mode(v1::SupervisedConfig::FULL);
  config.mutable_supervised()->set_head_epochs(0);
  config.mutable_supervised()->set_learning_rate(0.5f);
  config.mutable_supervised()->set_reconstruct_unlabelled(true);
  resolved = ResolveTrainConfig(config, 6);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->supervised().head_epochs(), 0);
  EXPECT_FLOAT_EQ(resolved->supervised().learning_rate(), 0.5f);
  EXPECT_TRUE(resolved->supervised().reconstruct_unlabelled());
}

TEST(TrainConfigTest, JsonRoundTrip) {
  auto c = ResolveTrainConfig(v1::TrainConfig(), 6);
  auto back = ParseTrainConfigJson(TrainConfigToJson(*c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), c->SerializeAsString());
}

// The shipped example configs parse and resolve for their data's width
// (tests run from the source tree). The tutorial's very deep network is
// what docs/training.md and bench/deep_ae.sh say it is.
TEST(TrainConfigTest, ShippedConfigsResolve) {
  for (const auto& [file, input_dim] :
       std::vector<std::pair<std::string, int>>{{"data/configs/thyroid.json", 6},
                                                {"data/configs/mnist_hinton.json", 784},
                                                {"data/configs/mnist_deep_bn.json", 784}}) {
    SCOPED_TRACE(file);
    absl::StatusOr<std::string> json = ReadFileToString(file);
    ASSERT_TRUE(json.ok()) << json.status();
    absl::StatusOr<v1::TrainConfig> c = ParseTrainConfigJson(*json);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<v1::TrainConfig> r = ResolveTrainConfig(*c, input_dim);
    ASSERT_TRUE(r.ok()) << r.status();
    if (file == "data/configs/mnist_deep_bn.json") {
      EXPECT_THAT(r->encoder_widths(), ::testing::ElementsAre(512, 384, 256, 128, 64, 16));
      EXPECT_EQ(r->batch_norm(), v1::AFTER_ACTIVATION);
      EXPECT_FLOAT_EQ(r->dropout(), 0.3f);
      EXPECT_EQ(r->pretrain_epochs(), 0);
    }
  }
}

}  // namespace
}  // namespace strata

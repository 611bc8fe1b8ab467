#include "core/model_io.h"

#include <dirent.h>

#include <fstream>

#include "core/file_util.h"
#include "core/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> TrainedModel(bool tied) {
  Trainer::Options options;
  options.input_dim = 7;
  options.config.add_encoder_widths(5);
  options.config.add_encoder_widths(3);
  options.config.set_tied_weights(tied);
  options.config.set_finetune_epochs(3);
  options.config.set_pretrain_epochs(1);
  options.feature_names = {"a", "b", "c", "d", "e", "f", "g"};
  auto trainer = Trainer::Create(options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  auto model = (*trainer)->Train(testing::ManifoldData(200, 7, 2, 5));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(ModelIoTest, RoundTripIsBitIdentical) {
  for (bool tied : {false, true}) {
    const std::unique_ptr<Model> model = TrainedModel(tied);
    const std::string path = TempPath(tied ? "tied.strata" : "untied.strata");
    ASSERT_TRUE(WriteModelFile(*model, path).ok());
    auto loaded = ReadModelFile(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const Matrix x = testing::GaussianMatrix(50, 7, 8, 2.0);
    EXPECT_EQ(*(*loaded)->Reconstruct(x), *model->Reconstruct(x));
    for (int layer = 1; layer <= model->depth(); ++layer) {
      EXPECT_EQ(*(*loaded)->Encode(x, layer), *model->Encode(x, layer));
    }
    // Everything else survives too, and a second write gives the same bytes.
    EXPECT_EQ(ModelToArtifact(**loaded).SerializeAsString(),
              ModelToArtifact(*model).SerializeAsString());
    EXPECT_EQ(SerializeModel(**loaded), SerializeModel(*model));
    EXPECT_EQ((*loaded)->info().feature_names, model->info().feature_names);
    // One pretraining epoch for each of 2 layers, then 3 fine-tuning epochs.
    EXPECT_EQ((*loaded)->info().history.size(), 5u);
  }
}

TEST(ModelIoTest, WriteLeavesNoTemporaryFiles) {
  const std::string dir = TempPath("model_io_dir");
  mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(WriteModelFile(*TrainedModel(false), dir + "/" + kModelFileName).ok());
  DIR* d = opendir(dir.c_str());
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(d);
  EXPECT_THAT(names, ::testing::ElementsAre(kModelFileName));
}

TEST(ModelIoTest, TruncatedFilesAreRejected) {
  const std::string bytes = SerializeModel(*TrainedModel(false));
  for (size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{9}, size_t{20}, bytes.size() / 2,
                      bytes.size() - 1}) {
    auto m = ParseModel(bytes.substr(0, keep));
    ASSERT_FALSE(m.ok()) << keep;
    EXPECT_THAT(m.status().code(),
                ::testing::AnyOf(absl::StatusCode::kDataLoss, absl::StatusCode::kInvalidArgument))
        << keep;
    if (keep > 8) {
      EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << keep;
    }
  }
}

TEST(ModelIoTest, CorruptPayloadFailsTheChecksum) {
  std::string bytes = SerializeModel(*TrainedModel(false));
  bytes[bytes.size() - 100] ^= 0x10;  // a weight bit deep in the payload
  auto m = ParseModel(bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(m.status().message(), HasSubstr("checksum"));
}

TEST(ModelIoTest, ForeignFilesAreRejected) {
  for (const std::string& foreign :
       {std::string("a,b\n1,2\n"), std::string("\x89PNG\r\n\x1a\n....", 12),
        std::string(100, '\0')}) {
    auto m = ParseModel(foreign);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), HasSubstr("not a strata model file"));
  }
}

TEST(ModelIoTest, UnsupportedFormatVersionIsNamed) {
  const std::string bytes = SerializeModel(*TrainedModel(false));
  v1::ModelFile file;
  ASSERT_TRUE(file.ParseFromString(bytes.substr(8)));
  file.set_format_version(99);
  auto m = ParseModel(bytes.substr(0, 8) + file.SerializeAsString());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("format version 99"));
}

TEST(ModelIoTest, InconsistentArtifactsAreRejected) {
  const v1::ModelArtifact good = ModelToArtifact(*TrainedModel(false));
  ASSERT_TRUE(ModelFromArtifact(good).ok());

  v1::ModelArtifact a = good;
  a.mutable_encoder(1)->mutable_weights()->RemoveLast();
  EXPECT_THAT(ModelFromArtifact(a).status().message(), HasSubstr("encoder layer 2"));
  a = good;
  a.mutable_decoder(0)->set_cols(4);
  EXPECT_FALSE(ModelFromArtifact(a).ok());
  a = good;
  a.mutable_scaler()->mutable_scale()->RemoveLast();
  EXPECT_THAT(ModelFromArtifact(a).status().message(), HasSubstr("scaler"));
  a = good;
  a.mutable_architecture()->set_input_dim(8);
  EXPECT_FALSE(ModelFromArtifact(a).ok());
  a = good;
  a.mutable_decoder(1)->set_biases(0, std::nanf(""));
  EXPECT_THAT(ModelFromArtifact(a).status().message(), HasSubstr("non-finite"));
  a = good;
  a.clear_decoder();
  EXPECT_FALSE(ModelFromArtifact(a).ok());
  // The code Gaussian must fit the 3-unit code.
  ASSERT_EQ(good.calibration().code().precision_size(), 9);
  a = good;
  a.mutable_calibration()->mutable_code()->mutable_precision()->RemoveLast();
  EXPECT_THAT(ModelFromArtifact(a).status().message(), HasSubstr("3-unit code"));
  a = good;
  a.mutable_calibration()->mutable_code()->set_mean(0, std::nanf(""));
  EXPECT_THAT(ModelFromArtifact(a).status().message(), HasSubstr("code Gaussian"));
  a = good;
  a.mutable_calibration()->set_mse_scale(0);
  EXPECT_FALSE(ModelFromArtifact(a).ok());
}

TEST(ModelIoTest, ModelsFromBeforeCodeScoresLoadAndScoreByMse) {
  v1::ModelArtifact old = ModelToArtifact(*TrainedModel(false));
  v1::AnomalyCalibration* c = old.mutable_calibration();
  c->clear_code();
  c->clear_mse_scale();
  c->clear_code_distance();
  c->clear_combined();
  auto model = ModelFromArtifact(old);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->default_metric(), ScoreMetric::kMeanSquared);
  const Matrix x = testing::GaussianMatrix(5, 7, 8);
  EXPECT_TRUE((*model)->Score(x, ScoreMetric::kMeanSquared).ok());
  EXPECT_EQ((*model)->Score(x, ScoreMetric::kCombined).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ModelIoTest, MissingFileIsNotFound) {
  auto m = ReadModelFile(TempPath("does-not-exist.strata"));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelIoTest, ModelChecksItsInputs) {
  const std::unique_ptr<Model> model = TrainedModel(false);
  EXPECT_THAT(model->Encode(Matrix::Zero(2, 6), 1).status().message(),
              HasSubstr("expected 7 columns"));
  EXPECT_THAT(model->Encode(Matrix::Zero(2, 7), 3).status().message(),
              HasSubstr("layer 3 does not exist"));
  Matrix bad = Matrix::Zero(3, 7);
  bad(2, 4) = std::numeric_limits<float>::infinity();
  EXPECT_THAT(model->Reconstruct(bad).status().message(), HasSubstr("row 2, column 4"));
  EXPECT_FALSE(model->FeatureErrors(Matrix(0, 7), ScoreMetric::kMeanSquared).ok());
}

}  // namespace
}  // namespace strata

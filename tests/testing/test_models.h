// Small trained models and scratch model stores for server tests.
#ifndef STRATA_TESTS_TESTING_TEST_MODELS_H_
#define STRATA_TESTS_TESTING_TEST_MODELS_H_

#include <cstdlib>
#include <memory>
#include <string>

#include "core/model/model_io.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata::testing {

// A fresh empty directory under the test temp dir.
inline std::string ScratchDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_" + name;
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  return dir;
}

// A quickly trained model: `cols` features, code width 2. Different seeds
// give different weights.
inline std::unique_ptr<Model> SmallModel(int cols = 6, uint64_t seed = 1, int epochs = 3) {
  Trainer::Options options;
  options.input_dim = cols;
  options.config.add_encoder_widths(4);
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(epochs);
  options.config.set_seed(seed);
  auto trainer = Trainer::Create(options);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  auto model = (*trainer)->Train(ManifoldData(300, cols, 2, seed));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

// `a` as strata wrote it before the ensemble score: no ensemble networks,
// calibration or size.
inline void DropEnsemble(v1::ModelArtifact* a) {
  a->clear_ensemble();
  a->mutable_calibration()->clear_ensemble();
  a->mutable_config()->mutable_anomaly()->clear_ensemble_size();
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_TEST_MODELS_H_

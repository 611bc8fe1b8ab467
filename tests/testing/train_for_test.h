// Trains a model as the trainer's tests do: Trainer::Create with `options`
// (its config and input width set from `config` and `data`), then Train.
// Shared by the trainer's test files (tests/core/train/*_test.cc).
#ifndef STRATA_TESTS_TESTING_TRAIN_FOR_TEST_H_
#define STRATA_TESTS_TESTING_TRAIN_FOR_TEST_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model.h"
#include "core/nn/matrix.h"
#include "core/train/trainer.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace testing {

inline absl::StatusOr<std::unique_ptr<Model>> Train(const v1::TrainConfig& config,
                                                    const Matrix& data,
                                                    Trainer::Options options = {},
                                                    const std::vector<int>& classes = {}) {
  options.config = config;
  options.input_dim = static_cast<int>(data.cols());
  auto trainer = Trainer::Create(options);
  if (!trainer.ok()) return trainer.status();
  return (*trainer)->Train(data, classes);
}

}  // namespace testing
}  // namespace strata

#endif  // STRATA_TESTS_TESTING_TRAIN_FOR_TEST_H_

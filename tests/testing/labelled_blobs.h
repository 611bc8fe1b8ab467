// Labelled training data for the server's supervised-job and sweep tests:
// three Gaussian blobs with text class labels, and the training-job spec of
// a small classifier over them.
//
//   const testing::LabelledRows data = testing::LabelledBlobs();
//   auto job = t.client->UploadTrainJob(testing::SupervisedSpec(data), data.rows.data(),
//                                       data.rows.rows(), 6);
#ifndef STRATA_TESTS_TESTING_LABELLED_BLOBS_H_
#define STRATA_TESTS_TESTING_LABELLED_BLOBS_H_

#include <string>
#include <utility>
#include <vector>

#include "core/nn/matrix.h"
#include "strata/v1/service.pb.h"
#include "tests/testing/synthetic_data.h"

namespace strata::testing {

// Three blobs with text labels, every fifth row unlabelled.
struct LabelledRows {
  Matrix rows;
  std::vector<std::string> labels;
};
inline LabelledRows LabelledBlobs(int rows = 600) {
  testing::Blobs blobs = testing::GaussianBlobs(rows, 6, 3, 23, 0.5);
  LabelledRows out{std::move(blobs.rows), {}};
  const char* names[] = {"low", "mid", "high"};
  for (int r = 0; r < rows; ++r) out.labels.push_back(r % 5 == 0 ? "" : names[r % 3]);
  return out;
}

// Model "classes": encoder 4-3, 30 fine-tuning and 30 supervised epochs, one
// network, trained on `data`'s labels.
inline v1::TrainJobSpec SupervisedSpec(const LabelledRows& data) {
  v1::TrainJobSpec spec;
  spec.set_model_name("classes");
  v1::TrainConfig* config = spec.mutable_config();
  config->add_encoder_widths(4);
  config->add_encoder_widths(3);
  config->set_finetune_epochs(30);
  config->mutable_optimizer()->set_learning_rate(0.01f);
  config->mutable_anomaly()->set_ensemble_size(1);
  config->mutable_supervised()->set_epochs(30);
  for (const std::string& label : data.labels) spec.add_class_labels(label);
  return spec;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_LABELLED_BLOBS_H_

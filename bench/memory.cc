// Writes the memory benchmark's model store: `versions` versions of the
// MNIST-architecture autoencoder (784-1000-500-250-30, untied, decoder
// mirrored), each with its own weights, scaler, calibration and drift
// baseline from 2,000 MNIST training images, as a trained model has.
//
//   memory_bench --make_models=DIR [--versions=10]
//   memory_bench --target=HOST:PORT [--versions=10 --calls=200]
//
// The first prints: WEIGHTS bytes=<raw float bytes of all versions' weights and biases> versions=N
// The second sends `calls` Encode calls of 256 MNIST images, to each version in turn.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/mnist.h"
#include "client/strata_client.h"
#include "core/data/scaler.h"
#include "core/model/model.h"
#include "core/model/model_store.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/drift.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, make_models, "", "model store to write");
ABSL_FLAG(int, versions, 10, "versions to publish, or to call");
ABSL_FLAG(std::string, target, "", "server to send Encode traffic to");
ABSL_FLAG(int, calls, 200, "Encode calls to send");

namespace {

int SendTraffic(const strata::Matrix& images) {
  auto client = strata::StrataClient::Create({absl::GetFlag(FLAGS_target)});
  if (!client.ok()) return 1;
  strata::v1::EncodeRequest request;
  request.mutable_model()->set_name("mnist");
  strata::ToDenseMatrix(images.topRows(256), request.mutable_rows());
  for (int i = 0; i < absl::GetFlag(FLAGS_calls); ++i) {
    request.mutable_model()->set_version(1 + i % absl::GetFlag(FLAGS_versions));
    auto response = (*client)->Encode(request);
    if (!response.ok()) {
      std::fprintf(stderr, "Encode: %s\n", response.status().ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<strata::Matrix> images =
      strata::bench::ReadMnistImages(strata::bench::MnistDir() + "/train-images-idx3-ubyte.gz");
  if (!images.ok()) {
    std::fprintf(stderr, "%s\n", images.status().ToString().c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_target).empty()) return SendTraffic(*images);
  const strata::Matrix sample = images->topRows(2000);
  strata::v1::Architecture arch;
  arch.set_input_dim(784);
  for (int w : {1000, 500, 250, 30}) arch.add_encoder_widths(w);
  for (auto a : {strata::v1::RELU, strata::v1::RELU, strata::v1::RELU, strata::v1::LINEAR}) {
    arch.add_encoder_activations(a);
  }
  arch.set_output_activation(strata::v1::SIGMOID);
  auto store = strata::ModelStore::Create({.root = absl::GetFlag(FLAGS_make_models)});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  int64_t bytes = 0;
  for (int v = 1; v <= absl::GetFlag(FLAGS_versions); ++v) {
    auto net = strata::StackedAutoencoder::Create(arch, static_cast<uint64_t>(v));
    auto scaler = strata::Scaler::Fit(strata::v1::MINMAX, sample);
    if (!net.ok() || !scaler.ok()) return 1;
    strata::ModelInfo info;
    auto calibration = strata::CalibrateAnomalyScores(*net, *scaler, sample, 99);
    if (!calibration.ok()) return 1;
    info.calibration = *std::move(calibration);
    auto baseline = strata::ComputeDriftBaseline(*net, *scaler, sample, 10, info.calibration);
    if (!baseline.ok()) return 1;
    info.drift_baseline = *std::move(baseline);
    for (const auto& w : net->parameters().weights) bytes += w.size() * 4;
    for (const auto& b : net->parameters().biases) bytes += b.size() * 4;
    strata::Model model(*std::move(net), *std::move(scaler), std::move(info));
    auto version = (*store)->Publish("mnist", model);
    if (!version.ok()) {
      std::fprintf(stderr, "%s\n", version.status().ToString().c_str());
      return 1;
    }
  }
  std::printf("WEIGHTS bytes=%lld versions=%d\n", static_cast<long long>(bytes),
              absl::GetFlag(FLAGS_versions));
  return 0;
}

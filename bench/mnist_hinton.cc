// Hinton & Salakhutdinov (Science, 2006, Fig. 2B) on a running strata-server:
// the 784-1000-500-250-30 autoencoder trained on the 60,000 MNIST training
// images through a TrainJob, the 10,000 test images reconstructed through
// Reconstruct, and the average squared error per test image (summed over the
// 784 pixels in [0, 1]) set against 30-component PCA fitted on the same
// training images in the same run. The paper: deep autoencoder 3.00,
// logistic PCA 8.01, PCA 13.87.
//
//   mnist_hinton_bench --target=127.0.0.1:PORT [--config=data/configs/mnist_hinton.json]
//
// Also a linear probe (5-fold logistic regression on the test images' digit
// labels) on the codes, the raw pixels and the PCA features.
// Ends with: RESULT err_per_image=... pca_err_per_image=... train_minutes=... epochs=... ...
#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/mnist.h"
#include "bench/train_job.h"
#include "client/strata_client.h"
#include "client/training_report.h"
#include "core/analysis/pca.h"
#include "core/base/file_util.h"
#include "core/scoring/evaluation.h"
#include "core/train/train_config.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(std::string, config, "data/configs/mnist_hinton.json", "TrainConfig JSON (the preset)");
ABSL_FLAG(bool, probe, true, "also run the linear probes");

namespace strata {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "mnist_hinton: " << s << "\n";
  return 1;
}

int Run() {
  const std::string dir = bench::MnistDir();
  absl::StatusOr<Matrix> train = bench::ReadMnistImages(dir + "/train-images-idx3-ubyte.gz");
  absl::StatusOr<Matrix> test = bench::ReadMnistImages(dir + "/t10k-images-idx3-ubyte.gz");
  absl::StatusOr<std::vector<int>> test_labels =
      bench::ReadMnistLabels(dir + "/t10k-labels-idx1-ubyte.gz");
  if (!train.ok()) return Fail(train.status());
  if (!test.ok()) return Fail(test.status());
  if (!test_labels.ok()) return Fail(test_labels.status());
  absl::StatusOr<std::string> json = ReadFileToString(absl::GetFlag(FLAGS_config));
  if (!json.ok()) return Fail(json.status());
  absl::StatusOr<v1::TrainConfig> config = ParseTrainConfigJson(*json);
  if (!config.ok()) return Fail(config.status());

  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.max_message_bytes = 256 << 20;
  auto client = *StrataClient::Create(options);
  v1::TrainJobSpec spec;
  spec.set_model_name("mnist");
  *spec.mutable_config() = *config;
  std::printf("training %s on %d images (%s)\n", absl::GetFlag(FLAGS_config).c_str(),
              static_cast<int>(train->rows()), options.target.c_str());
  std::fflush(stdout);
  const absl::Time start = absl::Now();
  int printed = 0;
  const auto report = [&](const v1::TrainJob& j) {
    const v1::TrainJobProgress& p = j.progress();
    if (p.epochs_done() >= printed + 5 || (p.epochs_done() > printed && p.epochs_done() <= 3)) {
      printed = p.epochs_done();
      std::printf("  epoch %3d/%d  loss %.5f  lr %.2g  %.1f min\n", p.epochs_done(),
                  p.epochs_planned(), p.train_loss(), p.learning_rate(), p.elapsed_seconds() / 60);
      std::fflush(stdout);
    }
  };
  absl::StatusOr<v1::TrainJob> job = bench::TrainAndWait(*client, spec, *train, report);
  if (!job.ok()) return Fail(job.status());
  if (absl::Status s = bench::Succeeded(*job); !s.ok()) return Fail(s);
  const double train_minutes = job->progress().elapsed_seconds() / 60;
  const double wall_minutes = absl::ToDoubleMinutes(absl::Now() - start);

  // The test set through Reconstruct, and its codes through Encode.
  v1::ModelSpec model;
  model.set_name("mnist");
  model.set_version(job->version());
  Matrix codes;
  absl::StatusOr<Matrix> reconstruction = bench::ReconstructAll(*client, model, *test, &codes);
  if (!reconstruction.ok()) return Fail(reconstruction.status());
  const double err = bench::ErrorPerImage(*reconstruction, *test);

  // The baseline, same data, same run.
  absl::StatusOr<v1::GetModelResponse> info = client->GetModel(model);
  if (!info.ok()) return Fail(info.status());
  const int width = static_cast<int>(codes.cols());
  absl::StatusOr<Pca> pca = FitPca(*train, width);
  if (!pca.ok()) return Fail(pca.status());
  const double pca_err = bench::ErrorPerImage(pca->Reconstruct(*test), *test);
  const double train_err = info->summary().mean_reconstruction_mse() * 784;

  std::vector<v1::EpochRecord> history(info->history().begin(), info->history().end());
  std::printf("\ntraining curve:\n%s\n", cli::FormatCurve(history, 20).c_str());
  std::printf("squared error per test image (sum over 784 pixels, mean over 10,000 images):\n");
  std::printf("  strata deep autoencoder  %6.2f   (paper: 3.00)\n", err);
  std::printf("  PCA, %d components       %6.2f   (paper: 13.87)\n", width, pca_err);
  std::printf("  training set, strata     %6.2f\n", train_err);
  std::printf("trained %d epochs in %.1f min (%.1f min with upload and publish)\n",
              info->summary().epochs(), train_minutes, wall_minutes);
  std::string probes;
  if (absl::GetFlag(FLAGS_probe)) {
    std::printf("linear probe on the 10,000 test images (5-fold, digit labels):\n");
    const Matrix pca_features = pca->Project(*test);
    for (const auto& [name, features] :
         {std::pair<const char*, const Matrix*>{"codes", &codes}, {"raw", &*test},
          {"pca", &pca_features}}) {
      absl::StatusOr<ProbeResult> r = LinearProbe(*features, *test_labels, {});
      if (!r.ok()) return Fail(r.status());
      std::printf("  %-6s width %3d  accuracy %.4f +- %.4f\n", name,
                  static_cast<int>(features->cols()), r->mean_accuracy, r->std_accuracy);
      absl::StrAppendFormat(&probes, " probe_%s=%.4f", name, r->mean_accuracy);
    }
  }
  std::printf("RESULT err_per_image=%.3f pca_err_per_image=%.3f train_minutes=%.1f epochs=%d%s\n",
              err, pca_err, train_minutes, info->summary().epochs(), probes.c_str());
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Run();
}

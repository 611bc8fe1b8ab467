// One end-to-end training epoch of the Hinton & Salakhutdinov MNIST
// autoencoder (784-1000-500-250-30, relu hidden, linear code, sigmoid output,
// BCE, batch 128, Adam lr 1e-3) through strata's Trainer, the code path a
// TrainJob runs. Pixels are value / 255 with the identity scaler, so both
// sides of bench/train_vs_torch.sh see the same numbers.
//
//   train_mnist_bench [--epochs=1] [--threads=0] [--seed=1]
//
// Prints one line per epoch, the machine (CPU, FMA peak measured in this
// run, the GEMM kernels), and finally:
//   STRATA seconds=<first epoch's training seconds> loss=<its mean training loss>
//     gflop=<the epoch's matrix-product work> gflops=<gflop / seconds>
//     peak_gflops=<the FMA peak> peak_fraction=<gflops / peak_gflops> gemm=<kernels>
// The work counts 2 flops per multiply-add of every product an epoch runs:
// each layer's forward product (x W), its weight gradient (x' D), and the
// gradient carried to its input (D W') for every layer but the first.
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/machine.h"
#include "bench/mnist.h"
#include "core/nn/allocator.h"
#include "core/nn/fixed_order_gemm.h"
#include "core/train/trainer.h"

ABSL_FLAG(int, epochs, 1, "end-to-end epochs");
ABSL_FLAG(int, threads, 0, "threads for the matrix products; 0 = all cores");
ABSL_FLAG(uint64_t, seed, 1, "initial weights and data order");

int main(int argc, char** argv) {
  strata::KeepBatchBuffersInHeap();  // as strata-server runs
  absl::ParseCommandLine(argc, argv);
  const std::string path = strata::bench::MnistDir() + "/train-images-idx3-ubyte.gz";
  absl::StatusOr<strata::Matrix> x = strata::bench::ReadMnistImages(path);
  if (!x.ok()) {
    std::fprintf(stderr, "%s\n", x.status().ToString().c_str());
    return 1;
  }
  strata::v1::TrainConfig config;
  for (int w : {1000, 500, 250, 30}) config.add_encoder_widths(w);
  config.add_hidden_activations(strata::v1::RELU);
  config.set_code_activation(strata::v1::LINEAR);
  config.set_output_activation(strata::v1::SIGMOID);
  config.set_loss(strata::v1::BCE);
  config.set_scaler(strata::v1::IDENTITY);
  config.set_batch_size(128);
  config.mutable_optimizer()->set_kind(strata::v1::OptimizerConfig::ADAM);
  config.mutable_optimizer()->set_learning_rate(1e-3f);
  config.set_pretrain_epochs(0);
  config.set_finetune_epochs(absl::GetFlag(FLAGS_epochs));
  config.set_validation_fraction(0);
  config.mutable_early_stopping()->set_patience(0);
  config.mutable_reduce_lr_on_plateau()->set_patience(0);
  config.set_seed(absl::GetFlag(FLAGS_seed));
  config.set_threads(absl::GetFlag(FLAGS_threads));

  strata::Trainer::Options options;
  options.config = config;
  options.input_dim = static_cast<int>(x->cols());
  options.on_epoch = [](const strata::TrainProgress& p) {
    std::printf("epoch %d: %.2f s, loss %.5f\n", p.record.epoch(), p.record.seconds(),
                p.record.train_loss());
    std::fflush(stdout);
  };
  absl::StatusOr<std::unique_ptr<strata::Trainer>> trainer = strata::Trainer::Create(options);
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<strata::Model>> model = (*trainer)->Train(*x);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  const strata::v1::EpochRecord& first = (*model)->info().history.front();
  // Layers of the autoencoder as (in, out): the encoder, then its mirror.
  std::vector<int> widths = {static_cast<int>(x->cols())};
  widths.insert(widths.end(), config.encoder_widths().begin(), config.encoder_widths().end());
  double multiply_adds_per_row = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const double layer = static_cast<double>(widths[l]) * widths[l + 1];
    // Encoder layer l and decoder layer (its mirror): forward and weight
    // gradient each; the input gradient for all but the network's first.
    multiply_adds_per_row += 2 * (2 * layer) + (l == 0 ? 1 : 2) * layer;
  }
  const double gflop = 2 * multiply_adds_per_row * static_cast<double>(x->rows()) / 1e9;
  const int threads = Eigen::nbThreads();
  const double peak = strata::bench::MeasureFmaPeakGflops(threads);
  std::printf("machine: cpu=\"%s\" fma_peak_gflops=%.1f threads=%d gemm=%s\n",
              strata::bench::CpuModel().c_str(), peak, threads, strata::bench::GemmName().c_str());
  std::printf(
      "STRATA seconds=%.3f loss=%.5f gflop=%.1f gflops=%.1f peak_gflops=%.1f peak_fraction=%.3f "
      "gemm=%s\n",
      first.seconds(), first.train_loss(), gflop, gflop / first.seconds(), peak,
      gflop / first.seconds() / peak, strata::bench::GemmName().c_str());
  return 0;
}

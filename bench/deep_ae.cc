// Deep architectures on MNIST through a running strata-server: does batch
// normalisation let a very deep autoencoder train end to end, and how deep
// can residual connections go?
//
//   deep_ae_bench --target=127.0.0.1:PORT --model_root=DIR
//                 [--config=data/configs/mnist_deep_bn.json] [--train_rows=60000] [--epochs=15]
//
// Every network is trained through a TrainJob on the same training rows with
// the same optimizer, batch size, epochs and seed (the config's), without
// pretraining; only the architecture and the two switches change:
// - the deep-autoencoder tutorial's 784-512-256-128-32 (dropout 0.2) and its
//   very deep 784-512-384-256-128-64-16 (dropout 0.3; and again without
//   dropout, "deep_nodrop"), each plain, +BN,
//   +residual and +both, where residual applies only to hidden layers of
//   equal input and output widths (these two have none, so those variants
//   are reported as such and not trained);
// - the depth sweep: encoders of 4, 8, 16 and 32 hidden layers of width 256
//   before a 32-wide code, each plain, +residual, +BN and +both, no dropout.
// Each is scored by the squared error per test image (summed over the 784
// pixels in [0, 1], mean over the 10,000 test images) through Reconstruct,
// beside two baselines from the same run: the mean training image, and PCA
// with as many components as the code is wide. Then the served (folded) BN
// model's Encode throughput against the same network without BN, read from
// the model store, at batch 1 and 256.
//
// Ends with: RESULT err_<network>_<variant>=... ratio_deep_plain_vs_bn=...
//            ratio_deep_nodrop_plain_vs_bn=... encode_ratio_b1=... encode_ratio_b256=...
//            mean_image_err=... gemm_gflops=...
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/load_gen.h"
#include "bench/machine.h"
#include "bench/mnist.h"
#include "bench/train_job.h"
#include "core/analysis/pca.h"
#include "core/base/file_util.h"
#include "core/model/model.h"
#include "core/model/model_io.h"
#include "core/nn/allocator.h"
#include "core/train/train_config.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(std::string, model_root, "", "the server's --model_root (for the Encode comparison)");
ABSL_FLAG(std::string, config, "data/configs/mnist_deep_bn.json",
          "base TrainConfig JSON: optimizer, batch size, loss, seed, momentum");
ABSL_FLAG(int, train_rows, 60000, "training images used (the first N of the 60,000)");
ABSL_FLAG(int, epochs, 15, "fine-tuning epochs of every network");
ABSL_FLAG(std::string, depths, "4,8,16,32", "depth sweep: hidden layers before the code");
ABSL_FLAG(bool, tutorial, true, "train the tutorial's two networks");

namespace strata {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "deep_ae: " << s << "\n";
  return 1;
}

struct Network {
  std::string name;         // e.g. "tutorial", "very_deep", "depth8"
  std::vector<int> widths;  // encoder h1 ... code
  float dropout = 0;
};

struct Variant {
  const char* name;
  bool batch_norm;
  bool residual;
};
constexpr Variant kVariants[] = {
    {"plain", false, false}, {"bn", true, false}, {"res", false, true}, {"both", true, true}};

// True when some hidden layer (encoder or its mirror) has equal input and
// output widths, so that `residual` gives it a skip.
bool HasSkips(int input_dim, const std::vector<int>& widths) {
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    if (widths[l] == (l == 0 ? input_dim : widths[l - 1])) return true;
  }
  return false;
}

// "784-256x8-32": the layer widths, runs of equal widths collapsed.
std::string Describe(int input_dim, const std::vector<int>& widths) {
  std::string out = absl::StrCat(input_dim);
  for (size_t i = 0; i < widths.size();) {
    size_t j = i;
    while (j < widths.size() && widths[j] == widths[i]) ++j;
    absl::StrAppend(&out, "-", widths[i]);
    if (j - i > 1) absl::StrAppend(&out, "x", j - i);
    i = j;
  }
  return out;
}

struct Run {
  std::string network, variant, key;
  int hidden_layers = 0;
  bool trained = false;
  bool failed = false;  // the job FAILED (note: its error)
  std::string note;
  double test_err = 0, train_err = 0, seconds = 0;
  int epochs = 0;
  int64_t version = 0;
};

// The config every network shares: the --config file with --epochs of
// fine-tuning, no pretraining, no early stopping and one network per run.
absl::StatusOr<v1::TrainConfig> BaseConfig() {
  absl::StatusOr<std::string> json = ReadFileToString(absl::GetFlag(FLAGS_config));
  if (!json.ok()) return json.status();
  absl::StatusOr<v1::TrainConfig> base = ParseTrainConfigJson(*json);
  if (!base.ok()) return base.status();
  const int epochs = absl::GetFlag(FLAGS_epochs);
  if (epochs < 1 || epochs > 1000) return absl::InvalidArgumentError("--epochs: 1 to 1000");
  base->set_finetune_epochs(epochs);
  base->set_pretrain_epochs(0);
  base->mutable_early_stopping()->set_patience(0);
  base->mutable_anomaly()->set_ensemble_size(1);  // one network per run, whatever the data size
  return base;
}

// The tutorial's networks (with --tutorial) and the --depths sweep.
absl::StatusOr<std::vector<Network>> NetworksFromFlags() {
  std::vector<Network> networks;
  if (absl::GetFlag(FLAGS_tutorial)) {
    networks.push_back({"tutorial", {512, 256, 128, 32}, 0.2f});
    networks.push_back({"very_deep", {512, 384, 256, 128, 64, 16}, 0.3f});
    // The same without dropout: what BN does apart from dropout's noise.
    networks.push_back({"deep_nodrop", {512, 384, 256, 128, 64, 16}, 0});
  }
  for (absl::string_view d : absl::StrSplit(absl::GetFlag(FLAGS_depths), ',', absl::SkipEmpty())) {
    int depth = 0;
    if (!absl::SimpleAtoi(d, &depth) || depth < 1 || depth > 64) {
      return absl::InvalidArgumentError(absl::StrCat("--depths: '", d, "' is not 1 to 64"));
    }
    Network n{absl::StrCat("depth", depth), std::vector<int>(depth, 256), 0};
    n.widths.push_back(32);
    networks.push_back(std::move(n));
  }
  return networks;
}

// The base config with `net`'s widths and dropout and `v`'s switches.
v1::TrainJobSpec VariantSpec(const v1::TrainConfig& base, const Network& net, const Variant& v,
                             const std::string& key) {
  v1::TrainJobSpec spec;
  spec.set_model_name(absl::StrCat("deep-", key));
  *spec.mutable_config() = base;
  v1::TrainConfig& c = *spec.mutable_config();
  c.clear_encoder_widths();
  for (int w : net.widths) c.add_encoder_widths(w);
  c.set_dropout(net.dropout);
  c.set_batch_norm(v.batch_norm ? (base.batch_norm() == v1::BATCH_NORM_NONE ? v1::AFTER_ACTIVATION
                                                                            : base.batch_norm())
                                : v1::BATCH_NORM_NONE);
  c.set_residual(v.residual);
  return spec;
}

// Trains one variant of one network and scores it on the test images. A
// job that FAILED (e.g. training diverged) is a result too; an error is
// an RPC or a job that did not finish.
absl::StatusOr<Run> TrainVariant(StrataClient& client, const v1::TrainConfig& base,
                                 const Network& net, const Variant& v, const Matrix& train,
                                 const Matrix& test) {
  Run run;
  run.network = net.name;
  run.variant = v.name;
  run.key = absl::StrCat(net.name, "_", v.name);
  run.hidden_layers = static_cast<int>(net.widths.size()) - 1;
  if (v.residual && !HasSkips(static_cast<int>(train.cols()), net.widths)) {
    run.note = "no hidden layer of equal widths: same network as without residual";
    return run;
  }
  const v1::TrainJobSpec spec = VariantSpec(base, net, v, run.key);
  std::printf("  %-11s %-5s ...", net.name.c_str(), v.name);
  std::fflush(stdout);
  absl::StatusOr<v1::TrainJob> job =
      bench::TrainAndWait(client, spec, train, [](const v1::TrainJob&) {});
  if (!job.ok()) return job.status();
  if (job->state() == v1::TrainJob::FAILED) {  // e.g. training diverged: a result too
    run.failed = true;
    run.note = job->error();
    std::printf(" FAILED: %s\n", run.note.c_str());
    std::fflush(stdout);
    return run;
  }
  if (absl::Status s = bench::Succeeded(*job); !s.ok()) return s;
  v1::ModelSpec model;
  model.set_name(spec.model_name());
  model.set_version(job->version());
  absl::StatusOr<Matrix> reconstruction = bench::ReconstructAll(client, model, test, nullptr);
  if (!reconstruction.ok()) return reconstruction.status();
  absl::StatusOr<v1::GetModelResponse> info = client.GetModel(model);
  if (!info.ok()) return info.status();
  run.trained = true;
  run.version = job->version();
  run.test_err = bench::ErrorPerImage(*reconstruction, test);
  run.train_err = info->summary().mean_reconstruction_mse() * train.cols();
  run.seconds = job->progress().elapsed_seconds();
  run.epochs = info->summary().epochs();
  std::printf(" test %.2f  (%.1f s)\n", run.test_err, run.seconds);
  std::fflush(stdout);
  return run;
}

// PCA's error per test image for each code width among `networks`, in
// their order, each width once.
absl::StatusOr<std::vector<std::pair<int, double>>> PcaErrors(const std::vector<Network>& networks,
                                                              const Matrix& train,
                                                              const Matrix& test) {
  std::vector<std::pair<int, double>> pca_errs;
  for (const Network& net : networks) {
    const int k = net.widths.back();
    bool seen = false;
    for (const auto& [w, e] : pca_errs) seen = seen || w == k;
    if (seen) continue;
    absl::StatusOr<Pca> pca = FitPca(train, k);
    if (!pca.ok()) return pca.status();
    pca_errs.emplace_back(k, bench::ErrorPerImage(pca->Reconstruct(test), test));
  }
  return pca_errs;
}

// Prints the table of runs, appending each run's err_<key> to `result`.
void PrintRuns(const std::vector<Run>& runs, const std::vector<Network>& networks,
               const Matrix& test, std::string* result) {
  std::printf("\nsquared error per test image (sum over 784 pixels, mean over %d images)\n",
              static_cast<int>(test.rows()));
  std::printf("%-11s %-6s %6s %7s %9s %10s %9s  %s\n", "network", "var", "hidden", "epochs",
              "seconds", "test_err", "train_err", "encoder");
  for (const Run& r : runs) {
    const Network* net = nullptr;
    for (const Network& n : networks) {
      if (n.name == r.network) net = &n;
    }
    const std::string encoder = Describe(static_cast<int>(test.cols()), net->widths);
    if (!r.trained) {
      if (r.failed) absl::StrAppendFormat(result, " err_%s=failed", r.key);
      std::printf("%-11s %-6s %6d %7s %9s %10s %9s  %s (%s)\n", r.network.c_str(),
                  r.variant.c_str(), r.hidden_layers, "-", "-", "-", "-", encoder.c_str(),
                  r.note.c_str());
      continue;
    }
    std::printf("%-11s %-6s %6d %7d %9.1f %10.2f %9.2f  %s\n", r.network.c_str(), r.variant.c_str(),
                r.hidden_layers, r.epochs, r.seconds, r.test_err, r.train_err, encoder.c_str());
    absl::StrAppendFormat(result, " err_%s=%.2f", r.key, r.test_err);
  }
}

// The trained run named `key`, or null.
const Run* FindTrained(const std::vector<Run>& runs, const std::string& key) {
  for (const Run& r : runs) {
    if (r.key == key && r.trained) return &r;
  }
  return nullptr;
}

// Encode throughput of the served networks: very deep +BN (folded at
// publish) against the same network without BN, in-process from the
// published artifacts, alternating the two so that both see the same load.
absl::Status CompareEncode(const Run& deep_plain, const Run& deep_bn, const Matrix& test,
                           const std::string& model_root, std::string* result) {
  const auto load = [&](const Run& r) {
    return ReadModelFile(
        absl::StrCat(model_root, "/deep-", r.key, "/", r.version, "/", kModelFileName));
  };
  absl::StatusOr<std::unique_ptr<Model>> plain = load(deep_plain), bn = load(deep_bn);
  if (!plain.ok()) return plain.status();
  if (!bn.ok()) return bn.status();
  std::printf("\nEncode (code layer) of the very deep network, served artifacts, in-process\n");
  std::printf("%6s %14s %14s %8s\n", "batch", "plain rows/s", "bn rows/s", "ratio");
  for (int batch : {1, 256}) {
    const Matrix x = test.topRows(batch);
    std::vector<double> ratios, plain_rate, bn_rate;
    for (int round = 0; round < 7; ++round) {
      volatile float sink = 0;
      const auto time = [&](const Model& m) {
        return bench::MedianSeconds([&] { sink = sink + (*m.Encode(x, m.depth()))(0, 0); },
                                    batch == 1 ? 20000 : 400, 0.3);
      };
      const double p = time(**plain), b = time(**bn);
      plain_rate.push_back(batch / p);
      bn_rate.push_back(batch / b);
      ratios.push_back(p / b);
    }
    const double ratio = bench::Median(ratios);
    std::printf("%6d %14.0f %14.0f %8.3f\n", batch, bench::Median(plain_rate),
                bench::Median(bn_rate), ratio);
    absl::StrAppendFormat(result, " encode_ratio_b%d=%.3f", batch, ratio);
  }
  return absl::OkStatus();
}

int RunAll() {
  KeepBatchBuffersInHeap();  // as strata-server runs, for the Encode timings
  const std::string dir = bench::MnistDir();
  absl::StatusOr<Matrix> all_train = bench::ReadMnistImages(dir + "/train-images-idx3-ubyte.gz");
  absl::StatusOr<Matrix> test = bench::ReadMnistImages(dir + "/t10k-images-idx3-ubyte.gz");
  if (!all_train.ok()) return Fail(all_train.status());
  if (!test.ok()) return Fail(test.status());
  const int rows = std::min<int>(absl::GetFlag(FLAGS_train_rows), all_train->rows());
  if (rows < 1000) return Fail(absl::InvalidArgumentError("--train_rows must be at least 1000"));
  const Matrix train = all_train->topRows(rows);
  absl::StatusOr<v1::TrainConfig> base = BaseConfig();
  if (!base.ok()) return Fail(base.status());
  absl::StatusOr<std::vector<Network>> networks = NetworksFromFlags();
  if (!networks.ok()) return Fail(networks.status());

  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.max_message_bytes = 256 << 20;
  auto client = *StrataClient::Create(options);
  const bench::Machine machine = bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());
  std::printf(
      "%d training images, %d test images; %d epochs each, batch %d, %s lr %g, seed %llu, "
      "no pretraining\n",
      rows, static_cast<int>(test->rows()), base->finetune_epochs(), base->batch_size(),
      v1::OptimizerConfig::Kind_Name(base->optimizer().kind()).c_str(),
      base->optimizer().learning_rate(), static_cast<unsigned long long>(base->seed()));
  std::fflush(stdout);

  std::vector<Run> runs;
  for (const Network& net : *networks) {
    for (const Variant& v : kVariants) {
      absl::StatusOr<Run> run = TrainVariant(*client, *base, net, v, train, *test);
      if (!run.ok()) return Fail(run.status());
      runs.push_back(*std::move(run));
    }
  }

  // Baselines from the same rows: the mean image, and PCA as wide as each code.
  const RowVector mean = train.colwise().mean();
  const double mean_err = bench::ErrorPerImage(mean.replicate(test->rows(), 1), *test);
  absl::StatusOr<std::vector<std::pair<int, double>>> pca_errs = PcaErrors(*networks, train, *test);
  if (!pca_errs.ok()) return Fail(pca_errs.status());

  std::string result;
  PrintRuns(runs, *networks, *test, &result);
  std::printf("baselines: mean training image %.2f", mean_err);
  for (const auto& [k, e] : *pca_errs) std::printf("; PCA-%d %.2f", k, e);
  std::printf("\n");

  const Run* deep_plain = FindTrained(runs, "very_deep_plain");
  const Run* deep_bn = FindTrained(runs, "very_deep_bn");
  if (deep_plain != nullptr && deep_bn != nullptr) {
    absl::StrAppendFormat(&result, " ratio_deep_plain_vs_bn=%.3f",
                          deep_plain->test_err / deep_bn->test_err);
  }
  const Run* nodrop_plain = FindTrained(runs, "deep_nodrop_plain");
  const Run* nodrop_bn = FindTrained(runs, "deep_nodrop_bn");
  if (nodrop_plain != nullptr && nodrop_bn != nullptr) {
    absl::StrAppendFormat(&result, " ratio_deep_nodrop_plain_vs_bn=%.3f",
                          nodrop_plain->test_err / nodrop_bn->test_err);
  }
  const std::string model_root = absl::GetFlag(FLAGS_model_root);
  if (deep_plain != nullptr && deep_bn != nullptr && !model_root.empty()) {
    absl::Status s = CompareEncode(*deep_plain, *deep_bn, *test, model_root, &result);
    if (!s.ok()) return Fail(s);
  }
  std::printf("%s\n", machine.Describe().c_str());
  std::printf("RESULT%s mean_image_err=%.2f gemm_gflops=%.1f\n", result.c_str(), mean_err,
              machine.gemm_gflops);
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::RunAll();
}

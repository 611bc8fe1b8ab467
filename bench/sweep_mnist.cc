// The bottleneck question on MNIST (issue 18), as a sweep on a running
// strata-server: one TrainJob whose trials are the autoencoder
// 784 -> 256 -> w for code widths w in {4, 8, 16, 32, 64}, each scored by
// the cross-validated accuracy of a linear probe (multinomial logistic
// regression) on the codes of the labelled images; the best trial is
// published. The same probe on the raw pixels, measured in this process in
// the same run, is the baseline.
//
//   sweep_mnist_bench --target=127.0.0.1:PORT [--rows=20000] [--epochs=20]
//
// Ends with: RESULT best_width=... best_probe=... raw_probe=... ...
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
#include "bench/mnist.h"
#include "bench/train_job.h"
#include "client/strata_client.h"
#include "core/scoring/evaluation.h"
#include "core/train/sweep.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(int, rows, 20000, "training images (the first ones), all labelled");
ABSL_FLAG(int, epochs, 20, "fine-tuning epochs per trial (no layer-wise pretraining)");
ABSL_FLAG(std::string, code_widths, "4,8,16,32,64", "the code widths to try");

namespace strata {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "sweep_mnist: " << s << "\n";
  return 1;
}

int Main() {
  const std::string dir = bench::MnistDir();
  absl::StatusOr<Matrix> images = bench::ReadMnistImages(dir + "/train-images-idx3-ubyte.gz");
  absl::StatusOr<std::vector<int>> labels =
      bench::ReadMnistLabels(dir + "/train-labels-idx1-ubyte.gz");
  if (!images.ok()) return Fail(images.status());
  if (!labels.ok()) return Fail(labels.status());
  const int rows = std::min<int>(absl::GetFlag(FLAGS_rows), static_cast<int>(images->rows()));
  const Matrix train = images->topRows(rows);
  const std::vector<int> classes(labels->begin(), labels->begin() + rows);
  const bench::Machine machine = bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());

  // The baseline: the same probe (5 folds, on the same sample of rows
  // that the sweep scores) on the pixels.
  const absl::Time raw_start = absl::Now();
  const std::vector<int64_t> picked = ProbeSampleRows(classes);
  Matrix raw_sample(static_cast<Eigen::Index>(picked.size()), train.cols());
  std::vector<int> raw_classes;
  for (size_t i = 0; i < picked.size(); ++i) {
    raw_sample.row(static_cast<Eigen::Index>(i)) = train.row(picked[i]);
    raw_classes.push_back(classes[picked[i]]);
  }
  absl::StatusOr<ProbeResult> raw = LinearProbe(raw_sample, raw_classes, ProbeOptions());
  if (!raw.ok()) return Fail(raw.status());
  const double raw_seconds = absl::ToDoubleSeconds(absl::Now() - raw_start);

  v1::TrainJobSpec spec;
  spec.set_model_name("mnist_sweep");
  v1::TrainConfig* c = spec.mutable_config();
  c->add_encoder_widths(256);
  c->add_encoder_widths(32);
  c->set_pretrain_epochs(0);
  c->set_finetune_epochs(absl::GetFlag(FLAGS_epochs));
  c->set_scaler(v1::MINMAX);  // pixels are in [0, 1] already
  c->set_batch_size(128);
  c->mutable_anomaly()->set_ensemble_size(1);
  v1::SweepSpec* sweep = spec.mutable_sweep();
  sweep->set_objective(v1::LINEAR_PROBE_ACCURACY);
  v1::SweepParameter* widths = sweep->add_parameters();
  widths->set_field("encoder_widths");
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_code_widths), ',')) {
    widths->add_values(absl::StrCat("[256, ", w, "]"));
  }
  for (int k : classes) spec.add_class_labels(absl::StrCat(k));

  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.max_message_bytes = 256 << 20;
  auto client = StrataClient::Create(options);
  if (!client.ok()) return Fail(client.status());
  const absl::Time start = absl::Now();
  int last_trial = 0;
  absl::StatusOr<v1::TrainJob> job =
      bench::TrainAndWait(**client, spec, train, [&](const v1::TrainJob& j) {
        if (j.progress().trial() != last_trial && j.progress().trial() > 0) {
          last_trial = j.progress().trial();
          std::fprintf(stderr, "trial %d of %d\n", last_trial, j.sweep().trials_size());
        }
      });
  if (!job.ok()) return Fail(job.status());
  if (absl::Status s = bench::Succeeded(*job); !s.ok()) return Fail(s);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  std::printf("%d training images, %d epochs per trial, probe on %zu labelled codes\n", rows,
              c->finetune_epochs(), raw_sample.rows());
  std::printf("%-10s %-10s %12s %12s %8s\n", "code", "state", "probe_acc", "val_loss", "seconds");
  std::printf("%-10s %-10s %12.4f %12s %8.1f\n", "pixels", "baseline", raw->mean_accuracy, "-",
              raw_seconds);
  const v1::SweepSummary& table = job->sweep();
  for (const v1::SweepTrial& t : table.trials()) {
    const std::string width = t.settings(0).value();
    std::printf(
        "%-10s %-10s %12s %12s %8.1f%s\n",
        width.substr(width.find(',') + 2, width.size() - width.find(',') - 3).c_str(),
        v1::SweepTrial::State_Name(t.state()).c_str(),
        t.has_probe_accuracy() ? absl::StrFormat("%.4f", t.probe_accuracy()).c_str() : "-",
        t.has_validation_loss() ? absl::StrFormat("%.5f", t.validation_loss()).c_str() : "-",
        t.seconds(), t.trial() == table.best_trial() ? "  <- best" : "");
  }
  const v1::SweepTrial& best = table.trials(table.best_trial() - 1);
  const std::string value = best.settings(0).value();
  int best_width = 0;
  absl::SimpleAtoi(value.substr(value.find(',') + 2, value.size() - value.find(',') - 3),
                   &best_width);
  // The published version is the best trial's network.
  v1::ModelSpec model;
  model.set_name("mnist_sweep");
  absl::StatusOr<v1::GetModelResponse> info = (*client)->GetModel(model);
  if (!info.ok()) return Fail(info.status());
  const auto& code_widths = info->architecture().encoder_widths();
  const int published = code_widths.empty() ? 0 : *code_widths.rbegin();
  std::printf("published version %d: the code width %d trial's network\n",
              static_cast<int>(info->model().version()), published);
  std::printf(
      "RESULT best_width=%d best_probe=%.4f raw_probe=%.4f trials=%d sweep_seconds=%.0f "
      "gemm_gflops=%.0f\n",
      best_width, best.probe_accuracy(), raw->mean_accuracy, table.trials_size(), seconds,
      machine.gemm_gflops);
  // The version served must be the trial the table calls best.
  return best_width > 0 && published == best_width ? 0 : 1;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Main();
}

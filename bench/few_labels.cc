// Few labels on MNIST (issue 18): the unsupervised-pretraining recipe for
// scarce labels, on a running strata-server. With 600 labels (60 per class)
// and the other 59,400 training images unlabelled, then with all 60,000
// labels, test accuracy on the 10,000 test images of:
//   (a) raw:        multinomial logistic regression on the pixels (in this
//                   process: the head alone, on standardised pixels);
//   (b) scratch:    the same network trained on the labelled images alone,
//                   from its random initialisation (no autoencoder epochs:
//                   the supervised phase alone);
//   (c) pretrained: the autoencoder trained on all 60,000 images, then
//                   fine-tuned with its head on the labelled ones (TrainJob
//                   with class_labels, "" for the unlabelled);
//   (d) frozen:     (c) with the encoder frozen (the head alone trains).
// Every network trains through a TrainJob and answers through Predict.
//
//   few_labels_bench --target=127.0.0.1:PORT [--per_class=60] [--epochs=10]
//
// Ends with: RESULT acc_pretrained_600=... acc_scratch_600=... acc_raw_600=...
//            acc_frozen_600=... acc_pretrained_all=... ... gemm_gflops=...
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
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
#include "core/data/scaler.h"
#include "core/nn/classifier_head.h"
#include "core/nn/optimizer.h"
#include "core/train/train_config.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(int, per_class, 60, "labelled training images per class in the few-label set");
ABSL_FLAG(int, epochs, 20, "autoencoder epochs on the training images");
ABSL_FLAG(int, supervised_epochs_few, 100,
          "supervised epochs (and the raw baseline's) with few labels");
ABSL_FLAG(int, supervised_epochs_all, 10,
          "supervised epochs (and the raw baseline's) with every label");
ABSL_FLAG(std::string, widths, "256,64", "encoder widths");

namespace strata {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "few_labels: " << s << "\n";
  return 1;
}

// The network and recipe every variant shares.
// --widths as numbers; an entry that is not one fails the run (a network
// other than the one asked for would be reported under its name).
absl::StatusOr<std::vector<int>> Widths() {
  std::vector<int> widths;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_widths), ',')) {
    int width = 0;
    if (!absl::SimpleAtoi(w, &width) || width < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--widths: '", w, "' is not a width"));
    }
    widths.push_back(width);
  }
  return widths;
}

v1::TrainConfig Recipe(const std::vector<int>& widths, int ae_epochs, int supervised_epochs,
                       bool frozen) {
  v1::TrainConfig c;
  c.mutable_encoder_widths()->Add(widths.begin(), widths.end());
  c.set_finetune_epochs(ae_epochs);
  // Pixels are in [0, 1] already: standard scaling would blow up the
  // rarely inked border pixels and make them the reconstruction's focus.
  c.set_scaler(v1::MINMAX);
  // Denoising, as the Hinton preset (data/configs/mnist_hinton.json).
  c.mutable_noise()->set_kind(v1::NoiseConfig::GAUSSIAN);
  c.mutable_noise()->set_stddev(0.1f);
  c.set_batch_size(128);
  c.mutable_anomaly()->set_ensemble_size(1);
  c.mutable_early_stopping()->set_patience(10);
  v1::SupervisedConfig* s = c.mutable_supervised();
  s->set_epochs(supervised_epochs);
  if (frozen) s->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  return c;
}

// Share of `x`'s rows whose predicted digit is `labels`'s, 1,000 rows per
// Predict call.
absl::StatusOr<double> TestAccuracy(StrataClient& client, const std::string& model, const Matrix& x,
                                    const std::vector<int>& labels) {
  constexpr Eigen::Index kChunk = 1000;
  int64_t right = 0;
  for (Eigen::Index at = 0; at < x.rows(); at += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.rows() - at);
    v1::PredictRequest request;
    request.mutable_model()->set_name(model);
    ToDenseMatrix(x.middleRows(at, n), request.mutable_rows());
    absl::StatusOr<v1::PredictResponse> r = client.Predict(request);
    if (!r.ok()) return r.status();
    if (r->predictions_size() != n) return absl::InternalError("Predict dropped rows");
    for (Eigen::Index i = 0; i < n; ++i) {
      int digit = -1;
      if (!absl::SimpleAtoi(r->predictions(static_cast<int>(i)).top_class(), &digit)) {
        return absl::InternalError("a class that is not a digit");
      }
      right += digit == labels[static_cast<size_t>(at + i)];
    }
  }
  return static_cast<double>(right) / static_cast<double>(x.rows());
}

// (a): multinomial logistic regression on standardised pixels, mini-batch
// Adam with weight decay 1e-4, batch 128.
double RawLogisticRegression(const Matrix& train, const std::vector<int>& classes,
                             const Matrix& test, const std::vector<int>& test_labels, int epochs) {
  v1::ScalerKind kind = v1::STANDARD;
  const Scaler scaler = *Scaler::Fit(kind, train);
  const Matrix x = scaler.Transform(train);
  ClassifierHead head = ClassifierHead::Create(static_cast<int>(x.cols()), 10, 1);
  v1::OptimizerConfig adam;
  adam.set_kind(v1::OptimizerConfig::ADAM);
  adam.set_learning_rate(1e-3f);
  adam.set_beta1(0.9f);
  adam.set_beta2(0.999f);
  adam.set_epsilon(1e-8f);
  auto optimizer = *Optimizer::Create(adam, 1e-4f);
  std::mt19937_64 rng(1);
  std::vector<int> order(static_cast<size_t>(x.rows()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  ClassifierHead grads;
  Matrix batch;
  std::vector<int> batch_classes;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t start = 0; start < order.size(); start += 128) {
      const size_t n = std::min<size_t>(128, order.size() - start);
      batch.resize(static_cast<Eigen::Index>(n), x.cols());
      batch_classes.resize(n);
      for (size_t i = 0; i < n; ++i) {
        batch.row(static_cast<Eigen::Index>(i)) = x.row(order[start + i]);
        batch_classes[i] = classes[static_cast<size_t>(order[start + i])];
      }
      CrossEntropy<float>(head, batch, batch_classes, &grads, nullptr);
      optimizer->Step(head.Blocks(), grads.Blocks());
    }
  }
  const std::vector<int> top = TopClasses(head.Probabilities(scaler.Transform(test)));
  int64_t right = 0;
  for (size_t i = 0; i < top.size(); ++i) right += top[i] == test_labels[i];
  return static_cast<double>(right) / static_cast<double>(top.size());
}

int Run() {
  const absl::StatusOr<std::vector<int>> widths = Widths();
  if (!widths.ok()) return Fail(widths.status());
  const std::string dir = bench::MnistDir();
  absl::StatusOr<Matrix> train = bench::ReadMnistImages(dir + "/train-images-idx3-ubyte.gz");
  absl::StatusOr<std::vector<int>> train_labels =
      bench::ReadMnistLabels(dir + "/train-labels-idx1-ubyte.gz");
  absl::StatusOr<Matrix> test = bench::ReadMnistImages(dir + "/t10k-images-idx3-ubyte.gz");
  absl::StatusOr<std::vector<int>> test_labels =
      bench::ReadMnistLabels(dir + "/t10k-labels-idx1-ubyte.gz");
  for (const absl::Status& s :
       {train.status(), train_labels.status(), test.status(), test_labels.status()}) {
    if (!s.ok()) return Fail(s);
  }
  const bench::Machine machine = bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());

  StrataClient::Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.max_message_bytes = 256 << 20;
  auto client = *StrataClient::Create(options);

  // The few-label set: the first per_class images of each digit.
  const int per_class = absl::GetFlag(FLAGS_per_class);
  std::vector<int> few;
  std::map<int, int> taken;
  for (size_t r = 0; r < train_labels->size(); ++r) {
    if (taken[(*train_labels)[r]]++ < per_class) few.push_back(static_cast<int>(r));
  }
  const int ae_epochs = absl::GetFlag(FLAGS_epochs);
  std::map<std::string, double> result;
  std::printf("%-8s %-11s %9s %9s %s\n", "labels", "variant", "accuracy", "seconds", "note");
  for (const bool all : {false, true}) {
    const std::string set = all ? "all" : absl::StrCat(few.size());
    const int sup_epochs =
        absl::GetFlag(all ? FLAGS_supervised_epochs_all : FLAGS_supervised_epochs_few);
    // Labels of every training image ("" = unlabelled), and the labelled
    // images alone.
    std::vector<std::string> labels(train_labels->size());
    Matrix labelled(all ? train->rows() : static_cast<Eigen::Index>(few.size()), train->cols());
    std::vector<int> labelled_classes;
    if (all) {
      for (size_t r = 0; r < labels.size(); ++r) labels[r] = absl::StrCat((*train_labels)[r]);
      labelled = *train;
      labelled_classes = *train_labels;
    } else {
      for (size_t i = 0; i < few.size(); ++i) {
        labels[few[i]] = absl::StrCat((*train_labels)[few[i]]);
        labelled.row(static_cast<Eigen::Index>(i)) = train->row(few[i]);
        labelled_classes.push_back((*train_labels)[few[i]]);
      }
    }
    const auto report = [&](const std::string& variant, double accuracy, double seconds,
                            const std::string& note) {
      std::printf("%-8s %-11s %9.4f %9.1f %s\n", set.c_str(), variant.c_str(), accuracy, seconds,
                  note.c_str());
      std::fflush(stdout);
      result[absl::StrCat("acc_", variant, "_", set)] = accuracy;
    };

    absl::Time start = absl::Now();
    // As many epochs as the networks' supervised phase.
    const double raw =
        RawLogisticRegression(labelled, labelled_classes, *test, *test_labels, sup_epochs);
    report("raw", raw, absl::ToDoubleSeconds(absl::Now() - start), "logistic regression, pixels");

    struct Variant {
      std::string name;
      bool pretrained, frozen;
    };
    for (const Variant& v : {Variant{"scratch", false, false}, Variant{"pretrained", true, false},
                             Variant{"frozen", true, true}}) {
      v1::TrainJobSpec spec;
      spec.set_model_name(absl::StrCat(v.name, "_", all ? "all" : "few"));
      *spec.mutable_config() = Recipe(*widths, v.pretrained ? ae_epochs : 0, sup_epochs, v.frozen);
      std::vector<std::string> job_labels;
      if (v.pretrained) {
        job_labels = labels;
      } else {
        for (int c : labelled_classes) job_labels.push_back(absl::StrCat(c));
      }
      spec.mutable_class_labels()->Add(job_labels.begin(), job_labels.end());
      start = absl::Now();
      absl::StatusOr<v1::TrainJob> job = bench::TrainAndWait(
          *client, spec, v.pretrained ? *train : labelled, [](const v1::TrainJob&) {});
      if (!job.ok()) return Fail(job.status());
      if (absl::Status s = bench::Succeeded(*job); !s.ok()) return Fail(s);
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      absl::StatusOr<double> accuracy =
          TestAccuracy(*client, spec.model_name(), *test, *test_labels);
      if (!accuracy.ok()) return Fail(accuracy.status());
      v1::ModelSpec model;
      model.set_name(spec.model_name());
      absl::StatusOr<v1::GetModelResponse> info = client->GetModel(model);
      if (!info.ok()) return Fail(info.status());
      const v1::ClassifierSummary& c = info->summary().classifier();
      report(v.name, *accuracy, seconds,
             absl::StrFormat(
                 "%d epochs, validation accuracy %s on %d rows", job->progress().epochs_done(),
                 c.has_validation_accuracy() ? absl::StrFormat("%.4f", c.validation_accuracy())
                                             : std::string("-"),
                 c.validation_labelled_rows()));
    }
  }
  std::printf("%s\n", machine.Describe().c_str());
  std::string line = "RESULT";
  for (const auto& [name, value] : result) absl::StrAppendFormat(&line, " %s=%.4f", name, value);
  absl::StrAppendFormat(&line, " gemm_gflops=%.0f", machine.gemm_gflops);
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return strata::Run();
}

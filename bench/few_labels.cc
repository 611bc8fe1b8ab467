// Few labels on MNIST (issues 18 and 36): the unsupervised-pretraining
// recipe for scarce labels, on a running strata-server. With 100 and 600
// labels (10 and 60 per class, the first of each digit, the same images in
// every arm; the other training images unlabelled), then with all 60,000,
// test accuracy on the 10,000 test images of:
//   raw:        multinomial logistic regression on the pixels (in this
//               process, a head as strata's: centred, one scale);
//   pca_head:   the same on as many principal components of the 60,000
//               training images as the code has units;
//   scratch:    the network trained on the labelled images alone, from its
//               random initialisation (no autoencoder epochs, no
//               reconstruction of the unlabelled images);
//   pretrained: the denoising autoencoder trained on all 60,000 images,
//               then fine-tuned with its head on the labelled ones;
//   frozen:     the pretrained encoder frozen, its head alone trained.
// Every network trains through a TrainJob (all 60,000 images uploaded,
// class_labels "" on the unlabelled) and answers through Predict; the
// supervised phase takes strata's defaults. --overrides and
// --pretrained_overrides (TrainConfig JSON) try a variant.
//
//   few_labels_bench --target=127.0.0.1:PORT [--label_sets=10,60,all]
//       [--arms=raw,pca_head,scratch,pretrained,frozen] [--epochs=20]
//
// Prints a table (labels x arms) and ends with: RESULT acc_pretrained_100=...
// acc_scratch_100=... acc_pretrained_600=... ... gemm_gflops=...
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
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
#include "core/analysis/pca.h"
#include "core/nn/classifier_head.h"
#include "core/nn/optimizer.h"
#include "core/train/train_config.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "strata-server address");
ABSL_FLAG(int, epochs, 20, "autoencoder epochs on the training images");
ABSL_FLAG(int, supervised_epochs_few, 100, "the baselines' least epochs with few labels");
ABSL_FLAG(int, supervised_epochs_all, 10, "the baselines' least epochs with every label");
ABSL_FLAG(std::string, widths, "256,64", "encoder widths");
ABSL_FLAG(std::string, label_sets, "10,60,all",
          "labelled images per class in each few-label set, and 'all' for every label");
ABSL_FLAG(std::string, arms, "raw,pca_head,scratch,pretrained,frozen", "the variants to run");
ABSL_FLAG(std::string, overrides, "",
          "TrainConfig JSON merged into every network's recipe (to try a variant)");
ABSL_FLAG(std::string, pretrained_overrides, "",
          "TrainConfig JSON merged into the pretrained and frozen recipes, after --overrides");

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

// The recipe of every network arm; the supervised phase takes strata's
// defaults, which are what this bench measures.
absl::StatusOr<v1::TrainConfig> Recipe(const std::vector<int>& widths, bool pretrained,
                                       bool frozen) {
  v1::TrainConfig c;
  c.mutable_encoder_widths()->Add(widths.begin(), widths.end());
  c.set_finetune_epochs(pretrained ? absl::GetFlag(FLAGS_epochs) : 0);
  // Pixels are in [0, 1] already: standard scaling would blow up the
  // rarely inked border pixels and make them the reconstruction's focus.
  c.set_scaler(v1::MINMAX);
  // Denoising by masking half the pixels: of the noises tried
  // (bench/README.md, few_labels), the one whose codes the few labels
  // classify best (issue 18's Gaussian 0.1 gave 0.83 with 600 labels,
  // masking 0.3 0.86, masking 0.5 0.87).
  c.mutable_noise()->set_kind(v1::NoiseConfig::MASKING);
  c.mutable_noise()->set_mask_fraction(0.5f);
  c.set_batch_size(128);
  c.mutable_anomaly()->set_ensemble_size(1);
  if (frozen) c.mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  for (const std::string& json : {absl::GetFlag(FLAGS_overrides),
                                  pretrained ? absl::GetFlag(FLAGS_pretrained_overrides) : ""}) {
    if (json.empty()) continue;
    absl::StatusOr<v1::TrainConfig> more = ParseTrainConfigJson(json);
    if (!more.ok()) return more.status();
    c.MergeFrom(*more);
  }
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

// (a) and the PCA baseline: multinomial logistic regression on the features
// as strata's head takes its codes (centred, one scale for all: see
// ClassifierHead::SetInputStandardisation), trained as strata trains a head
// alone (SGD, momentum 0.9, HeadLearningRate) with weight decay 1e-4,
// batch 128, for at
// least 3,000 steps (to convergence on a few hundred rows) and at least
// `epochs` epochs.
double LogisticRegression(const Matrix& train, const std::vector<int>& classes,
                          const Matrix& test, const std::vector<int>& test_labels, int epochs) {
  const int64_t batches = (train.rows() + 127) / 128;
  epochs = std::max<int>(epochs, static_cast<int>((3000 + batches - 1) / batches));
  const Matrix& x = train;
  ClassifierHead head = ClassifierHead::Create(static_cast<int>(x.cols()), 10, 1);
  // As strata's head: centred, one scale for all features.
  head.SetInputStandardisation(x);
  // As strata trains a head alone: SGD with momentum 0.9 at
  // HeadLearningRate.
  v1::OptimizerConfig sgd;
  sgd.set_kind(v1::OptimizerConfig::SGD);
  sgd.set_learning_rate(static_cast<float>(HeadLearningRate(head, x)));
  sgd.set_momentum(0.9f);
  auto optimizer = *Optimizer::Create(sgd, 1e-4f);
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
  const std::vector<int> top = TopClasses(head.Probabilities(test));
  int64_t right = 0;
  for (size_t i = 0; i < top.size(); ++i) right += top[i] == test_labels[i];
  return static_cast<double>(right) / static_cast<double>(top.size());
}

// The label sets of --label_sets: a count per class, or 0 for every label.
absl::StatusOr<std::vector<int>> LabelSets() {
  std::vector<int> sets;
  for (absl::string_view v : absl::StrSplit(absl::GetFlag(FLAGS_label_sets), ',')) {
    int per_class = 0;
    if (v == "all") {
      sets.push_back(0);
    } else if (absl::SimpleAtoi(v, &per_class) && per_class >= 1) {
      sets.push_back(per_class);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--label_sets: '", v, "' is not a count"));
    }
  }
  return sets;
}

// One network arm's test accuracy, and a note on how it trained.
struct NetworkArm {
  double accuracy = 0;
  std::string note;
};

// Trains `name` (scratch, pretrained or frozen) through a TrainJob on all
// the training images, labelled as `labels` says, and measures it on the
// test images through Predict.
absl::StatusOr<NetworkArm> TrainNetworkArm(StrataClient& client, const std::string& name,
                                           const std::string& set, const std::vector<int>& widths,
                                           const std::vector<std::string>& labels,
                                           const Matrix& train, const Matrix& test,
                                           const std::vector<int>& test_labels) {
  const bool pretrained = name != "scratch";
  v1::TrainJobSpec spec;
  spec.set_model_name(absl::StrCat(name, "_", set));
  absl::StatusOr<v1::TrainConfig> recipe = Recipe(widths, pretrained, name == "frozen");
  if (!recipe.ok()) return recipe.status();
  *spec.mutable_config() = *std::move(recipe);
  // Every arm uploads all 60,000 images, labelled on the set's alone: with
  // 100 labels, the labelled images alone are fewer rows than a job needs
  // to calibrate its anomaly threshold (MinTrainingRows). The scratch arm
  // has no autoencoder epochs and no reconstruction of the unlabelled
  // images, so that it learns from the labelled ones alone.
  spec.mutable_class_labels()->Add(labels.begin(), labels.end());
  if (!pretrained) spec.mutable_config()->mutable_supervised()->set_reconstruct_unlabelled(false);
  absl::StatusOr<v1::TrainJob> job =
      bench::TrainAndWait(client, spec, train, [](const v1::TrainJob&) {});
  if (!job.ok()) return job.status();
  if (absl::Status s = bench::Succeeded(*job); !s.ok()) return s;
  absl::StatusOr<double> accuracy = TestAccuracy(client, spec.model_name(), test, test_labels);
  if (!accuracy.ok()) return accuracy.status();
  v1::ModelSpec model;
  model.set_name(spec.model_name());
  absl::StatusOr<v1::GetModelResponse> info = client.GetModel(model);
  if (!info.ok()) return info.status();
  const v1::ClassifierSummary& c = info->summary().classifier();
  return NetworkArm{
      *accuracy,
      absl::StrFormat("%d epochs, validation accuracy %s on %d rows", job->progress().epochs_done(),
                      c.has_validation_accuracy()
                          ? absl::StrFormat("%.4f", c.validation_accuracy())
                          : std::string("-"),
                      c.validation_labelled_rows())};
}

// The accuracies as a markdown table: a row per label set, a column per arm.
void PrintTable(const std::vector<std::string>& arms, const std::vector<std::string>& sets,
                std::map<std::string, std::map<std::string, double>>& table) {
  std::printf("\n| labels |");
  for (const std::string& arm : arms) std::printf(" %s |", arm.c_str());
  std::printf("\n|---|");
  for (size_t i = 0; i < arms.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& set : sets) {
    std::printf("| %s |", set.c_str());
    for (const std::string& arm : arms) std::printf(" %.4f |", table[set][arm]);
    std::printf("\n");
  }
}

int Run() {
  const absl::StatusOr<std::vector<int>> widths = Widths();
  if (!widths.ok()) return Fail(widths.status());
  const absl::StatusOr<std::vector<int>> label_sets = LabelSets();
  if (!label_sets.ok()) return Fail(label_sets.status());
  const std::vector<std::string> arms = absl::StrSplit(absl::GetFlag(FLAGS_arms), ',');
  for (const std::string& arm : arms) {
    if (arm != "raw" && arm != "pca_head" && arm != "scratch" && arm != "pretrained" &&
        arm != "frozen") {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--arms: no arm '", arm, "'")));
    }
  }
  const auto runs = [&](const std::string& arm) {
    return std::find(arms.begin(), arms.end(), arm) != arms.end();
  };
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

  // The PCA baseline's components: of all 60,000 training images, as the
  // autoencoder sees them all; as many as the code has units.
  std::optional<Pca> pca;
  if (runs("pca_head")) {
    absl::StatusOr<Pca> fitted = FitPca(*train, widths->back());
    if (!fitted.ok()) return Fail(fitted.status());
    pca = *std::move(fitted);
  }

  std::map<std::string, double> result;
  std::map<std::string, std::map<std::string, double>> table;  // set -> arm -> accuracy
  std::vector<std::string> set_names;
  std::printf("%-8s %-11s %9s %9s %s\n", "labels", "variant", "accuracy", "seconds", "note");
  for (const int per_class : *label_sets) {
    const bool all = per_class == 0;
    // The few-label set: the first per_class images of each digit.
    std::vector<int> few;
    std::map<int, int> taken;
    for (size_t r = 0; r < train_labels->size(); ++r) {
      if (all || taken[(*train_labels)[r]]++ < per_class) few.push_back(static_cast<int>(r));
    }
    const std::string set = all ? "all" : absl::StrCat(few.size());
    set_names.push_back(set);
    const int sup_epochs =
        absl::GetFlag(all ? FLAGS_supervised_epochs_all : FLAGS_supervised_epochs_few);
    // Labels of every training image ("" = unlabelled), and the labelled
    // images alone.
    std::vector<std::string> labels(train_labels->size());
    Matrix labelled(static_cast<Eigen::Index>(few.size()), train->cols());
    std::vector<int> labelled_classes;
    for (size_t i = 0; i < few.size(); ++i) {
      labels[few[i]] = absl::StrCat((*train_labels)[few[i]]);
      labelled.row(static_cast<Eigen::Index>(i)) = train->row(few[i]);
      labelled_classes.push_back((*train_labels)[few[i]]);
    }
    const auto report = [&](const std::string& variant, double accuracy, double seconds,
                            const std::string& note) {
      std::printf("%-8s %-11s %9.4f %9.1f %s\n", set.c_str(), variant.c_str(), accuracy, seconds,
                  note.c_str());
      std::fflush(stdout);
      result[absl::StrCat("acc_", variant, "_", set)] = accuracy;
      table[set][variant] = accuracy;
    };

    absl::Time start = absl::Now();
    if (runs("raw")) {
      const double raw =
          LogisticRegression(labelled, labelled_classes, *test, *test_labels, sup_epochs);
      report("raw", raw, absl::ToDoubleSeconds(absl::Now() - start),
             "logistic regression, pixels");
    }
    if (runs("pca_head")) {
      start = absl::Now();
      const double accuracy = LogisticRegression(pca->Project(labelled), labelled_classes,
                                                 pca->Project(*test), *test_labels, sup_epochs);
      report("pca_head", accuracy, absl::ToDoubleSeconds(absl::Now() - start),
             absl::StrCat("logistic regression, ", widths->back(),
                          " principal components of the 60,000 training images"));
    }

    for (const std::string name : {"scratch", "pretrained", "frozen"}) {
      if (!runs(name)) continue;
      start = absl::Now();
      absl::StatusOr<NetworkArm> arm =
          TrainNetworkArm(*client, name, set, *widths, labels, *train, *test, *test_labels);
      if (!arm.ok()) return Fail(arm.status());
      report(name, arm->accuracy, absl::ToDoubleSeconds(absl::Now() - start), arm->note);
    }
  }
  PrintTable(arms, set_names, table);
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

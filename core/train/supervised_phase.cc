#include "core/train/supervised_phase.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/data/class_labels.h"
#include "core/train/row_sets.h"
#include "core/train/supervised_evaluation.h"
#include "core/train/train_config.h"

namespace strata {
namespace train_internal {
namespace {

// The labelled rows of each split, and their classes.
struct LabelledSplits {
  Matrix train, val;
  std::vector<int> train_classes, val_classes;
};

// InvalidArgument when the labelled rows leave nothing to train on.
absl::Status CheckLabelledSplits(const LabelledSplits& l) {
  if (l.train.rows() == 0 && l.val.rows() == 0) {
    return absl::InvalidArgumentError(
        "none of the rows has a class label (each is kUnlabelled): nothing to train the "
        "classifier on");
  }
  if (l.train.rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("all ", l.val.rows(),
                     " labelled rows fell in the validation split; label more rows, or lower "
                     "validation_fraction"));
  }
  return absl::OkStatus();
}

// The validation accuracy and confusion matrix of the trained head, with a
// warning when they rest on too few (or no) rows.
void SummariseValidation(const StackedAutoencoder& net, const ClassifierHead& head,
                         const LabelledSplits& l, v1::Loss loss, int num_classes,
                         v1::TrainingSummary* summary) {
  v1::ClassifierSummary* c = summary->mutable_classifier();
  std::vector<int64_t> confusion(static_cast<size_t>(num_classes) * num_classes, 0);
  if (l.val.rows() > 0) {
    std::vector<int> predicted;
    c->set_validation_accuracy(
        EvaluateSupervised(net, head, l.val, l.val_classes, 0, loss, &predicted).accuracy);
    for (size_t i = 0; i < predicted.size(); ++i) {
      ++confusion[static_cast<size_t>(l.val_classes[i]) * num_classes + predicted[i]];
    }
    if (l.val.rows() < kMinLabelledValidationRows) {
      // A sweep choosing by this accuracy would choose by chance.
      summary->add_warnings(absl::StrFormat(
          "weak accuracy estimate: the classifier's validation accuracy %.3f rests on %d "
          "labelled validation rows (fewer than %d: its 95%% interval can be wider than "
          "+-0.1); label more rows, or raise validation_fraction",
          c->validation_accuracy(), l.val.rows(), kMinLabelledValidationRows));
    }
  } else {
    summary->add_warnings(
        "no labelled row is in the validation split: the classifier's accuracy is measured on "
        "its own training rows only; label more rows, or raise validation_fraction");
  }
  c->mutable_confusion()->Assign(confusion.begin(), confusion.end());
}

// Warnings about the classes the labels hold: a class no row has, or one
// that holds most of them.
void WarnAboutClassCounts(const std::vector<int64_t>& counts,
                          const std::vector<std::string>& class_names,
                          absl::Span<const int> classes, v1::TrainingSummary* summary) {
  std::vector<std::string> unseen;
  for (int k = 0; k < static_cast<int>(class_names.size()); ++k) {
    if (counts[static_cast<size_t>(k)] == 0) unseen.push_back(class_names[k]);
  }
  if (!unseen.empty()) {
    summary->add_warnings(absl::StrCat("no labelled row has class ", absl::StrJoin(unseen, ", "),
                                       ": the head never learned to predict it"));
  }
  // `classes` covers every row, labelled or not (one process: data-parallel
  // training refuses labels).
  if (std::optional<std::string> dominant =
          DominantClassWarning(counts, class_names, static_cast<int64_t>(classes.size()));
      dominant.has_value()) {
    summary->add_warnings(*std::move(dominant));
  }
}

// The codes of the training rows (every one, labelled or not), or of an
// even sample of kMaxRows of them, for the head's standardisation.
Matrix CodeSample(const StackedAutoencoder& net, const Matrix& train) {
  constexpr Eigen::Index kMaxRows = 65536;
  if (train.rows() <= kMaxRows) return net.Encode(train, net.depth());
  Matrix sample(kMaxRows, train.cols());
  for (Eigen::Index i = 0; i < kMaxRows; ++i) sample.row(i) = train.row(i * train.rows() / kMaxRows);
  return net.Encode(sample, net.depth());
}

// The optimizer of a head trained alone (a frozen encoder's, or the head
// epochs before full fine-tuning): a convex problem, for which Adam's step
// per parameter would undo the head's one input scale (it moves a weight on
// a unit that barely varies as far as one on a unit that carries the data:
// on 64 principal components of 100 MNIST images, 0.57 test accuracy
// against 0.69 by gradient descent). So SGD with momentum 0.9, at
// HeadLearningRate.
v1::OptimizerConfig HeadAloneOptimizer(const v1::TrainConfig& config, const ClassifierHead& head,
                                       const Matrix& codes) {
  v1::OptimizerConfig o = config.optimizer();
  o.set_kind(v1::OptimizerConfig::SGD);
  o.set_momentum(0.9f);
  o.set_nesterov(false);
  o.set_schedule(v1::OptimizerConfig::CONSTANT);
  o.set_learning_rate(static_cast<float>(HeadLearningRate(head, codes)));
  o.set_final_learning_rate(o.learning_rate());
  return o;
}

}  // namespace

absl::StatusOr<ClassifierHead> TrainHead(
    const v1::TrainConfig& config, const std::vector<std::string>& class_names,
    StackedAutoencoder* net, PhaseRunner* runner, const ObjectiveOptions& objective,
    const Matrix& train, const std::vector<int>& train_idx, const Matrix& val,
    const std::vector<int>& val_idx, absl::Span<const int> classes, v1::TrainingSummary* summary) {
  const int num_classes = static_cast<int>(class_names.size());
  LabelledSplits l;
  LabelledRows(train, train_idx, classes, &l.train, &l.train_classes);
  LabelledRows(val, val_idx, classes, &l.val, &l.val_classes);
  if (absl::Status s = CheckLabelledSplits(l); !s.ok()) return s;
  const v1::SupervisedConfig& sc = config.supervised();
  const bool frozen = sc.mode() == v1::SupervisedConfig::FROZEN_ENCODER;
  ObjectiveOptions supervised = objective;
  supervised.frozen_encoder = frozen;
  supervised.reconstruction_weight = frozen ? 0 : sc.reconstruction_weight();
  // Its own seed, so that the head starts the same whatever came before.
  ClassifierHead head =
      ClassifierHead::Create(net->code_dim(), num_classes, config.seed() ^ 0x5eed'c1a55ULL);
  const Matrix codes = CodeSample(*net, train);
  head.SetInputStandardisation(codes);
  const v1::OptimizerConfig head_optimizer = HeadAloneOptimizer(config, head, codes);
  if (!frozen && sc.head_epochs() > 0) {
    // The head alone first, so that the encoder's first supervised
    // gradients come from a head that fits its codes.
    ObjectiveOptions head_alone = objective;
    head_alone.frozen_encoder = true;
    head_alone.reconstruction_weight = 0;
    PhaseRunner::Supervised task{&head,    &l.train_classes, &l.val_classes, &l.val, 0.0f,
                                 nullptr, &head_optimizer};
    if (absl::Status s = runner->Run(net, RowSet(l.train), RowSet(l.val), head_alone,
                                     sc.head_epochs(), v1::EpochRecord::SUPERVISED,
                                     kHeadAloneStage, &task);
        !s.ok()) {
      return s;
    }
  }
  // The training split's rows without a label.
  std::vector<int> unlabelled_rows;
  if (sc.reconstruct_unlabelled()) {
    for (size_t i = 0; i < train_idx.size(); ++i) {
      if (classes[static_cast<size_t>(train_idx[i])] == kUnlabelled) {
        unlabelled_rows.push_back(static_cast<int>(i));
      }
    }
  }
  const RowSet unlabelled(train, nullptr, &unlabelled_rows);
  PhaseRunner::Supervised task{&head,
                               &l.train_classes,
                               &l.val_classes,
                               &l.val,
                               sc.learning_rate(),
                               unlabelled_rows.empty() ? nullptr : &unlabelled,
                               frozen ? &head_optimizer : nullptr};
  if (absl::Status s = runner->Run(net, RowSet(l.train), RowSet(l.val), supervised, sc.epochs(),
                                   v1::EpochRecord::SUPERVISED, 0, &task);
      !s.ok()) {
    return s;
  }
  // Served as code * weights + bias.
  head.FoldInputStandardisation();

  v1::ClassifierSummary* c = summary->mutable_classifier();
  c->set_train_labelled_rows(l.train.rows());
  c->set_validation_labelled_rows(l.val.rows());
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  for (int k : classes) {
    if (k != kUnlabelled) ++counts[static_cast<size_t>(k)];
  }
  c->mutable_class_counts()->Assign(counts.begin(), counts.end());
  c->set_train_accuracy(
      EvaluateSupervised(*net, head, l.train, l.train_classes, 0, objective.loss).accuracy);
  SummariseValidation(*net, head, l, objective.loss, num_classes, summary);
  WarnAboutClassCounts(counts, class_names, classes, summary);
  return head;
}

}  // namespace train_internal
}  // namespace strata

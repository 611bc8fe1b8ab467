#include "core/nn/classifier_head.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "core/nn/gemm.h"

namespace strata {
namespace {

// Row-wise log-softmax of `logits`, in place: each row alone, its sum in
// double over the classes in order, so that a row's probabilities never
// depend on the rows beside it (Eigen's vectorised exp and row sums do).
template <typename T>
void LogSoftmax(MatrixT<T>* logits) {
  for (Eigen::Index r = 0; r < logits->rows(); ++r) {
    T* row = logits->data() + r * logits->cols();
    const T max = *std::max_element(row, row + logits->cols());
    double sum = 0;
    for (Eigen::Index j = 0; j < logits->cols(); ++j) {
      row[j] -= max;
      sum += std::exp(static_cast<double>(row[j]));
    }
    const T log_sum = static_cast<T>(std::log(sum));
    for (Eigen::Index j = 0; j < logits->cols(); ++j) row[j] -= log_sum;
  }
}

// Each value's exp, one at a time (LogSoftmax's reason).
template <typename T>
MatrixT<T> Exp(MatrixT<T> values) {
  for (Eigen::Index i = 0; i < values.size(); ++i) values.data()[i] = std::exp(values.data()[i]);
  return values;
}

// The weights' input: the code, standardised when the head says so.
template <typename T>
MatrixT<T> HeadInput(const ClassifierHeadT<T>& head, const MatrixT<T>& code) {
  if (head.input_scale.size() == 0) return code;
  return ((code.rowwise() - head.input_shift).array().rowwise() * head.input_scale.array())
      .matrix();
}

// input * weights + bias, each row alone (core/nn/gemm.h).
template <typename T>
MatrixT<T> Logits(const ClassifierHeadT<T>& head, const MatrixT<T>& input) {
  MatrixT<T> logits;
  SplitProduct(input, head.weights, SplitFor(input.rows(), head.weights.cols()), &logits);
  logits.rowwise() += head.bias;
  return logits;
}

}  // namespace

template <typename T>
ClassifierHeadT<T> ClassifierHeadT<T>::Create(int code_dim, int classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double limit = std::sqrt(6.0 / (code_dim + classes));
  std::uniform_real_distribution<double> uniform(-limit, limit);
  ClassifierHeadT head;
  head.weights.resize(code_dim, classes);
  for (Eigen::Index i = 0; i < head.weights.size(); ++i) {
    head.weights.data()[i] = static_cast<T>(uniform(rng));
  }
  head.bias.setZero(classes);
  return head;
}

template <typename T>
MatrixT<T> ClassifierHeadT<T>::Probabilities(const MatrixT<T>& code) const {
  MatrixT<T> p = Logits(*this, HeadInput(*this, code));
  LogSoftmax(&p);
  return Exp(std::move(p));
}

template <typename T>
std::vector<ParameterBlock<T>> ClassifierHeadT<T>::Blocks() {
  return {{weights.data(), weights.size(), true}, {bias.data(), bias.size(), false}};
}

template <typename T>
void ClassifierHeadT<T>::ResizeLikeAndZero(const ClassifierHeadT& other) {
  weights.setZero(other.weights.rows(), other.weights.cols());
  bias.setZero(other.bias.cols());
  input_shift.resize(0);
  input_scale.resize(0);
}

template <typename T>
void ClassifierHeadT<T>::SetInputStandardisation(const MatrixT<T>& code) {
  // In double: a column's mean and spread over many rows.
  const Eigen::MatrixXd c = code.template cast<double>();
  const Eigen::RowVectorXd mean = c.colwise().mean();
  const double mean_variance =
      (c.rowwise() - mean).array().square().sum() / static_cast<double>(c.size());
  input_shift = mean.template cast<T>();
  // One scale for every unit: dividing each by its own spread would make a
  // unit that barely varies (noise, to a few labels) weigh as much as the
  // ones that carry the data; with 100 labels that cost a linear head on 64
  // principal components of MNIST 13 points (bench/README.md, few_labels).
  const T scale = static_cast<T>(mean_variance > 1e-24 ? 1.0 / std::sqrt(mean_variance) : 1.0);
  input_scale.setConstant(c.cols(), scale);
}

template <typename T>
void ClassifierHeadT<T>::FoldInputStandardisation() {
  if (input_scale.size() == 0) return;
  // In double, then rounded once.
  const Eigen::MatrixXd w = weights.template cast<double>();
  const Eigen::RowVectorXd scale = input_scale.template cast<double>();
  const Eigen::RowVectorXd shifted = input_shift.template cast<double>().cwiseProduct(scale);
  const Eigen::MatrixXd folded = scale.transpose().asDiagonal() * w;
  bias = (bias.template cast<double>() - shifted * w).template cast<T>();
  weights = folded.template cast<T>();
  input_shift.resize(0);
  input_scale.resize(0);
}

template <typename T>
double CrossEntropy(const ClassifierHeadT<T>& head, const MatrixT<T>& code,
                    absl::Span<const int> classes, ClassifierHeadT<T>* grads,
                    MatrixT<T>* d_code) {
  const Eigen::Index rows = code.rows();
  const MatrixT<T> input = HeadInput(head, code);
  MatrixT<T> log_p = Logits(head, input);
  LogSoftmax(&log_p);
  double loss = 0;
  Eigen::Index labelled = 0;
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (classes[r] < 0) continue;
    loss -= static_cast<double>(log_p(r, classes[r]));
    ++labelled;
  }
  const double per_row = labelled > 0 ? 1.0 / static_cast<double>(labelled) : 0.0;
  loss *= per_row;
  if (grads == nullptr && d_code == nullptr) return loss;
  // d(loss)/d(logits) = (softmax - one-hot) / labelled rows; 0 on a row
  // without a label.
  MatrixT<T> d_logits = Exp(log_p);
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (classes[r] < 0) {
      d_logits.row(r).setZero();
    } else {
      d_logits(r, classes[r]) -= T(1);
    }
  }
  d_logits *= T(per_row);
  if (grads != nullptr) {
    grads->weights.noalias() = input.transpose() * d_logits;
    grads->bias = d_logits.colwise().sum();
  }
  if (d_code != nullptr) {
    d_code->noalias() = d_logits * head.weights.transpose();
    if (head.input_scale.size() != 0) d_code->array().rowwise() *= head.input_scale.array();
  }
  return loss;
}

double HeadLearningRate(const ClassifierHead& head, const Matrix& code) {
  const Eigen::MatrixXd z = HeadInput(head, code).cast<double>();
  const Eigen::MatrixXd cov =
      z.transpose() * z / static_cast<double>(std::max<Eigen::Index>(1, z.rows()));
  // The trace bounds the largest eigenvalue from above: a safe rate when
  // the power iteration cannot find it (a start orthogonal to it).
  const double trace = cov.trace();
  if (!(trace > 1e-12)) return 1.0;  // nothing varies
  // A fixed start with unequal entries (1, 1/2, 1/3, ...): the same rate on
  // every machine up to rounding, and not orthogonal to the leading
  // direction of anti-correlated units, as all ones can be.
  Eigen::VectorXd v(cov.rows());
  for (Eigen::Index j = 0; j < v.size(); ++j) v[j] = 1.0 / static_cast<double>(j + 1);
  v.normalize();
  double largest = 0;
  for (int i = 0; i < 100; ++i) {
    const Eigen::VectorXd w = cov * v;
    largest = w.norm();
    if (!(largest > 1e-12 * trace)) return 1.0 / trace;
    v = w / largest;
  }
  return 1.0 / largest;
}

std::vector<int> TopClasses(const Matrix& probabilities) {
  std::vector<int> top(static_cast<size_t>(probabilities.rows()));
  for (Eigen::Index r = 0; r < probabilities.rows(); ++r) {
    Eigen::Index best;
    probabilities.row(r).maxCoeff(&best);
    top[static_cast<size_t>(r)] = static_cast<int>(best);
  }
  return top;
}

template struct ClassifierHeadT<float>;
template struct ClassifierHeadT<double>;
template double CrossEntropy<float>(const ClassifierHeadT<float>&, const MatrixT<float>&,
                                    absl::Span<const int>, ClassifierHeadT<float>*,
                                    MatrixT<float>*);
template double CrossEntropy<double>(const ClassifierHeadT<double>&, const MatrixT<double>&,
                                     absl::Span<const int>, ClassifierHeadT<double>*,
                                     MatrixT<double>*);

}  // namespace strata

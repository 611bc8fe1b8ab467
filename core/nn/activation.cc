#include "core/nn/activation.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/nn/elementwise.h"

namespace strata {
namespace {

// SELU constants (Klambauer et al., 2017).
constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

}  // namespace

std::string ActivationName(v1::Activation activation) {
  return absl::AsciiStrToLower(v1::Activation_Name(activation));
}

absl::StatusOr<v1::Activation> ParseActivation(absl::string_view name) {
  v1::Activation value;
  if (v1::Activation_Parse(absl::AsciiStrToUpper(name), &value) &&
      value != v1::ACTIVATION_UNSPECIFIED) {
    return value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown activation '", name,
                   "'; expected relu, leaky_relu, elu, selu, sigmoid, tanh or linear"));
}

namespace {

// The float activations whose value needs exp or tanh, each value through
// the same vector routine wherever it sits. False for the others, which
// are exact in any order (max, select, multiply).
bool ApplyByPacket(v1::Activation activation, MatrixT<float>* x) {
  namespace ei = Eigen::internal;
  using Packet = FloatPacket;
  const Packet zero = ei::pset1<Packet>(0.0f), one = ei::pset1<Packet>(1.0f);
  float* data = x->data();
  const Eigen::Index size = x->size();
  switch (activation) {
    case v1::ELU:
      ForEachPacket(data, size, [&](const Packet& a) {
        return ei::pselect(ei::pcmp_lt(zero, a), a, ei::psub(ei::pexp(a), one));
      });
      return true;
    case v1::SELU: {
      const Packet lambda = ei::pset1<Packet>(static_cast<float>(kSeluLambda));
      const Packet alpha = ei::pset1<Packet>(static_cast<float>(kSeluAlpha));
      ForEachPacket(data, size, [&](const Packet& a) {
        return ei::pmul(lambda, ei::pselect(ei::pcmp_lt(zero, a), a,
                                            ei::pmul(alpha, ei::psub(ei::pexp(a), one))));
      });
      return true;
    }
    case v1::SIGMOID:
      ForEachPacket(data, size, [&](const Packet& a) {
        return ei::pdiv(one, ei::padd(one, ei::pexp(ei::pnegate(a))));
      });
      return true;
    case v1::TANH:
      ForEachPacket(data, size, [](const Packet& a) { return ei::ptanh(a); });
      return true;
    default:
      return false;
  }
}

bool ApplyByPacket(v1::Activation, MatrixT<double>*) { return false; }

}  // namespace

template <typename T>
void ApplyActivation(v1::Activation activation, T leaky_slope, MatrixT<T>* x) {
  // Float models serve: their values must not depend on their position.
  // Double is the gradient checks' reference, where Eigen's routines do.
  if (ApplyByPacket(activation, x)) return;
  auto a = x->array();
  switch (activation) {
    case v1::RELU:
      a = a.max(T(0));
      break;
    case v1::LEAKY_RELU:
      a = (a > T(0)).select(a, a * leaky_slope);
      break;
    case v1::ELU:
      a = (a > T(0)).select(a, a.exp() - T(1));
      break;
    case v1::SELU:
      a = T(kSeluLambda) * (a > T(0)).select(a, T(kSeluAlpha) * (a.exp() - T(1)));
      break;
    case v1::SIGMOID:
      // 1 / (1 + e^-x) without overflow warnings for very negative x.
      a = T(1) / (T(1) + (-a).exp());
      break;
    case v1::TANH:
      a = a.tanh();
      break;
    case v1::LINEAR:
    default:
      break;
  }
}

template <typename T>
void MultiplyByDerivative(v1::Activation activation, T leaky_slope, const MatrixT<T>& y,
                          MatrixT<T>* grad) {
  auto g = grad->array();
  const auto o = y.array();
  switch (activation) {
    case v1::RELU:
      g = (o > T(0)).select(g, T(0));
      break;
    case v1::LEAKY_RELU:
      g = (o > T(0)).select(g, g * leaky_slope);
      break;
    case v1::ELU:  // z <= 0: f'(z) = e^z = y + 1
      g = (o > T(0)).select(g, g * (o + T(1)));
      break;
    case v1::SELU:  // z <= 0: f'(z) = lambda * alpha * e^z = y + lambda * alpha
      g = (o > T(0)).select(g * T(kSeluLambda), g * (o + T(kSeluLambda * kSeluAlpha)));
      break;
    case v1::SIGMOID:
      g = g * o * (T(1) - o);
      break;
    case v1::TANH:
      g = g * (T(1) - o.square());
      break;
    case v1::LINEAR:
    default:
      break;
  }
}

template void ApplyActivation<float>(v1::Activation, float, MatrixT<float>*);
template void ApplyActivation<double>(v1::Activation, double, MatrixT<double>*);
template void MultiplyByDerivative<float>(v1::Activation, float, const MatrixT<float>&,
                                          MatrixT<float>*);
template void MultiplyByDerivative<double>(v1::Activation, double, const MatrixT<double>&,
                                           MatrixT<double>*);

}  // namespace strata

// Elementwise activations and their derivatives.
//
// Derivatives are computed from a layer's *output* y = f(z), which every
// activation here allows, so backprop keeps only outputs:
//   ApplyActivation(v1::RELU, slope, &z);            // z becomes y
//   MultiplyByDerivative(v1::RELU, slope, y, &grad); // grad *= f'(z)
#ifndef STRATA_CORE_NN_ACTIVATION_H_
#define STRATA_CORE_NN_ACTIVATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/nn/matrix.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

// Lower-case name ("relu", "leaky_relu", ...).
std::string ActivationName(v1::Activation activation);
// Accepts the names above, case-insensitively.
absl::StatusOr<v1::Activation> ParseActivation(absl::string_view name);

// In place: x = f(x). REQUIRES: activation is not ACTIVATION_UNSPECIFIED.
template <typename T>
void ApplyActivation(v1::Activation activation, T leaky_slope, MatrixT<T>* x);

// In place: grad = grad * f'(z), where y = f(z) is the layer's output.
template <typename T>
void MultiplyByDerivative(v1::Activation activation, T leaky_slope, const MatrixT<T>& y,
                          MatrixT<T>* grad);

}  // namespace strata

#endif  // STRATA_CORE_NN_ACTIVATION_H_

// MNIST IDX files (gzip-compressed, as published) for the benchmarks.
//
//   absl::StatusOr<strata::Matrix> x = ReadMnistImages(dir + "/train-images-idx3-ubyte.gz");
//
// Pixels come back as floats in [0, 1] (value / 255), one image per row.
#ifndef STRATA_BENCH_MNIST_H_
#define STRATA_BENCH_MNIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"

namespace strata::bench {

absl::StatusOr<Matrix> ReadMnistImages(const std::string& path);
absl::StatusOr<std::vector<int>> ReadMnistLabels(const std::string& path);

// The directory holding the MNIST files: $STRATA_MNIST_DIR, else ../shared/data/mnist
// relative to the repository root (the benchmarks run from there).
std::string MnistDir();

}  // namespace strata::bench

#endif  // STRATA_BENCH_MNIST_H_

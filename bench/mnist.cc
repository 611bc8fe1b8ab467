#include "bench/mnist.h"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"

namespace strata::bench {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// Reads the whole decompressed file.
absl::StatusOr<std::string> ReadGz(const std::string& path) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  if (n < 0) return absl::DataLossError(absl::StrCat(path, ": not a readable gzip file"));
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// The IDX header: magic 0x000008NN (unsigned bytes, NN dimensions), then the sizes.
absl::StatusOr<std::vector<uint32_t>> IdxDims(const std::string& data, int dims,
                                              const std::string& path) {
  if (data.size() < 4u + 4u * dims || BigEndian32(data, 0) != 0x0800u + dims) {
    return absl::DataLossError(absl::StrCat(path, ": not an IDX file of ", dims, " dimensions"));
  }
  std::vector<uint32_t> sizes;
  size_t total = 1;
  for (int d = 0; d < dims; ++d) {
    sizes.push_back(BigEndian32(data, 4 + 4 * d));
    total *= sizes.back();
  }
  if (data.size() != 4u + 4u * dims + total) {
    return absl::DataLossError(absl::StrCat(path, ": size does not match its header"));
  }
  return sizes;
}

}  // namespace

absl::StatusOr<Matrix> ReadMnistImages(const std::string& path) {
  absl::StatusOr<std::string> data = ReadGz(path);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::vector<uint32_t>> dims = IdxDims(*data, 3, path);
  if (!dims.ok()) return dims.status();
  const Eigen::Index rows = (*dims)[0], cols = Eigen::Index{(*dims)[1]} * (*dims)[2];
  Matrix out(rows, cols);
  const auto* pixels = reinterpret_cast<const unsigned char*>(data->data() + 16);
  for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = pixels[i] / 255.0f;
  return out;
}

absl::StatusOr<std::vector<int>> ReadMnistLabels(const std::string& path) {
  absl::StatusOr<std::string> data = ReadGz(path);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::vector<uint32_t>> dims = IdxDims(*data, 1, path);
  if (!dims.ok()) return dims.status();
  std::vector<int> labels((*dims)[0]);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<unsigned char>((*data)[8 + i]);
  }
  return labels;
}

std::string MnistDir() {
  const char* env = std::getenv("STRATA_MNIST_DIR");
  return env != nullptr ? env : "../shared/data/mnist";
}

}  // namespace strata::bench

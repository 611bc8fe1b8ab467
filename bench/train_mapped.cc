// Training rows/s from a memory-mapped row file (Trainer::Train(const
// RowFile&), the path for data larger than memory) against the same rows in
// memory (Trainer::Train(const Matrix&)), with the file in the page cache:
// the cost of reading each batch from the mapping and scaling it as it is
// used, and of the block shuffle. MNIST's 60,000 training images, written
// as 12 CSV shards and converted once; two networks: Hinton &
// Salakhutdinov's 784-1000-500-250-30 and a small 784-64-16 (whose GEMMs
// are cheap, so the per-row work weighs most). Fine-tuning epochs only;
// rows/s from the epochs' own seconds, median of 3 runs each, alternated.
// Run by bench/train_mapped.sh.
// Ends with: RESULT mapped_rows_per_s=... memory_rows_per_s=... ratio=... small_net_ratio=...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/machine.h"
#include "bench/mnist.h"
#include "core/base/file_util.h"
#include "core/data/row_file.h"
#include "core/train/trainer.h"

namespace strata::bench {
namespace {

constexpr int kShards = 12;
constexpr int kRuns = 3;

// Rows per second over the fine-tuning epochs of one training.
double RowsPerSecond(const v1::TrainConfig& config, const Matrix* data, const RowFile* file) {
  Trainer::Options o;
  o.config = config;
  o.input_dim = 784;
  std::unique_ptr<Trainer> trainer = *Trainer::Create(o);
  absl::StatusOr<std::unique_ptr<Model>> model =
      data != nullptr ? trainer->Train(*data) : trainer->Train(*file);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    std::exit(1);
  }
  double seconds = 0;
  for (const v1::EpochRecord& e : (*model)->info().history) seconds += e.seconds();
  return static_cast<double>((*model)->info().summary.train_rows()) *
         static_cast<double>((*model)->info().history.size()) / seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main() {
  const Machine machine = MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());
  absl::StatusOr<Matrix> images = ReadMnistImages(MnistDir() + "/train-images-idx3-ubyte.gz");
  if (!images.ok()) {
    std::fprintf(stderr, "%s\n", images.status().ToString().c_str());
    return 1;
  }
  const std::string dir = "/tmp/strata-bench-mapped";
  if (absl::Status s = CreateDirectories(dir); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  // Pixels as integers 0..255 (short CSV).
  RowFile::Source source;
  const Eigen::Index per_shard = (images->rows() + kShards - 1) / kShards;
  for (int s = 0; s < kShards; ++s) {
    const std::string path = absl::StrCat(dir, "/mnist-", s < 10 ? "0" : "", s, ".csv");
    source.files.push_back(path);
    std::ofstream out(path);
    std::string line;
    const Eigen::Index end = std::min(images->rows(), (s + 1) * per_shard);
    for (Eigen::Index r = s * per_shard; r < end; ++r) {
      line.clear();
      for (Eigen::Index c = 0; c < images->cols(); ++c) {
        absl::StrAppend(&line, c ? "," : "", std::lround((*images)(r, c) * 255));
      }
      out << line << "\n";
    }
  }
  const absl::Time convert_start = absl::Now();
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
    return 1;
  }
  const double convert_s = absl::ToDoubleSeconds(absl::Now() - convert_start);
  // The same values in memory; reading them also puts the file in the
  // page cache.
  const Matrix data = (*file)->rows();
  std::printf(
      "row file %s: %lld x %lld float32 (%.0f MiB), converted from %d CSV shards in %.1f s\n",
      (*file)->path().c_str(), static_cast<long long>(data.rows()),
      static_cast<long long>(data.cols()), 4.0 * static_cast<double>(data.size()) / (1 << 20),
      kShards, convert_s);

  struct Net {
    const char* name;
    std::vector<int> widths;
    int epochs;
  };
  double ratio = 0, small_ratio = 0, mapped_big = 0, memory_big = 0;
  for (const Net& net :
       {Net{"784-1000-500-250-30", {1000, 500, 250, 30}, 1}, Net{"784-64-16", {64, 16}, 3}}) {
    v1::TrainConfig config;
    for (int w : net.widths) config.add_encoder_widths(w);
    config.set_pretrain_epochs(0);
    config.set_finetune_epochs(net.epochs);
    config.set_batch_size(128);
    config.mutable_early_stopping()->set_patience(0);
    config.mutable_anomaly()->set_ensemble_size(1);
    std::vector<double> mapped, memory;
    for (int run = 0; run < kRuns; ++run) {
      memory.push_back(RowsPerSecond(config, &data, nullptr));
      mapped.push_back(RowsPerSecond(config, nullptr, file->get()));
    }
    const double m = Median(mapped), in = Median(memory);
    std::printf("%-22s in memory %8.0f rows/s, mapped %8.0f rows/s: %.3fx (medians of %d)\n",
                net.name, in, m, m / in, kRuns);
    if (net.widths.size() == 4) {
      ratio = m / in;
      mapped_big = m;
      memory_big = in;
    } else {
      small_ratio = m / in;
    }
  }
  std::printf(
      "RESULT mapped_rows_per_s=%.0f memory_rows_per_s=%.0f ratio=%.3f "
      "small_net_ratio=%.3f\n",
      mapped_big, memory_big, ratio, small_ratio);
  return 0;
}

}  // namespace
}  // namespace strata::bench

int main() { return strata::bench::Main(); }

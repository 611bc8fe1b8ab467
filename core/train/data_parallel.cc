#include "core/train/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/train/trainer.h"

namespace strata {
namespace train_internal {

absl::StatusOr<RowMap> MapRowsOverRanks(Collective* ranks, int64_t local_rows, bool interleaved) {
  RowMap map;
  map.local = local_rows;
  map.global = local_rows;
  if (ranks == nullptr) return map;
  map.rank = ranks->rank();
  map.size = ranks->size();
  map.interleaved = interleaved;
  std::vector<double> counts(static_cast<size_t>(map.size), 0.0);
  counts[static_cast<size_t>(map.rank)] = static_cast<double>(local_rows);
  ranks->AllReduce(absl::MakeSpan(counts), Collective::Op::kSum);
  map.global = 0;
  for (int r = 0; r < map.size; ++r) {
    if (r == map.rank) map.offset = map.global;
    map.global += static_cast<int64_t>(counts[static_cast<size_t>(r)]);
  }
  for (int r = 0; r < map.size && map.interleaved; ++r) {
    const int64_t expected = (map.global - r + map.size - 1) / map.size;
    if (static_cast<int64_t>(counts[static_cast<size_t>(r)]) != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rank ", r, " holds ", counts[static_cast<size_t>(r)], " rows; every ", map.size,
          "-th of ", map.global, " rows (the interleaved layout) is ", expected));
    }
  }
  return map;
}

absl::Status CheckDataParallelTraining(Collective* ranks, const v1::TrainConfig& config,
                                       bool labelled) {
  if (ranks == nullptr) return absl::OkStatus();
  // Labels are each rank's own: any rank's refuse them on every rank.
  if (absl::Status s = AgreeOnStatus(
          ranks,
          !labelled ? absl::OkStatus()
                    : absl::InvalidArgumentError("class labels (a classifier head) are not trained "
                                                 "data-parallel: train it in one process"));
      !s.ok()) {
    return s;
  }
  // Refused alike on every rank: the config is the same everywhere.
  if (config.batch_norm() != v1::BATCH_NORM_NONE) {
    return absl::InvalidArgumentError(
        "batch_norm: the ranks' batch statistics would differ, so data-parallel training "
        "refuses it; train in one process, or without batch_norm");
  }
  if (config.anomaly().has_ensemble_size() && config.anomaly().ensemble_size() > 1) {
    return absl::InvalidArgumentError(
        "anomaly.ensemble_size: data-parallel training trains one network; leave it out or "
        "set it to 1");
  }
  return absl::OkStatus();
}

void SumOverRanks(Collective* ranks, absl::Span<double> values) {
  if (ranks != nullptr) ranks->AllReduce(values, Collective::Op::kSum);
}

double GlobalLoss(Collective* ranks, const StackedAutoencoder& net, const RowSet& x,
                  v1::Loss loss) {
  if (ranks == nullptr) return EvaluateLoss(net, x, loss);
  double sums[2] = {x.rows() ? EvaluateLoss(net, x, loss) * static_cast<double>(x.rows()) : 0.0,
                    static_cast<double>(x.rows())};
  SumOverRanks(ranks, absl::MakeSpan(sums));
  return sums[0] / std::max(sums[1], 1.0);
}

void SplitOwnedRows(const RowMap& map, int64_t val_rows, std::mt19937_64* rng,
                    std::vector<int>* train_idx, std::vector<int>* val_idx,
                    std::vector<int>* positions) {
  std::vector<int> train_global, val_global;
  SplitPositions(map.global, val_rows, rng, &train_global, &val_global);
  train_idx->clear();
  val_idx->clear();
  positions->assign(map.size > 1 ? train_global.size() : 0, -1);
  for (size_t p = 0; p < train_global.size(); ++p) {
    const int64_t l = map.Local(train_global[p]);
    if (l < 0) continue;
    if (map.size > 1) (*positions)[p] = static_cast<int>(train_idx->size());
    train_idx->push_back(static_cast<int>(l));
  }
  for (int g : val_global) {
    const int64_t l = map.Local(g);
    if (l >= 0) val_idx->push_back(static_cast<int>(l));
  }
}

Matrix GatherEveryRank(Collective* ranks, const RowMap& map, const Eigen::Ref<const Matrix>& data,
                       int64_t stride) {
  if (ranks == nullptr) {
    Matrix out((data.rows() + stride - 1) / stride, data.cols());
    for (Eigen::Index r = 0; r < out.rows(); ++r) out.row(r) = data.row(r * stride);
    return out;
  }
  std::string mine;
  for (int64_t l = 0; l < data.rows(); ++l) {
    const int64_t g = map.Global(l);
    if (g % stride != 0) continue;
    mine.append(reinterpret_cast<const char*>(&g), sizeof(g));
    const RowVector row = data.row(l);
    mine.append(reinterpret_cast<const char*>(row.data()), sizeof(float) * row.size());
  }
  const std::vector<std::string> all = ranks->AllGather(mine);
  Matrix out((map.global + stride - 1) / stride, data.cols());
  const size_t record = sizeof(int64_t) + sizeof(float) * static_cast<size_t>(data.cols());
  for (const std::string& part : all) {
    for (size_t at = 0; at + record <= part.size(); at += record) {
      int64_t g = 0;
      std::memcpy(&g, part.data() + at, sizeof(g));
      RowVector row(data.cols());
      std::memcpy(row.data(), part.data() + at + sizeof(g), record - sizeof(g));
      out.row(g / stride) = row;
    }
  }
  return out;
}

void AverageGradientsOverRanks(Collective* ranks, const std::vector<ParameterBlock<float>>& grads,
                               Eigen::Index mine, Eigen::Index n, std::vector<float>* buffer) {
  // Backprop's gradients are means over this rank's rows: as sums, added
  // over the ranks in one all-reduce, then the mean over the batch.
  size_t total = 0;
  for (const ParameterBlock<float>& b : grads) total += static_cast<size_t>(b.size);
  buffer->resize(total);
  float* at = buffer->data();
  const float weight = static_cast<float>(mine);
  for (const ParameterBlock<float>& b : grads) {
    for (Eigen::Index i = 0; i < b.size; ++i) at[i] = mine > 0 ? b.data[i] * weight : 0.0f;
    at += b.size;
  }
  ranks->AllReduce(absl::MakeSpan(*buffer), Collective::Op::kSum);
  at = buffer->data();
  const float scale = 1.0f / static_cast<float>(n);
  for (const ParameterBlock<float>& b : grads) {
    for (Eigen::Index i = 0; i < b.size; ++i) b.data[i] = at[i] * scale;
    at += b.size;
  }
}

absl::Status CheckSameWeightsOnEveryRank(Collective* ranks, const RowMap& map,
                                         const StackedAutoencoder& net) {
  if (ranks == nullptr) return absl::OkStatus();
  const uint32_t mine = WeightsChecksum(net);
  const std::string bytes(reinterpret_cast<const char*>(&mine), sizeof(mine));
  const std::vector<std::string> all = ranks->AllGather(bytes);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r] != bytes) {
      return absl::InternalError(
          absl::StrCat("rank ", r, "'s weights differ from rank ", map.rank, "'s"));
    }
  }
  return absl::OkStatus();
}

}  // namespace train_internal
}  // namespace strata

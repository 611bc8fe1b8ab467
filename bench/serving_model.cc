#include "bench/serving_model.h"

#include <cstdio>
#include <random>

#include "core/model/model_store.h"
#include "core/train/trainer.h"

namespace strata::bench {

int PublishServingModel(const std::string& root) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  Matrix data(4000, kServingInputs);
  for (Eigen::Index i = 0; i < data.size(); ++i) data.data()[i] = normal(rng);
  Trainer::Options options;
  options.input_dim = kServingInputs;
  for (int w : {32, 16, 8}) options.config.add_encoder_widths(w);
  options.config.set_finetune_epochs(2);
  auto trainer = Trainer::Create(options);
  auto model = trainer.ok() ? (*trainer)->Train(data) : trainer.status();
  if (!model.ok()) {
    std::fprintf(stderr, "training the benchmark model: %s\n", model.status().ToString().c_str());
    return 1;
  }
  auto store = ModelStore::Create({.root = root});
  auto version = store.ok() ? (*store)->Publish(kServingModelName, **model) : store.status();
  if (!version.ok()) {
    std::fprintf(stderr, "publishing: %s\n", version.status().ToString().c_str());
    return 1;
  }
  std::printf("published %s v%lld (64-32-16-8) in %s\n", kServingModelName,
              static_cast<long long>(*version), root.c_str());
  return 0;
}

}  // namespace strata::bench

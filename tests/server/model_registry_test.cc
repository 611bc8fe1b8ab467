#include "server/model_registry.h"

#include <atomic>
#include <fstream>
#include <future>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Fixture {
  explicit Fixture(const std::string& name, const std::string& policy = "latest",
                   bool fresh = true) {
    const std::string root =
        fresh ? testing::ScratchDir(name) : ::testing::TempDir() + "/strata_" + name;
    store = *ModelStore::Create({root});
    ModelRegistry::Options options;
    options.store = store.get();
    options.policy = *VersionPolicy::Parse(policy);
    options.poll_interval = absl::ZeroDuration();  // refresh by hand
    options.on_event = [this](const VersionEvent& e) { events.push_back(e); };
    registry = *ModelRegistry::Create(std::move(options));
  }
  std::unique_ptr<ModelStore> store;
  std::unique_ptr<ModelRegistry> registry;
  std::vector<VersionEvent> events;
};

v1::ModelSpec Spec(const std::string& name) {
  v1::ModelSpec s;
  s.set_name(name);
  return s;
}

TEST(ModelRegistryTest, ServesTheLatestAndSwapsWhenANewVersionArrives) {
  Fixture f("registry_swap");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  f.registry->Refresh();
  auto v1 = f.registry->Get(Spec("m"));
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  std::weak_ptr<const Model> old = v1->model;

  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(Spec("m"))->version, 2);
  // A request still holding version 1 keeps it alive; it is freed after.
  EXPECT_FALSE(old.expired());
  v1->model.reset();
  EXPECT_TRUE(old.expired());
  // The new version was loaded before the old one was unloaded.
  ASSERT_GE(f.events.size(), 3u);
  EXPECT_EQ(f.events[1].kind, VersionEvent::Kind::kLoaded);
  EXPECT_EQ(f.events[1].version, 2);
  EXPECT_EQ(f.events[2].kind, VersionEvent::Kind::kUnloaded);
  EXPECT_EQ(f.events[2].version, 1);
}

TEST(ModelRegistryTest, SelectsByVersionAndLabelAndNamesWhatIsMissing) {
  Fixture f("registry_select", "all");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
  f.registry->Refresh();
  v1::ModelSpec spec = Spec("m");
  spec.set_version(1);
  EXPECT_EQ(f.registry->Get(spec)->version, 1);
  spec.set_version(5);
  EXPECT_THAT(f.registry->Get(spec).status().message(), HasSubstr("version 5 is not served"));
  EXPECT_EQ(f.registry->Get(spec).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(f.registry->SetLabel("m", "stable", 1).ok());
  spec.set_label("stable");
  EXPECT_EQ(f.registry->Get(spec)->version, 1);
  spec.set_label("canary");
  EXPECT_THAT(f.registry->Get(spec).status().message(), HasSubstr("no label 'canary'"));
  EXPECT_EQ(f.registry->Get(Spec("nope")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(f.registry->Get(Spec("")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.registry->SetLabel("m", "x", 9).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(f.registry->SetLabel("m", "bad label", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelRegistryTest, LabelsPinVersionsAndSurviveRestarts) {
  {
    Fixture f("registry_labels");
    ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
    f.registry->Refresh();
    ASSERT_TRUE(f.registry->SetLabel("m", "stable", 1).ok());
    ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
    f.registry->Refresh();
    // latest serves 2; the label keeps 1 served too.
    EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(1, 2));
  }
  // A new registry over the same store.
  Fixture restarted("registry_labels", "latest", /*fresh=*/false);
  v1::ModelSpec spec = Spec("m");
  spec.set_label("stable");
  EXPECT_EQ(restarted.registry->Get(spec)->version, 1);
  // Removing the label unpins version 1.
  EXPECT_TRUE(restarted.registry->SetLabel("m", "stable", 0).ok());
  EXPECT_THAT(restarted.registry->List()[0].versions, ElementsAre(2));
}

TEST(ModelRegistryTest, CorruptVersionIsSkippedAndTheOthersKeepServing) {
  Fixture f("registry_corrupt");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  f.registry->Refresh();
  // A hand-made version 2 whose file is garbage.
  const std::string dir = f.store->root() + "/m/2";
  std::system(("mkdir -p " + dir).c_str());
  std::ofstream(dir + "/" + kModelFileName) << "not a model";
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(Spec("m"))->version, 1);
  ASSERT_FALSE(f.events.empty());
  EXPECT_EQ(f.events.back().kind, VersionEvent::Kind::kLoadFailed);
  EXPECT_THAT(f.events.back().error, HasSubstr("not a strata model file"));
  // It is not retried (and logged) on every poll...
  const size_t events = f.events.size();
  f.registry->Refresh();
  EXPECT_EQ(f.events.size(), events);
  // ...but a fixed file is picked up.
  ASSERT_TRUE(WriteModelFile(*testing::SmallModel(6, 3), dir + "/" + kModelFileName).ok());
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(Spec("m"))->version, 2);
}

bool HasEvent(const std::vector<VersionEvent>& events, VersionEvent::Kind kind, int64_t version,
              const std::string& label = "") {
  for (const VersionEvent& e : events) {
    if (e.kind == kind && e.version == version && e.label == label) return true;
  }
  return false;
}

// Writes `bytes` as version `version` of `name`, by hand (as an operator
// copying files in would), over any file there.
void PutVersion(const ModelStore& store, const std::string& name, int64_t version,
                const std::string& bytes) {
  const std::string dir = absl::StrCat(store.root(), "/", name, "/", version);
  std::system(("mkdir -p " + dir).c_str());
  std::ofstream(dir + "/" + kModelFileName, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The incident: versions 2 (labelled old) and 6 served by `latest`, and a
// truncated 7 dropped into the store. The policy aspired to {2, 7}; 2 was
// loaded, so 6 was unloaded, and unversioned calls went to 2 until the next
// poll loaded 6 again. A version that fails to load never displaces one
// that serves.
TEST(ModelRegistryTest, AVersionThatFailsToLoadNeverDisplacesOneThatServes) {
  Fixture f("registry_failed_load_displaces_nothing");
  PutVersion(*f.store, "pen", 2, *SerializeModel(*testing::SmallModel(6, 2)));
  PutVersion(*f.store, "pen", 6, *SerializeModel(*testing::SmallModel(6, 6)));
  f.registry->Refresh();
  ASSERT_TRUE(f.registry->SetLabel("pen", "old", 2).ok());
  ASSERT_THAT(f.registry->List()[0].versions, ElementsAre(2, 6));
  ASSERT_EQ(f.registry->Get(Spec("pen"))->version, 6);
  v1::ModelSpec old = Spec("pen");
  old.set_label("old");

  const std::string seven = *SerializeModel(*testing::SmallModel(6, 7));
  PutVersion(*f.store, "pen", 7, seven.substr(0, seven.size() / 2));
  f.events.clear();
  // The poll that finds 7, and the one after (which loaded 6 back).
  for (int poll = 0; poll < 2; ++poll) {
    f.registry->Refresh();
    EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(2, 6)) << "poll " << poll;
    EXPECT_EQ(f.registry->Get(Spec("pen"))->version, 6) << "poll " << poll;
    EXPECT_EQ(f.registry->Get(old)->version, 2) << "poll " << poll;
  }
  // 7 is reported once; 6 never left.
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].kind, VersionEvent::Kind::kLoadFailed);
  EXPECT_EQ(f.events[0].version, 7);
  EXPECT_THAT(f.events[0].error, HasSubstr("truncated"));

  // A registry starting on this store serves 6 too (it served 2 alone).
  Fixture restarted("registry_failed_load_displaces_nothing", "latest", /*fresh=*/false);
  EXPECT_EQ(restarted.registry->Get(Spec("pen"))->version, 6);
  EXPECT_THAT(restarted.registry->List()[0].versions, ElementsAre(2, 6));

  // A good 7 in its place is loaded, and replaces 6.
  f.events.clear();
  PutVersion(*f.store, "pen", 7, seven);
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(Spec("pen"))->version, 7);
  EXPECT_EQ(f.registry->Get(old)->version, 2);
  EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(2, 7));
  using K = VersionEvent::Kind;
  std::vector<std::pair<K, int64_t>> events;
  for (const VersionEvent& e : f.events) events.push_back({e.kind, e.version});
  EXPECT_THAT(events,
              ElementsAre(std::pair(K::kLoaded, int64_t{7}), std::pair(K::kUnloaded, int64_t{6})));
}

// The same under latest:2, with no label: a broken 3 does not unload 1.
TEST(ModelRegistryTest, ABrokenNewestVersionLeavesLatestNServed) {
  Fixture f("registry_failed_load_latest_n", "latest:2");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
  f.registry->Refresh();
  ASSERT_THAT(f.registry->List()[0].versions, ElementsAre(1, 2));
  PutVersion(*f.store, "m", 3, "not a model");
  f.events.clear();
  f.registry->Refresh();
  EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(1, 2));
  EXPECT_FALSE(HasEvent(f.events, VersionEvent::Kind::kUnloaded, 1));
  EXPECT_TRUE(HasEvent(f.events, VersionEvent::Kind::kLoadFailed, 3));
}

// SetLabel loads the version before the label moves: one that does not
// load is refused with the label, and the version it pinned, as they were
// at every moment. (The label used to move first and be put back after the
// load failed: at the failure's event, "stable" answered NOT_FOUND.)
TEST(ModelRegistryTest, ALabelRefusedForABrokenVersionNeverLeftItsVersion) {
  auto store = *ModelStore::Create({testing::ScratchDir("registry_label_broken_version")});
  ModelRegistry* registry = nullptr;
  v1::ModelSpec stable = Spec("m");
  stable.set_label("stable");
  using K = VersionEvent::Kind;
  // Each event, and the version "stable" resolved to as it arrived (0: none).
  std::vector<std::tuple<K, int64_t, int64_t>> seen;
  ModelRegistry::Options options;
  options.store = store.get();
  options.poll_interval = absl::ZeroDuration();
  options.on_event = [&](const VersionEvent& e) {
    if (registry == nullptr) return;
    const absl::StatusOr<ServableModel> m = registry->Get(stable);
    seen.emplace_back(e.kind, e.version, m.ok() ? m->version : 0);
  };
  auto owned = *ModelRegistry::Create(std::move(options));
  registry = owned.get();
  ASSERT_TRUE(store->Publish("m", *testing::SmallModel(6, 1)).ok());
  ASSERT_TRUE(store->Publish("m", *testing::SmallModel(6, 2)).ok());
  registry->Refresh();
  ASSERT_TRUE(registry->SetLabel("m", "stable", 1).ok());
  ASSERT_THAT(registry->List()[0].versions, ElementsAre(1, 2));
  PutVersion(*store, "m", 3, "not a model");

  seen.clear();
  const auto refused = registry->SetLabel("m", "stable", 3);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("not a strata model file"));
  EXPECT_EQ(store->ReadLabels("m")->labels().at("stable"), 1);
  EXPECT_EQ(registry->Get(stable)->version, 1);
  EXPECT_THAT(registry->List()[0].versions, ElementsAre(1, 2));
  // 3 failed while "stable" answered 1; 1 was never unloaded.
  EXPECT_THAT(seen, ElementsAre(std::tuple(K::kLoadFailed, int64_t{3}, int64_t{1})));
  // Asked again, it is refused from memory, with the same error.
  EXPECT_THAT(registry->SetLabel("m", "stable", 3).status().message(),
              HasSubstr("not a strata model file"));
  EXPECT_EQ(seen.size(), 1u);
}

TEST(ModelRegistryTest, DeletedVersionsAreUnloadedAndTheirLabelsRemoved) {
  Fixture f("registry_deleted");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
  f.registry->Refresh();
  ASSERT_TRUE(f.registry->SetLabel("m", "prod", 2).ok());
  ASSERT_TRUE(f.registry->SetLabel("m", "stable", 1).ok());
  std::system(("rm -rf " + f.store->root() + "/m/2").c_str());
  f.registry->Refresh();
  v1::ModelSpec prod = Spec("m");
  prod.set_label("prod");
  EXPECT_EQ(f.registry->Get(prod).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(HasEvent(f.events, VersionEvent::Kind::kLabelRemoved, 2, "prod"));
  EXPECT_TRUE(HasEvent(f.events, VersionEvent::Kind::kUnloaded, 2));
  EXPECT_FALSE(f.store->ReadLabels("m")->labels().count("prod"));
  EXPECT_EQ(f.store->ReadLabels("m")->labels().at("stable"), 1);
  // The next version takes a new number, and no label moves to it.
  EXPECT_EQ(*f.store->Publish("m", *testing::SmallModel(6, 3)), 3);
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(prod).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(1, 3));

  // The only version of a model, deleted by hand: unloaded, not kept.
  ASSERT_TRUE(f.store->Publish("solo", *testing::SmallModel(6, 1)).ok());
  f.registry->Refresh();
  ASSERT_TRUE(f.registry->Get(Spec("solo")).ok());
  std::system(("rm -rf " + f.store->root() + "/solo").c_str());
  f.registry->Refresh();
  EXPECT_EQ(f.registry->Get(Spec("solo")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(f.registry->List().size(), 1u);
  ASSERT_FALSE(f.events.empty());
  EXPECT_EQ(f.events.back().kind, VersionEvent::Kind::kUnloaded);
  EXPECT_EQ(f.events.back().name, "solo");
  EXPECT_THAT(f.events.back().error, HasSubstr("deleted from the store"));
}

TEST(ModelRegistryTest, ALabelCanRollBackToAVersionThePolicyUnloaded) {
  Fixture f("registry_rollback", "latest");
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 1)).ok());
  ASSERT_TRUE(f.store->Publish("m", *testing::SmallModel(6, 2)).ok());
  f.registry->Refresh();
  ASSERT_THAT(f.registry->List()[0].versions, ElementsAre(2));
  auto labels = f.registry->SetLabel("m", "stable", 1);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->at("stable"), 1);
  v1::ModelSpec stable = Spec("m");
  stable.set_label("stable");
  EXPECT_EQ(f.registry->Get(stable)->version, 1);
  EXPECT_THAT(f.registry->List()[0].versions, ElementsAre(1, 2));
  // A version that does not load: refused, and the label stays where it was.
  const std::string dir = f.store->root() + "/m/3";
  std::system(("mkdir -p " + dir).c_str());
  std::ofstream(dir + "/" + kModelFileName) << "not a model";
  const auto bad = f.registry->SetLabel("m", "stable", 3);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad.status().message(), HasSubstr("not a strata model file"));
  EXPECT_EQ(f.registry->Get(stable)->version, 1);
  EXPECT_EQ(f.store->ReadLabels("m")->labels().at("stable"), 1);
  // Not in the store at all; removing a label that does not exist.
  EXPECT_THAT(f.registry->SetLabel("m", "stable", 9).status().message(),
              HasSubstr("has no version 9 in the store (it has 1, 2, 3)"));
  EXPECT_EQ(f.registry->SetLabel("m", "nope", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelRegistryTest, PollingPicksUpNewVersions) {
  auto store = *ModelStore::Create({testing::ScratchDir("registry_poll")});
  ModelRegistry::Options options;
  options.store = store.get();
  options.poll_interval = absl::Milliseconds(20);
  auto registry = *ModelRegistry::Create(std::move(options));
  ASSERT_TRUE(store->Publish("m", *testing::SmallModel()).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!registry->Get(Spec("m")).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(registry->Get(Spec("m")).ok());
}

// on_event runs without the registry's locks: a refresh on another thread
// goes through while the callback is still running. (It used to be called
// under refresh_mu_, where that refresh waited for the callback to return.)
TEST(ModelRegistryTest, EventCallbackRunsWithoutLocksHeld) {
  auto store = *ModelStore::Create({testing::ScratchDir("registry_event_unlocked")});
  ModelRegistry* registry = nullptr;
  std::vector<std::future<void>> other_refreshes;  // joined outside the callback
  std::vector<bool> went_through;
  ModelRegistry::Options options;
  options.store = store.get();
  options.poll_interval = absl::ZeroDuration();
  options.on_event = [&](const VersionEvent& e) {
    other_refreshes.push_back(std::async(std::launch::async, [&] { registry->Refresh(); }));
    went_through.push_back(other_refreshes.back().wait_for(std::chrono::seconds(5)) ==
                           std::future_status::ready);
  };
  auto owned = *ModelRegistry::Create(std::move(options));
  registry = owned.get();
  ASSERT_TRUE(store->Publish("m", *testing::SmallModel(6, 1)).ok());
  registry->Refresh();
  for (auto& f : other_refreshes) f.wait();
  EXPECT_THAT(went_through, ElementsAre(true));
}

// The callback may call back into the registry; the events of a refresh it
// starts arrive after the one being delivered, in order.
TEST(ModelRegistryTest, EventCallbackCanRefreshAndEventsKeepTheirOrder) {
  auto store = *ModelStore::Create({testing::ScratchDir("registry_event_reentrant")});
  ModelRegistry* registry = nullptr;
  std::vector<std::pair<VersionEvent::Kind, int64_t>> events;
  size_t delivered_during_nested_refresh = 0;
  ModelRegistry::Options options;
  options.store = store.get();
  options.poll_interval = absl::ZeroDuration();
  options.on_event = [&](const VersionEvent& e) {
    events.push_back({e.kind, e.version});
    if (e.kind == VersionEvent::Kind::kLoaded && e.version == 1) {
      ASSERT_TRUE(store->Publish("m", *testing::SmallModel(6, 2)).ok());
      registry->Refresh();  // queues "loaded 2, unloaded 1" behind this event
      delivered_during_nested_refresh = events.size() - 1;
    }
  };
  auto owned = *ModelRegistry::Create(std::move(options));
  registry = owned.get();
  ASSERT_TRUE(store->Publish("m", *testing::SmallModel(6, 1)).ok());
  registry->Refresh();
  EXPECT_EQ(delivered_during_nested_refresh, 0u);
  using K = VersionEvent::Kind;
  EXPECT_THAT(events,
              ElementsAre(std::pair(K::kLoaded, int64_t{1}), std::pair(K::kLoaded, int64_t{2}),
                          std::pair(K::kUnloaded, int64_t{1})));
  EXPECT_EQ(registry->Get(Spec("m"))->version, 2);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST(ModelRegistryTest, ConcurrentReadersDuringSwapsAlwaysSeeWholeVersions) {
  Fixture f("registry_concurrent");
  std::vector<std::unique_ptr<Model>> models;
  for (int seed = 1; seed <= 4; ++seed) models.push_back(testing::SmallModel(6, seed));
  const Matrix x = testing::GaussianMatrix(5, 6, 9);
  std::vector<Matrix> expected;  // version v answers with expected[v - 1]
  for (const auto& m : models) expected.push_back(*m->Encode(x, 2));
  ASSERT_TRUE(f.store->Publish("m", *models[0]).ok());
  f.registry->Refresh();

  // Each reader keeps the versions it was served, in the order it first saw
  // them, and publishes the latest one so the swaps below wait for it.
  constexpr int kReaders = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, mismatches{0};
  std::atomic<int64_t> last_seen[kReaders] = {};
  std::vector<int64_t> seen[kReaders];  // read only after the readers joined
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      const absl::Time deadline = absl::Now() + absl::Seconds(60);
      while (!stop && absl::Now() < deadline) {
        auto m = f.registry->Get(Spec("m"));
        if (!m.ok()) {
          ++failures;
          continue;
        }
        if (*m->model->Encode(x, 2) != expected[m->version - 1]) ++mismatches;
        if (seen[t].empty() || seen[t].back() != m->version) seen[t].push_back(m->version);
        last_seen[t] = m->version;
      }
    });
  }
  // Swap to version v only once every reader has been served v - 1, so each
  // reader is reading across every swap (bounded wait).
  const auto all_readers_saw = [&](int64_t v) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (;;) {
      bool all = true;
      for (const auto& s : last_seen) all = all && s == v;
      if (all) return true;
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
  };
  bool swapped = all_readers_saw(1);
  for (int v = 2; v <= 4 && swapped; ++v) {
    swapped = f.store->Publish("m", *models[v - 1]).ok();
    f.registry->Refresh();
    swapped = swapped && all_readers_saw(v);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(swapped) << "a reader was never served a new version";
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(mismatches, 0);
  // Every reader went through all four versions, never back to an older one.
  for (const auto& s : seen) EXPECT_THAT(s, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(f.registry->Get(Spec("m"))->version, 4);
}

}  // namespace
}  // namespace strata

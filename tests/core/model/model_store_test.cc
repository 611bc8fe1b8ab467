#include "core/model/model_store.h"

#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "core/base/file_util.h"
#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ModelStoreTest, PublishAssignsIncreasingVersions) {
  const std::string root = testing::ScratchDir("store_publish") + "/nested/models";
  auto store = ModelStore::Create({root});
  ASSERT_TRUE(store.ok()) << store.status();
  const auto model = testing::SmallModel();
  EXPECT_THAT(*(*store)->ListModels(), IsEmpty());
  EXPECT_EQ(*(*store)->Publish("m", *model), 1);
  EXPECT_EQ(*(*store)->Publish("m", *model), 2);
  EXPECT_THAT(*(*store)->ListVersions("m"), ElementsAre(1, 2));
  EXPECT_THAT(*(*store)->ListModels(), ElementsAre("m"));
  EXPECT_TRUE(ReadModelFile((*store)->ModelFilePath("m", 2)).ok());
  EXPECT_THAT(*(*store)->ListVersions("unknown"), IsEmpty());
}

TEST(ModelStoreTest, ConcurrentPublishesGetDistinctVersions) {
  auto store = ModelStore::Create({testing::ScratchDir("store_concurrent")});
  const auto model = testing::SmallModel();
  std::vector<int64_t> versions(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { versions[i] = *(*store)->Publish("m", *model); });
  }
  for (auto& t : threads) t.join();
  std::sort(versions.begin(), versions.end());
  EXPECT_THAT(versions, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
}

TEST(ModelStoreTest, IncompleteAndForeignEntriesAreNotVersions) {
  const std::string root = testing::ScratchDir("store_entries");
  auto store = ModelStore::Create({root});
  ASSERT_EQ(*(*store)->Publish("m", *testing::SmallModel()), 1);
  mkdir((root + "/m/.tmp-123").c_str(), 0755);  // a publish in progress
  mkdir((root + "/m/7").c_str(), 0755);         // no model file yet
  mkdir((root + "/m/0").c_str(), 0755);         // not a positive version
  mkdir((root + "/m/abc").c_str(), 0755);
  mkdir((root + "/.hidden").c_str(), 0755);
  std::ofstream(root + "/m/07") << "x";  // not canonical
  EXPECT_THAT(*(*store)->ListVersions("m"), ElementsAre(1));
  EXPECT_THAT(*(*store)->ListModels(), ElementsAre("m"));
  // The next publish skips past every numeric directory.
  EXPECT_EQ(*(*store)->Publish("m", *testing::SmallModel()), 8);
}

TEST(ModelStoreTest, VersionNumbersAreNeverReused) {
  const std::string root = testing::ScratchDir("store_high_water");
  {
    auto store = *ModelStore::Create({root});
    ASSERT_EQ(*store->Publish("m", *testing::SmallModel()), 1);
    ASSERT_EQ(*store->Publish("m", *testing::SmallModel()), 2);
    std::system(("rm -rf " + root + "/m/2").c_str());
    // Version 2 is gone, but its number was given out once.
    EXPECT_EQ(*store->Publish("m", *testing::SmallModel()), 3);
    EXPECT_EQ(*store->HighWaterMark("m"), 3);
    std::system(("rm -rf " + root + "/m/3").c_str());
  }
  // After a restart too.
  auto store = *ModelStore::Create({root});
  EXPECT_EQ(*store->Publish("m", *testing::SmallModel()), 4);
  EXPECT_THAT(*store->ListVersions("m"), ElementsAre(1, 4));
  EXPECT_EQ(*store->HighWaterMark("other"), 0);
}

TEST(ModelStoreTest, UnreadableHighWaterMarkRefusesToPublish) {
  const std::string root = testing::ScratchDir("store_bad_mark");
  auto store = *ModelStore::Create({root});
  ASSERT_EQ(*store->Publish("m", *testing::SmallModel()), 1);
  std::ofstream(root + "/m/" + kHighWaterMarkFileName) << "garbage";
  const absl::StatusOr<int64_t> v = store->Publish("m", *testing::SmallModel());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(v.status().message(), HasSubstr(kHighWaterMarkFileName));
  // Nothing half-published.
  EXPECT_THAT(*store->ListVersions("m"), ElementsAre(1));
  EXPECT_THAT(*ListDir(root + "/m"), ElementsAre("1", kHighWaterMarkFileName));
}

TEST(ModelStoreTest, LabelsRoundTrip) {
  auto store = ModelStore::Create({testing::ScratchDir("store_labels")});
  ASSERT_TRUE((*store)->Publish("m", *testing::SmallModel()).ok());
  EXPECT_TRUE((*store)->ReadLabels("m")->labels().empty());
  v1::ModelLabels labels;
  (*labels.mutable_labels())["stable"] = 1;
  ASSERT_TRUE((*store)->WriteLabels("m", labels).ok());
  EXPECT_EQ((*store)->ReadLabels("m")->labels().at("stable"), 1);
}

TEST(ModelStoreTest, NamesAreValidated) {
  for (const char* bad : {"", ".x", "a/b", "..", "a b", "ü"}) {
    EXPECT_FALSE(ModelStore::ValidateModelName(bad).ok()) << bad;
  }
  EXPECT_TRUE(ModelStore::ValidateModelName("fraud-v2.1_x").ok());
  EXPECT_FALSE(ModelStore::ValidateModelName(std::string(129, 'a')).ok());
  auto store = ModelStore::Create({testing::ScratchDir("store_names")});
  EXPECT_THAT((*store)->Publish("../escape", *testing::SmallModel()).status().message(),
              HasSubstr("model name"));
}

}  // namespace
}  // namespace strata

#include "server/version_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(VersionPolicyTest, Parses) {
  EXPECT_EQ(VersionPolicy::Parse("latest")->latest_n, 1);
  EXPECT_EQ(VersionPolicy::Parse("latest:3")->latest_n, 3);
  EXPECT_EQ(VersionPolicy::Parse("all")->kind, VersionPolicy::Kind::kAll);
  EXPECT_THAT(VersionPolicy::Parse("specific:2,5")->specific, ElementsAre(2, 5));
  for (const char* bad :
       {"", "latest:0", "latest:x", "newest", "specific:", "specific:0", "all:2"}) {
    EXPECT_FALSE(VersionPolicy::Parse(bad).ok()) << bad;
  }
  EXPECT_EQ(VersionPolicy::Parse("specific:2,5")->ToString(), "specific:2,5");
}

TEST(VersionPolicyTest, AspiredVersions) {
  const VersionPolicy latest = *VersionPolicy::Parse("latest");
  const VersionPolicy latest2 = *VersionPolicy::Parse("latest:2");
  const VersionPolicy all = *VersionPolicy::Parse("all");
  const VersionPolicy specific = *VersionPolicy::Parse("specific:1,4");
  const std::vector<int64_t> available = {1, 2, 3};
  EXPECT_THAT(AspiredVersions(latest, available, {}), ElementsAre(3));
  EXPECT_THAT(AspiredVersions(latest2, available, {}), ElementsAre(2, 3));
  EXPECT_THAT(AspiredVersions(all, available, {}), ElementsAre(1, 2, 3));
  EXPECT_THAT(AspiredVersions(specific, available, {}), ElementsAre(1));  // 4 is not there
  // Labels pin available versions, and only those.
  EXPECT_THAT(AspiredVersions(latest, available, {1, 9}), ElementsAre(1, 3));
  EXPECT_THAT(AspiredVersions(latest, {}, {1}), IsEmpty());
}

// The policy's half of an incident: versions 2 (labelled) and 6 served
// under latest, and a truncated 7 in the store. Asked with 7, the policy
// wants 2 and 7, and serving what loaded of that (2) dropped 6; so once 7
// fails to load the registry asks again without it, and 6 stays.
TEST(VersionPolicyTest, AVersionThatFailedToLoadMustBeLeftOutOfAvailable) {
  const VersionPolicy latest = *VersionPolicy::Parse("latest");
  EXPECT_THAT(AspiredVersions(latest, {2, 6, 7}, {2}), ElementsAre(2, 7));
  EXPECT_THAT(VersionsToServe({2, 7}, {2, 6}, {2, 6}, {2, 6, 7}), ElementsAre(2));
  EXPECT_THAT(AspiredVersions(latest, {2, 6}, {2}), ElementsAre(2, 6));
  EXPECT_THAT(VersionsToServe({2, 6}, {2, 6}, {2, 6}, {2, 6, 7}), ElementsAre(2, 6));
}

TEST(VersionPolicyTest, NeverUnloadsTheOnlyServableVersion) {
  // The new version loaded: serve it; the old one goes.
  EXPECT_THAT(VersionsToServe({2}, {1, 2}, {1}, {1, 2}), ElementsAre(2));
  // The new version failed to load: keep serving the old one.
  EXPECT_THAT(VersionsToServe({2}, {1}, {1}, {1, 2}), ElementsAre(1));
  // Nothing served and nothing loadable.
  EXPECT_THAT(VersionsToServe({3}, {}, {}, {3}), IsEmpty());
  // Some aspired versions loaded: serve those only.
  EXPECT_THAT(VersionsToServe({2, 3}, {1, 3}, {1}, {1, 2, 3}), ElementsAre(3));
}

TEST(VersionPolicyTest, VersionsDeletedFromTheStoreAreNeverKept) {
  // Every version vanished from disk: nothing is kept from memory.
  EXPECT_THAT(VersionsToServe({}, {1}, {1}, {}), IsEmpty());
  // The new version failed to load and the old one was deleted by hand:
  // only what is still in the store stays.
  EXPECT_THAT(VersionsToServe({3}, {1, 2}, {1, 2}, {2, 3}), ElementsAre(2));
}

}  // namespace
}  // namespace strata

#include "core/data/data_path.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>

#include "core/base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_data_path_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  EXPECT_TRUE(CreateDirectories(dir).ok());
  return dir;
}

void Touch(const std::string& path) { std::ofstream(path, std::ios::binary) << "1\n"; }

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  EXPECT_NE(realpath(path.c_str(), buf), nullptr) << path;
  return buf;
}

DataPathOptions Confined(const std::string& root) {
  DataPathOptions options;
  options.root = root;
  options.comma_lists = false;
  options.path_name = "csv_path";
  options.root_name = "--data_root";
  return options;
}

TEST(DataPathTest, UnconfinedTakesAFileAListADirectoryOrAGlob) {
  const std::string dir = TempDir("unconfined");
  Touch(dir + "/b.csv");
  Touch(dir + "/a.csv");
  Touch(dir + "/notes.txt");
  EXPECT_THAT(*ListDataFiles(dir + "/b.csv"), ElementsAre(dir + "/b.csv"));
  EXPECT_THAT(*ListDataFiles(dir), ElementsAre(dir + "/a.csv", dir + "/b.csv"));
  EXPECT_THAT(*ListDataFiles(dir + "/*.csv"), ElementsAre(dir + "/a.csv", dir + "/b.csv"));
  EXPECT_THAT(*ListDataFiles(dir + "/b.csv," + dir + "/a.csv"),
              ElementsAre(dir + "/b.csv", dir + "/a.csv"));
  // A name that is not there is itself: reading it says so.
  EXPECT_THAT(*ListDataFiles(dir + "/nope.csv"), ElementsAre(dir + "/nope.csv"));
  const absl::Status unmatched = ListDataFiles(dir + "/*.parquet").status();
  EXPECT_EQ(unmatched.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unmatched.message(), HasSubstr("no file matches"));
  EXPECT_EQ(ListDataFiles(",").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListDataFiles("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DataPathTest, AFileByItsWholeNameIsThatFileWhateverItsCharacters) {
  const std::string dir = TempDir("whole");
  Touch(dir + "/a,b[1].csv");
  EXPECT_THAT(*ListDataFiles(dir + "/a,b[1].csv"), ElementsAre(dir + "/a,b[1].csv"));
}

TEST(DataPathTest, ConfinedResolvesCanonicalFilesUnderTheRoot) {
  const std::string root = TempDir("confined");
  CreateDirectories(root + "/sub").IgnoreError();
  Touch(root + "/sub/a.csv");
  Touch(root + "/sub/b.csv");
  const std::string a = Canonical(root + "/sub/a.csv"), b = Canonical(root + "/sub/b.csv");
  const DataPathOptions options = Confined(root);
  EXPECT_THAT(*ResolveDataPath("sub/a.csv", options), ElementsAre(a));
  EXPECT_THAT(*ResolveDataPath("./sub/../sub/a.csv", options), ElementsAre(a));
  EXPECT_THAT(*ResolveDataPath("sub", options), ElementsAre(a, b));
  EXPECT_THAT(*ResolveDataPath("sub/?.csv", options), ElementsAre(a, b));
  const absl::Status missing = ResolveDataPath("nope.csv", options).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "csv_path 'nope.csv' does not exist under --data_root");
  const absl::Status unmatched = ResolveDataPath("sub/*.parquet", options).status();
  EXPECT_EQ(unmatched.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unmatched.message(), "csv_path 'sub/*.parquet' matches no CSV file under --data_root");
}

TEST(DataPathTest, ConfinedRefusesWhatLeadsOutsideTheRoot) {
  const std::string root = TempDir("outside");
  Touch(root + "/a.csv");
  symlink("/etc/hostname", (root + "/link.csv").c_str());
  const DataPathOptions options = Confined(root);
  const absl::Status absolute = ResolveDataPath("/etc/hostname", options).status();
  EXPECT_EQ(absolute.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(absolute.message(), "csv_path '/etc/hostname' must be relative to --data_root");
  const absl::Status climbs = ResolveDataPath("a/../../x.csv", options).status();
  EXPECT_EQ(climbs.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(climbs.message(), "csv_path 'a/../../x.csv' leads outside --data_root");
  // Through a symlink, alone or matched by a pattern.
  EXPECT_EQ(ResolveDataPath("link.csv", options).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ResolveDataPath("*.csv", options).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ResolveDataPath("", options).status().code(), absl::StatusCode::kPermissionDenied);
  DataPathOptions gone = Confined(root + "/gone");
  const absl::Status no_root = ResolveDataPath("a.csv", gone).status();
  EXPECT_EQ(no_root.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_root.message(), HasSubstr("--data_root"));
}

TEST(DataPathTest, ConfinedWithoutListsTakesACommaAsPartOfAName) {
  const std::string root = TempDir("commas");
  Touch(root + "/a.csv");
  Touch(root + "/a.csv,b.csv");
  const DataPathOptions options = Confined(root);
  EXPECT_THAT(*ResolveDataPath("a.csv,b.csv", options),
              ElementsAre(Canonical(root + "/a.csv,b.csv")));
  const absl::Status listed = ResolveDataPath("a.csv,/etc/hostname", options).status();
  EXPECT_EQ(listed.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(listed.message(), HasSubstr("does not exist under --data_root"));
}

TEST(DataPathTest, ConfinedListsCheckEveryPart) {
  const std::string root = TempDir("confined_lists");
  Touch(root + "/a.csv");
  Touch(root + "/b.csv");
  DataPathOptions options = Confined(root);
  options.comma_lists = true;
  EXPECT_THAT(*ResolveDataPath("b.csv,a.csv", options),
              ElementsAre(Canonical(root + "/b.csv"), Canonical(root + "/a.csv")));
  EXPECT_EQ(ResolveDataPath("a.csv,/etc/hostname", options).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ResolveDataPath("a.csv,../x.csv", options).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DataPathTest, TheRootsCharactersAreNotAPattern) {
  const std::string root = TempDir("odd_[x]*");
  CreateDirectories(root + "/sub").IgnoreError();
  Touch(root + "/sub/a.csv");
  const std::string a = Canonical(root + "/sub/a.csv");
  EXPECT_THAT(*ResolveDataPath("sub", Confined(root)), ElementsAre(a));
  EXPECT_THAT(*ResolveDataPath("sub/*.csv", Confined(root)), ElementsAre(a));
}

}  // namespace
}  // namespace strata

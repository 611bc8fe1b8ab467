#include "core/data/row_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_row_file_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  EXPECT_TRUE(CreateDirectories(dir).ok());
  return dir;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(RowFileTest, ShardsBecomeOneMappedFileWithTheirRowsInOrder) {
  const std::string dir = TempDir("shards");
  const Matrix a = testing::GaussianMatrix<float>(300, 5, 1);
  const Matrix b = testing::GaussianMatrix<float>(7, 5, 2);
  Write(dir + "/part-0.csv", testing::CsvText(a));
  Write(dir + "/part-1.csv", testing::CsvText(b));
  absl::StatusOr<std::vector<std::string>> files = ListDataFiles(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);

  RowFile::Source source;
  source.files = *files;
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->converted());
  EXPECT_EQ((*file)->path(), RowFile::PathFor(source));
  EXPECT_EQ((*file)->path().rfind(dir + "/.strata-rows-", 0), 0u) << (*file)->path();
  EXPECT_THAT((*file)->column_names(), ::testing::ElementsAre("c0", "c1", "c2", "c3", "c4"));
  ASSERT_EQ((*file)->rows().rows(), 307);
  ASSERT_EQ((*file)->rows().cols(), 5);
  EXPECT_EQ(Matrix((*file)->rows().topRows(300)), a);
  EXPECT_EQ(Matrix((*file)->rows().bottomRows(7)), b);
  // The data starts on a page boundary of the file.
  struct stat st = {};
  ASSERT_EQ(stat((*file)->path().c_str(), &st), 0);
  EXPECT_EQ((st.st_size - 307 * 5 * 4) % 4096, 0);

  // The same unchanged shards: mapped again, not converted.
  absl::StatusOr<std::unique_ptr<RowFile>> again = RowFile::FromCsv(source);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE((*again)->converted());
  EXPECT_EQ(Matrix((*again)->rows()), Matrix((*file)->rows()));
}

TEST(RowFileTest, AChangedShardOrOptionMakesAnotherFile) {
  const std::string dir = TempDir("changed");
  Write(dir + "/a.csv", "x,y,label\n1,2,0\n3,4,1\n");
  RowFile::Source source;
  source.files = {dir + "/a.csv"};
  source.csv.drop_columns = {"label"};
  absl::StatusOr<std::unique_ptr<RowFile>> first = RowFile::FromCsv(source);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT((*first)->column_names(), ::testing::ElementsAre("x", "y"));

  Write(dir + "/a.csv", "x,y,label\n1,2,0\n3,4,1\n5,6,0\n");
  absl::StatusOr<std::unique_ptr<RowFile>> grown = RowFile::FromCsv(source);
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_TRUE((*grown)->converted());
  EXPECT_EQ((*grown)->rows().rows(), 3);

  source.csv.drop_columns = {};
  absl::StatusOr<std::unique_ptr<RowFile>> all = RowFile::FromCsv(source);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)->rows().cols(), 3);
  EXPECT_NE((*all)->path(), (*grown)->path());
}

TEST(RowFileTest, ShardsWithOtherColumnsOrBadCellsAreRefusedAndLeaveNoFile) {
  const std::string dir = TempDir("refused");
  Write(dir + "/1.csv", "x,y\n1,2\n");
  Write(dir + "/2.csv", "y,x\n3,4\n");
  RowFile::Source source;
  source.files = {dir + "/1.csv", dir + "/2.csv"};
  absl::StatusOr<std::unique_ptr<RowFile>> swapped = RowFile::FromCsv(source);
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(swapped.status().message(), HasSubstr(dir + "/2.csv has the columns y,x"));

  Write(dir + "/2.csv", "x,y\n3,4\n5,oops\n");
  absl::StatusOr<std::unique_ptr<RowFile>> bad = RowFile::FromCsv(source);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("2.csv"));
  EXPECT_THAT(bad.status().message(), HasSubstr("line 3"));

  source.csv.label_column = "y";
  EXPECT_EQ(RowFile::FromCsv(source).status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing half-written is left: no row file and no temporary.
  absl::StatusOr<std::vector<std::string>> left = ListDir(dir);
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(*left, ::testing::ElementsAre("1.csv", "2.csv"));
  EXPECT_NE(access(RowFile::PathFor(source).c_str(), F_OK), 0);
}

TEST(RowFileTest, CacheDirectoryHoldsTheFileAndAnUnusableOneIsNamed) {
  const std::string dir = TempDir("cache");
  const std::string cache = TempDir("cache_out");
  Write(dir + "/d.csv", "1,2\n3,4\n");
  RowFile::Source source;
  source.files = {dir + "/d.csv"};
  source.cache_dir = cache;
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path().rfind(cache + "/", 0), 0u);
  EXPECT_THAT((*file)->column_names(), ::testing::ElementsAre("f0", "f1"));

  source.cache_dir = dir + "/d.csv/sub";  // under a file: not a directory
  absl::StatusOr<std::unique_ptr<RowFile>> unusable = RowFile::FromCsv(source);
  ASSERT_FALSE(unusable.ok());
  EXPECT_THAT(unusable.status().message(), HasSubstr("cache directory"));
}

TEST(RowFileTest, OpenRefusesWhatIsNotACompleteRowFile) {
  const std::string dir = TempDir("open");
  Write(dir + "/a.csv", testing::CsvText(testing::GaussianMatrix<float>(50, 3, 4)));
  RowFile::Source source;
  source.files = {dir + "/a.csv"};
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string path = (*file)->path();
  file->reset();
  // Cut short, as by a full disk.
  ASSERT_EQ(truncate(path.c_str(), 4096 + 40 * 12), 0);
  absl::StatusOr<std::unique_ptr<RowFile>> cut = RowFile::Open(path);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cut.status().message(), HasSubstr("not a complete row file"));
  // FromCsv then converts it again.
  absl::StatusOr<std::unique_ptr<RowFile>> again = RowFile::FromCsv(source);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->converted());
  EXPECT_EQ((*again)->rows().rows(), 50);

  Write(dir + "/a.csv.f32", "not a row file at all, but long enough to read a header from it");
  EXPECT_THAT(RowFile::Open(dir + "/a.csv.f32").status().message(),
              HasSubstr("no row file header"));
  EXPECT_EQ(RowFile::Open(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(RowFileTest, AShardRewrittenWithItsSizeAndTimeKeptIsConvertedAgain) {
  const std::string dir = TempDir("same_size");
  const std::string shard = dir + "/a.csv";
  Write(shard, "x,y\n1,2\n3,4\n");
  struct stat before = {};
  ASSERT_EQ(stat(shard.c_str(), &before), 0);
  RowFile::Source source;
  source.files = {shard};
  ASSERT_TRUE(RowFile::FromCsv(source).ok());
  // Same size, same modification time (as a copy preserving times).
  Write(shard, "x,y\n5,6\n7,8\n");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, shard.c_str(), times, 0), 0);
  absl::StatusOr<std::unique_ptr<RowFile>> again = RowFile::FromCsv(source);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->converted());
  EXPECT_EQ((*again)->rows()(0, 0), 5.0f);
}

TEST(RowFileTest, HostileHeadersAreRefusedNotTrusted) {
  const std::string dir = TempDir("hostile");
  Write(dir + "/a.csv", "x,y\n1,2\n3,4\n");
  RowFile::Source source;
  source.files = {dir + "/a.csv"};
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string good = ReadFileToString((*file)->path()).value();
  file->reset();
  // Fields at their offsets: cols at 20, rows at 24, data offset at 32.
  const auto patched = [&](size_t at, const void* value, size_t bytes) {
    std::string bad = good;
    bad.replace(at, bytes, static_cast<const char*>(value), bytes);
    const std::string path = dir + "/patched.f32";
    Write(path, bad);
    return RowFile::Open(path).status();
  };
  const int64_t negative_rows = -2, huge_rows = int64_t{1} << 61;
  const uint32_t three_cols = 3, wide = uint32_t{1} << 30;
  const uint64_t misaligned = 4000;
  for (const absl::Status& s :
       {patched(24, &negative_rows, 8), patched(24, &huge_rows, 8), patched(20, &three_cols, 4),
        patched(20, &wide, 4), patched(32, &misaligned, 8)}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("not a complete row file")) << s;
  }
}

TEST(RowFileTest, ListDataFilesTakesAFileAListADirectoryOrAGlob) {
  const std::string dir = TempDir("list");
  Write(dir + "/b.csv", "1\n");
  Write(dir + "/a.csv", "1\n");
  Write(dir + "/notes.txt", "x\n");
  EXPECT_THAT(*ListDataFiles(dir), ::testing::ElementsAre(dir + "/a.csv", dir + "/b.csv"));
  EXPECT_THAT(*ListDataFiles(dir + "/*.csv"),
              ::testing::ElementsAre(dir + "/a.csv", dir + "/b.csv"));
  EXPECT_THAT(*ListDataFiles(dir + "/b.csv," + dir + "/a.csv"),
              ::testing::ElementsAre(dir + "/b.csv", dir + "/a.csv"));
  EXPECT_EQ(ListDataFiles(dir + "/*.parquet").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata

// core/file_util: each failure mapped to a precise status, and writes that
// replace a file whole.
#include "core/base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Scratch(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_file_util_" + name;
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  return dir;
}

TEST(ErrnoToStatusTest, EachErrnoHasItsCodeAndTheMessageNamesWhatAndWhere) {
  const absl::Status s = ErrnoToStatus("cannot open", "/a/b", ENOENT);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), std::string("cannot open /a/b: ") + std::strerror(ENOENT));
  EXPECT_EQ(ErrnoToStatus("x", "p", EACCES).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus("x", "p", EPERM).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus("x", "p", ENOSPC).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus("x", "p", EDQUOT).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus("x", "p", EIO).code(), absl::StatusCode::kInternal);
}

TEST(WriteFileAtomicallyTest, WritesAndReplacesTheWholeFileLeavingNoTempFile) {
  const std::string dir = Scratch("write");
  const std::string path = dir + "/f.bin";
  const std::string big(200000, 'x');  // more than one write() may take
  ASSERT_TRUE(WriteFileAtomically(path, big).ok());
  EXPECT_EQ(*ReadFileToString(path), big);
  ASSERT_TRUE(WriteFileAtomically(path, std::string("a\0b", 3)).ok());
  EXPECT_EQ(*ReadFileToString(path), std::string("a\0b", 3));
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(*ReadFileToString(path), "");
  EXPECT_THAT(*ListDir(dir), ElementsAre("f.bin"));
}

TEST(WriteFileAtomicallyTest, ReplacesByRenameSoAReaderOfTheOldFileSeesItWhole) {
  // A reader that opened the file before the write keeps reading the old
  // contents: the new ones went to another file, renamed over the name.
  // (Writing in place would truncate what that reader sees.)
  const std::string path = Scratch("rename") + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents").ok());
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat before, after;
  ASSERT_EQ(fstat(fd, &before), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  char buf[64] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf), 0);
  close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "old contents");
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  EXPECT_EQ(*ReadFileToString(path), "new");
}

TEST(WriteFileAtomicallyTest, AMissingDirectoryIsNotFoundNamingItAndCreatesNothing) {
  const std::string dir = Scratch("missing");
  const absl::Status s = WriteFileAtomically(dir + "/nope/f", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr(dir + "/nope/"));
  EXPECT_THAT(*ListDir(dir), IsEmpty());
}

TEST(WriteFileAtomicallyTest, ATargetThatIsADirectoryFailsAndLeavesNoTempFile) {
  const std::string dir = Scratch("onto_dir");
  ASSERT_EQ(mkdir((dir + "/d").c_str(), 0755), 0);
  const absl::Status s = WriteFileAtomically(dir + "/d", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot rename onto " + dir + "/d"));
  EXPECT_THAT(*ListDir(dir), ElementsAre("d"));
}

TEST(ReadFileToStringTest, MissingFilesDirectoriesAndSizeLimitsAreRefusedPrecisely) {
  const std::string dir = Scratch("read");
  const absl::StatusOr<std::string> missing = ReadFileToString(dir + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot open " + dir + "/nope"));
  const absl::StatusOr<std::string> directory = ReadFileToString(dir);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(), HasSubstr("is a directory"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/ten", "0123456789").ok());
  EXPECT_EQ(*ReadFileToString(dir + "/ten", 10), "0123456789");  // the limit itself is fine
  const absl::StatusOr<std::string> large = ReadFileToString(dir + "/ten", 9);
  EXPECT_EQ(large.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(large.status().message(), HasSubstr("has 10 bytes or more, larger than the 9"));
  // A file whose size stat cannot tell (it reads 0) is stopped while read.
  const absl::StatusOr<std::string> endless = ReadFileToString("/dev/zero", 1000);
  EXPECT_EQ(endless.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(endless.status().message(), HasSubstr("larger than the 1000"));
}

TEST(ListDirTest, SortedNamesWithoutDotFilesAndEmptyWhenMissing) {
  const std::string dir = Scratch("list");
  for (const char* name : {"b", "a", ".hidden", "c"}) std::ofstream(dir + "/" + name) << "x";
  EXPECT_THAT(*ListDir(dir), ElementsAre("a", "b", "c"));
  EXPECT_THAT(*ListDir(dir + "/missing"), IsEmpty());
  // A file is not a directory: an error, not an empty list.
  EXPECT_FALSE(ListDir(dir + "/a").ok());
}

TEST(CreateDirectoriesTest, CreatesParentsAcceptsExistingAndRefusesAFileInTheWay) {
  const std::string dir = Scratch("mkdir");
  ASSERT_TRUE(CreateDirectories(dir + "/x/y/z").ok());
  struct stat st;
  ASSERT_EQ(stat((dir + "/x/y/z").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(CreateDirectories(dir + "/x/y").ok());  // exists already
  std::ofstream(dir + "/file") << "x";
  const absl::Status onto_file = CreateDirectories(dir + "/file");
  EXPECT_EQ(onto_file.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(onto_file.message(), HasSubstr(dir + "/file is not a directory"));
  const absl::Status under_file = CreateDirectories(dir + "/file/sub");
  EXPECT_FALSE(under_file.ok());
  EXPECT_THAT(under_file.message(), HasSubstr("cannot create directory " + dir + "/file/sub"));
}

}  // namespace
}  // namespace strata

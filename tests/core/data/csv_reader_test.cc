#include "core/data/csv_reader.h"

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CsvReaderTest, DetectsHeaderAndDropsColumnsByName) {
  CsvOptions options;
  options.drop_columns = {"label"};
  auto t = ParseCsv("a,b,label\n1,2,0\n3.5,-4e2,1\n", options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->column_names, ElementsAre("a", "b"));
  ASSERT_EQ(t->values.rows(), 2);
  ASSERT_EQ(t->values.cols(), 2);
  EXPECT_EQ(t->values(1, 0), 3.5f);
  EXPECT_EQ(t->values(1, 1), -400.0f);
}

TEST(CsvReaderTest, LabelColumnIsKeptAsTextWithEachRowsLine) {
  CsvOptions options;
  options.label_column = "kind";
  auto t = ParseCsv("a,kind,b\n1,cat,2\n\n3,,4\n5,\" dog \",6\n", options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->column_names, ElementsAre("a", "b"));
  EXPECT_THAT(t->labels, ElementsAre("cat", "", "dog"));
  EXPECT_THAT(t->lines, ElementsAre(2, 4, 5));
  EXPECT_EQ(t->values(2, 1), 6.0f);
  options.label_column = "knd";
  EXPECT_THAT(ParseCsv("a,kind\n1,x\n", options).status().message(),
              HasSubstr("no label column 'knd': the columns are a, kind"));
  // Two columns of that name: one would stay among the features.
  options.label_column = "kind";
  EXPECT_THAT(ParseCsv("kind,a,kind\nx,1,y\n", options).status().message(),
              HasSubstr("label column 'kind' names columns 1 and 3"));
}

TEST(CsvReaderTest, WithoutHeaderNamesColumnsByPosition) {
  CsvOptions options;
  options.drop_columns = {"f2"};
  auto t = ParseCsv("1,2,3\r\n4,5,6\r\n\r\n", options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->column_names, ElementsAre("f0", "f1"));
  EXPECT_EQ(t->values.rows(), 2);
  EXPECT_EQ(t->values(1, 1), 5.0f);
}

TEST(CsvReaderTest, QuotedHeaderAndForcedHeaderModes) {
  auto t = ParseCsv("\"x\",\"y\"\n1,2\n", {});
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(t->column_names, ElementsAre("x", "y"));
  CsvOptions present;
  present.header = CsvOptions::Header::kPresent;
  auto numeric_header = ParseCsv("10,20\n1,2\n", present);
  ASSERT_TRUE(numeric_header.ok());
  EXPECT_EQ(numeric_header->values.rows(), 1);
  EXPECT_THAT(numeric_header->column_names, ElementsAre("10", "20"));
}

TEST(CsvReaderTest, ByteOrderMarkIsNotPartOfTheFirstCell) {
  // Headerless: 4 rows in, 4 rows out (the BOM once turned row 1 into a header).
  auto rows = ParseCsv(
      "\xEF\xBB\xBF"
      "1,2\n3,4\n5,6\n7,8\n",
      {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_FALSE(rows->has_header);
  EXPECT_EQ(rows->values.rows(), 4);
  EXPECT_EQ(rows->values(0, 0), 1.0f);
  // With a header, the first name is clean and can be dropped by name.
  CsvOptions options;
  options.drop_columns = {"label"};
  auto named = ParseCsv(
      "\xEF\xBB\xBF"
      "label,x\n0,2\n",
      options);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_TRUE(named->has_header);
  EXPECT_THAT(named->column_names, ElementsAre("x"));
}

TEST(CsvReaderTest, FirstLineMixingNamesAndNumbersIsAnError) {
  // A typo in a headerless file's first row is not a header.
  auto t = ParseCsv("x0.0011,0.5,0.25\n1,2,3\n", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("line 1, column 1: 'x0.0011' is not a number"));
  EXPECT_THAT(t.status().message(), HasSubstr("--header"));
  // Forced, either way, it parses as told.
  CsvOptions present;
  present.header = CsvOptions::Header::kPresent;
  EXPECT_EQ(ParseCsv("x0.0011,0.5,0.25\n1,2,3\n", present)->values.rows(), 1);
  EXPECT_EQ(*ParseCsvHeaderMode("no"), CsvOptions::Header::kAbsent);
  EXPECT_FALSE(ParseCsvHeaderMode("maybe").ok());
}

TEST(CsvReaderTest, NonNumericCellNamesLineAndColumn) {
  auto t = ParseCsv("a,b\n1,2\n3,oops\n", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("line 3, column 2 (b)"));
  EXPECT_THAT(t.status().message(), HasSubstr("'oops' is not a number"));
}

TEST(CsvReaderTest, RaggedRowsAreRejected) {
  auto t = ParseCsv("a,b\n1,2\n3\n", {});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("line 3: 1 columns, expected 2"));
}

TEST(CsvReaderTest, NanInfAndEmptyCellsAreRejected) {
  for (const char* bad : {"nan", "NaN", "inf", "-Infinity", "1e999"}) {
    auto t = ParseCsv(std::string("a,b\n1,") + bad + "\n", {});
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("line 2, column 2 (b)")) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("not finite")) << bad;
  }
  auto empty = ParseCsv("a,b\n1,\n", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("line 2, column 2 (b): empty cell"));
}

TEST(CsvReaderTest, UnknownDropColumnListsColumns) {
  CsvOptions options;
  options.drop_columns = {"target"};
  auto t = ParseCsv("a,b\n1,2\n", options);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("cannot drop column 'target': the columns are a, b"));
}

// A file without a header line has no column called 'label': it says so,
// rather than that f0, f1, ... hold no 'label' (a headerless shard among
// shards with a header).
TEST(CsvReaderTest, DroppingANamedColumnOfAHeaderlessFileSaysItHasNoHeader) {
  CsvOptions options;
  options.drop_columns = {"label"};
  const absl::Status detected = ParseCsv("1,2,0\n3,4,1\n", options).status();
  EXPECT_EQ(detected.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(detected.message(),
            "cannot drop column 'label': the file has no header line (its first line is a row of "
            "numbers), so its columns are named by position, f0 to f2; give it the header line, "
            "or drop a column by position (f<i>, counting from f0)");
  options.header = CsvOptions::Header::kAbsent;
  EXPECT_THAT(ParseCsv("1,2,0\n3,4,1\n", options).status().message(),
              HasSubstr("no header line (--header no)"));
}

TEST(CsvReaderTest, AShardWithoutAHeaderAmongShardsWithOneIsNamed) {
  const absl::Status s =
      CheckShardColumns("a.csv", {"x", "y", "label"}, "b.csv", {"f0", "f1", "f2"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "b.csv has no header line (its first line is a row of numbers), while a.csv names its "
            "columns (x, y, label): every shard needs the same header line");
  // The first shard the one without.
  EXPECT_THAT(CheckShardColumns("a.csv", {"f0", "f1"}, "b.csv", {"x", "y"}).message(),
              HasSubstr("a.csv has no header line"));
  // Both named, differently: both sets of names.
  EXPECT_THAT(CheckShardColumns("a.csv", {"x", "y"}, "b.csv", {"y", "x"}).message(),
              HasSubstr("b.csv has the columns y,x; a.csv has x,y"));
  EXPECT_TRUE(CheckShardColumns("a.csv", {"x", "y"}, "b.csv", {"x", "y"}).ok());
}

TEST(CsvReaderTest, DroppedColumnNeedNotBeNumeric) {
  CsvOptions options;
  options.drop_columns = {"kind"};
  auto t = ParseCsv("x,kind\n1,cat\n2,dog\n", options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->values.cols(), 1);
}

TEST(CsvReaderTest, EmptyInputsAreErrors) {
  EXPECT_FALSE(ParseCsv("", {}).ok());
  EXPECT_FALSE(ParseCsv("\n\n", {}).ok());
  EXPECT_THAT(ParseCsv("a,b\n", {}).status().message(), HasSubstr("no rows"));
}

TEST(CsvReaderTest, ReadsFilesAndNamesThePathInErrors) {
  const std::string path = ::testing::TempDir() + "/csv_reader_test.csv";
  std::ofstream(path) << "a,b\n1,x\n";
  auto t = ReadCsvFile(path, {});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr(path + ": line 2"));
  auto missing = ReadCsvFile(path + ".missing", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(CsvReaderTest, ReadsTheBundledThyroidSet) {
  CsvOptions options;
  options.drop_columns = {"label"};
  auto t = ReadCsvFile("data/thyroid.csv", options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->values.rows(), 3772);
  EXPECT_EQ(t->values.cols(), 6);
  EXPECT_THAT(t->column_names, ElementsAre("f0", "f1", "f2", "f3", "f4", "f5"));
}

// How much the process's peak resident memory grew while reading `path`,
// and EstimateCsvReadBytes's figure for it. Each test runs in its own
// process (ctest), so the peak before is the test binary's own.
void ReadPeakAndEstimate(const std::string& path, int64_t* grown, int64_t* estimate) {
  absl::StatusOr<int64_t> e = EstimateCsvReadBytes(path);
  ASSERT_TRUE(e.ok()) << e.status();
  *estimate = *e;
  rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  absl::StatusOr<CsvTable> table = ReadCsvFile(path, {});
  ASSERT_TRUE(table.ok()) << table.status();
  getrusage(RUSAGE_SELF, &after);
  *grown = (after.ru_maxrss - before.ru_maxrss) * 1024;
  std::cout << path << ": peak grew by " << *grown << " bytes; estimate " << *estimate << "\n";
}

bool UnderSanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#endif
#endif
  return false;
}

// One column of short lines: the lines' bookkeeping, not the text, is most
// of the memory (the job check once counted the text alone, ~20x short).
TEST(CsvReaderTest, TheReadEstimateBoundsTheRealPeakOfShortLines) {
  if (UnderSanitizer()) GTEST_SKIP() << "sanitizers change what memory a read takes";
  const std::string path = ::testing::TempDir() + "/strata_csv_narrow.csv";
  {
    std::ofstream out(path);
    out << "x\n";
    for (int r = 0; r < 1500000; ++r) out << r % 10 << "\n";
  }
  int64_t grown = 0, estimate = 0;
  ReadPeakAndEstimate(path, &grown, &estimate);
  EXPECT_GT(grown, 10 * 3000000) << "the text alone is ~3 MB";
  EXPECT_LE(grown, estimate);
  std::remove(path.c_str());
}

// Wide rows: about the text and its floats, not many times more.
TEST(CsvReaderTest, TheReadEstimateOfWideRowsIsAboutTheTextAndItsValues) {
  if (UnderSanitizer()) GTEST_SKIP() << "sanitizers change what memory a read takes";
  const std::string path = ::testing::TempDir() + "/strata_csv_wide.csv";
  int64_t size = 0;
  {
    std::ofstream out(path);
    for (int r = 0; r < 4000; ++r) {
      for (int c = 0; c < 500; ++c) out << (c ? "," : "") << (r + c) % 7 << ".5";
      out << "\n";
    }
    size = out.tellp();
  }
  int64_t grown = 0, estimate = 0;
  ReadPeakAndEstimate(path, &grown, &estimate);
  EXPECT_LE(grown, estimate);
  // Text plus 4 bytes per 4-byte cell: twice the text, and a margin.
  EXPECT_LE(estimate, 2.5 * static_cast<double>(size));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace strata

// CSV input to the strata CLI against the real server: header columns are
// matched to the model's features by name, header detection never eats a
// row, --header reaches --server_csv training, and a row the model cannot
// score is named by its place in the input.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_server_fixture.h"
#include "tests/testing/shell.h"

namespace strata {
namespace {

using testing::CliServerTest;
using ::testing::HasSubstr;
using testing::Head;
using testing::Tail;
using Result = testing::ShellResult;

// Issue 14, item 2: a header's columns are matched to the model's features
// by name, whatever their order; headerless input goes by position.
TEST_F(CliServerTest, NamedColumnsAreMatchedByNameInAnyOrder) {
  ASSERT_EQ(TrainThyroid().exit_code, 0);
  const std::string straight = dir_ + "/straight.csv", reversed = dir_ + "/reversed.csv";
  std::system(absl::StrCat("head -400 data/thyroid.csv | cut -d, -f1-6 > ", straight).c_str());
  std::system(absl::StrCat("head -400 data/thyroid.csv | awk -F, -v OFS=, "
                           "'{print $6,$5,$4,$3,$2,$1}' > ",
                           reversed)
                  .c_str());
  Result a = Strata("score --model m --feature_errors < " + straight);
  Result b = Strata("score --model m --feature_errors < " + reversed);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(b.exit_code, 0) << b.output;
  // The same scores and per-feature errors, in the model's column order.
  EXPECT_TRUE(a.output == b.output) << Head(a) << "\n---\n" << Head(b);
  // The same codes too.
  Result codes_a = Strata("encode --model m < " + straight);
  Result codes_b = Strata("encode --model m < " + reversed);
  ASSERT_EQ(codes_a.exit_code, 0) << codes_a.output;
  EXPECT_TRUE(codes_a.output == codes_b.output) << Head(codes_a) << "\n---\n" << Head(codes_b);
  EXPECT_THAT(a.output, HasSubstr("error_f0,error_f1"));
  // In the right order about 1% of these rows are above the p99 threshold;
  // read by position, the reversed columns put a large share above it (396
  // of 399 when the issue was filed; 146 since issue 32 bounded the code
  // Gaussian's condition number, which had weighed a near-constant code
  // unit a million times its neighbours).
  std::system(absl::StrCat("tail -n +2 ", reversed, " > ", dir_, "/reversed_noheader.csv").c_str());
  Result wrong = Strata("score --model m < " + dir_ + "/reversed_noheader.csv");
  ASSERT_EQ(wrong.exit_code, 0) << Head(wrong);
  // The count in the summary line "m version 1: N of 399 rows above ...".
  const auto above = [](const std::string& out) {
    const size_t at = out.find(" of 399 rows above");
    if (at == std::string::npos || at == 0) return -1;
    return std::atoi(out.c_str() + out.rfind(' ', at - 1) + 1);
  };
  EXPECT_GE(above(a.output), 0) << Tail(a);
  EXPECT_LE(above(a.output), 12) << Tail(a);
  EXPECT_GE(above(wrong.output), 100) << Tail(wrong);
  Result r = Strata("reconstruct --model m < " + reversed);
  ASSERT_EQ(r.exit_code, 0) << Head(r);
  EXPECT_THAT(r.output, HasSubstr("\nf0,f1,f2,f3,f4,f5\n"));
  // A column the model lacks, or one missing: both sets of names listed.
  Result missing = Strata("score --model m --drop_columns f3 < " + straight);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("missing from the input: f3"));
  EXPECT_THAT(missing.output, HasSubstr("the model's features: f0, f1, f2, f3, f4, f5"));
  // Headerless: by position, and the count must match.
  std::system(absl::StrCat("sed -n 2,6p data/thyroid.csv > ", dir_, "/seven.csv").c_str());
  Result seven = Strata("score --model m < " + dir_ + "/seven.csv");
  EXPECT_EQ(seven.exit_code, 1);
  EXPECT_THAT(seven.output, HasSubstr("the input has 7 columns and no header"));
  std::system(absl::StrCat("tail -n +2 ", straight, " > ", dir_, "/noheader.csv").c_str());
  Result positional = Strata("score --model m < " + dir_ + "/noheader.csv");
  Result named = Strata("score --model m < " + straight);
  ASSERT_EQ(positional.exit_code, 0) << Head(positional);
  EXPECT_TRUE(positional.output == named.output) << Head(positional) << "\n---\n" << Head(named);
}

// A row the model cannot score is named by its place in the input, whether
// the batches go as unary calls or down one stream.
TEST_F(CliServerTest, AFailedRowIsNamedByItsPlaceInTheInput) {
  ASSERT_EQ(TrainThyroid().exit_code, 0);
  // Row 5 (from 0) overflows the model: a finite value far outside training.
  const std::string rows = dir_ + "/overflow.csv";
  std::system(absl::StrCat("sed -n 2,9p data/thyroid.csv | cut -d, -f1-6 | "
                           "sed '6s/^[^,]*,/3e38,/' > ",
                           rows)
                  .c_str());
  // Unary and streamed, the same words name the rows in the input (a
  // stream adds the server's own account of its message).
  const std::string where = "strata score: rows 4 to 7 of the input, counting from 0: ";
  Result unary = Strata("score --model m --batch_rows 4 < " + rows);
  EXPECT_EQ(unary.exit_code, 1);
  EXPECT_THAT(unary.output, HasSubstr(where + "row 1: "));
  Result stream = Strata("score --model m --batch_rows 4 --stream < " + rows);
  EXPECT_EQ(stream.exit_code, 1);
  EXPECT_THAT(stream.output, HasSubstr(where + "stream message 1 (rows 4 to 7 of the stream, "
                                               "counting from 0): row 1: "));
}

// Issue 14, item 3: header detection never eats a data row.
TEST_F(CliServerTest, HeaderDetectionNeverDropsARow) {
  ASSERT_EQ(TrainThyroid().exit_code, 0);
  // A headerless file with a UTF-8 byte-order mark: 4 rows in, 4 out.
  const std::string bom = dir_ + "/bom.csv";
  std::system(absl::StrCat("printf '\\357\\273\\277' > ", bom,
                           " && sed -n 2,5p data/thyroid.csv | cut -d, -f1-6 >> ", bom)
                  .c_str());
  Result scored = Strata("score --model m < " + bom);
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  EXPECT_THAT(scored.output, HasSubstr("of 4 rows above"));
  EXPECT_EQ(std::count(scored.output.begin(), scored.output.end(), '\n'), 1 + 4 + 1)
      << scored.output;
  // The mark does not stick to the first header name either.
  const std::string named = dir_ + "/bom_named.csv";
  std::system(absl::StrCat("printf '\\357\\273\\277' > ", named,
                           " && awk -F, -v OFS=, 'NR<=5 {print $7,$1,$2,$3,$4,$5,$6}' "
                           "data/thyroid.csv >> ",
                           named)
                  .c_str());
  Result dropped = Strata("score --model m --drop_columns label < " + named);
  ASSERT_EQ(dropped.exit_code, 0) << dropped.output;
  EXPECT_THAT(dropped.output, HasSubstr("of 4 rows above"));
  // A typo in a headerless file's first row is an error naming the cell.
  const std::string typo = dir_ + "/typo.csv";
  std::system(absl::StrCat("sed -n 2,5p data/thyroid.csv | cut -d, -f1-6 | "
                           "sed '1s/^[^,]*,/x0.0011,/' > ",
                           typo)
                  .c_str());
  Result bad = Strata("score --model m < " + typo);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("line 1, column 1: 'x0.0011' is not a number"));
}

// A header of numbers (pandas writes 0,1,2,... by default) is detected as a
// data row; --header yes must reach the server for --server_csv too (before,
// it was dropped and the header trained as a row).
TEST_F(CliServerTest, ServerCsvTrainingHonoursTheHeaderFlag) {
  std::system(absl::StrCat("awk -F, -v OFS=, 'NR == 1 { print \"0,1,2,3,4,5\"; next } "
                           "{ print $1,$2,$3,$4,$5,$6 }' data/thyroid.csv > ",
                           dir_, "/data/numbered.csv")
                  .c_str());
  const Result header =
      Strata("train --model n --server_csv numbered.csv --header yes --wait --quiet");
  ASSERT_EQ(header.exit_code, 0) << header.output;
  const Result jobs = Strata("jobs --model n --output json");
  EXPECT_THAT(jobs.output, HasSubstr("\"rows\": \"3772\"")) << jobs.output;
  const Result no = Strata("train --model n --server_csv numbered.csv --header no --wait --quiet");
  ASSERT_EQ(no.exit_code, 0) << no.output;
  EXPECT_THAT(Strata("jobs --model n --output json").output, HasSubstr("\"rows\": \"3773\""));
}

}  // namespace
}  // namespace strata

#include "core/data/class_labels.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ClassLabelsTest, DistinctLabelsSortNumericallyAndEmptyMeansUnlabelled) {
  const std::vector<std::string> labels = {"10", "2", "", " 9 ", "2", "  "};
  auto indexed = IndexClassLabels(labels, {});
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_THAT(indexed->names, ElementsAre("2", "9", "10"));
  EXPECT_THAT(indexed->classes, ElementsAre(2, 0, kUnlabelled, 1, 0, kUnlabelled));
}

TEST(ClassLabelsTest, TextLabelsSortAsText) {
  auto indexed = IndexClassLabels(std::vector<std::string>{"cat", "dog", "3", "cat"}, {});
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_THAT(indexed->names, ElementsAre("3", "cat", "dog"));
  EXPECT_THAT(indexed->classes, ElementsAre(1, 2, 0, 1));
}

TEST(ClassLabelsTest, DeclaredClassesKeepTheirOrderAndRefuseOthersNamingTheRow) {
  const std::vector<std::string> declared = {"normal", "attack", "unused"};
  auto indexed = IndexClassLabels(std::vector<std::string>{"attack", "", "normal"}, declared);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_THAT(indexed->names, ElementsAre("normal", "attack", "unused"));
  EXPECT_THAT(indexed->classes, ElementsAre(1, kUnlabelled, 0));

  auto unknown = IndexClassLabels(std::vector<std::string>{"normal", "atack"}, declared);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("row 1: class 'atack'"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("normal, attack, unused"));
  // With each row's line, the message names the line.
  const std::vector<int> lines = {2, 4};
  auto by_line = IndexClassLabels(std::vector<std::string>{"normal", "atack"}, declared, lines);
  EXPECT_THAT(by_line.status().message(), HasSubstr("line 4: class 'atack'"));
}

TEST(ClassLabelsTest, TooFewClassesOrLabelsAreRefused) {
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"", " "}, {}).status().message(),
              HasSubstr("none of the 2 rows has a class label"));
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"a", "a", ""}, {}).status().message(),
              HasSubstr("at least 2"));
  EXPECT_THAT(ValidateClassNames(std::vector<std::string>{"a"}).message(),
              HasSubstr("lists 1 classes"));
  EXPECT_THAT(ValidateClassNames(std::vector<std::string>{"a", "b", "a"}).message(),
              HasSubstr("'a' twice"));
  EXPECT_THAT(ValidateClassNames(std::vector<std::string>{"a", " b"}).message(),
              HasSubstr("spaces"));
  EXPECT_TRUE(ValidateClassNames({}).ok());
  // Names that would break strata predict's CSV, and one number written two
  // ways (which would be two classes in no set order).
  EXPECT_THAT(ValidateClassNames(std::vector<std::string>{"a,b", "c"}).message(),
              HasSubstr("'a,b' has a comma"));
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"x", "say \"y\""}, {}).status().message(),
              HasSubstr("row 1: class 'say \\\"y\\\"' has a comma, a quote"));
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"1", "2", "01"}, {}).status().message(),
              HasSubstr("are the number 1 written two ways"));
  // By value, not by integer text alone: a float column's "3.0" is "3".
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"3", "3.0", "4"}, {}).status().message(),
              HasSubstr("'3' and '3.0' are the number 3 written two ways"));
  // Decimals order by value.
  const auto decimals = IndexClassLabels(std::vector<std::string>{"0.5", "10", "2.5"}, {});
  ASSERT_TRUE(decimals.ok()) << decimals.status();
  EXPECT_THAT(decimals->names, ::testing::ElementsAre("0.5", "2.5", "10"));
}

// R and pandas write a missing label as NA: read as a class it became one
// (classes 0 to 9 and NA), and Predict answered NA.
TEST(ClassLabelsTest, MissingValueMarkersAreUnlabelledInAnyCase) {
  for (const char* marker : {"", "  ", "NA", "na", " NA ", "NaN", "nan", "N/A", "n/a", "null",
                             "NULL", "None", "none", "<NA>", "#N/A"}) {
    EXPECT_TRUE(IsMissingLabel(marker)) << "'" << marker << "'";
  }
  for (const char* label : {"0", "N", "A", "NAN1", "nana", "N/A/B", "Nonet", "-", "?"}) {
    EXPECT_FALSE(IsMissingLabel(label)) << label;
  }
  // Two classes, sorted as numbers: NA is neither a third class nor text
  // that turns the sort into a text sort.
  auto indexed = IndexClassLabels(
      std::vector<std::string>{"10", "NA", "9", " na ", "NaN", "10", "None", "null"}, {});
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_THAT(indexed->names, ElementsAre("9", "10"));
  EXPECT_THAT(indexed->classes, ElementsAre(1, kUnlabelled, 0, kUnlabelled, kUnlabelled, 1,
                                            kUnlabelled, kUnlabelled));
  EXPECT_THAT(IndexClassLabels(std::vector<std::string>{"NA", "null"}, {}).status().message(),
              HasSubstr("none of the 2 rows has a class label"));

  // With declared classes, a marker is unlabelled, not an unknown class...
  const std::vector<std::string> declared = {"normal", "attack"};
  auto fixed = IndexClassLabels(std::vector<std::string>{"attack", "N/A", "normal"}, declared);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_THAT(fixed->classes, ElementsAre(1, kUnlabelled, 0));
  // ...unless a declared class has its very spelling: a class really named
  // None.
  const std::vector<std::string> none_is_a_class = {"None", "mild", "severe"};
  auto named =
      IndexClassLabels(std::vector<std::string>{"None", "mild", "none", "NA"}, none_is_a_class);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_THAT(named->classes, ElementsAre(0, 1, kUnlabelled, kUnlabelled));
}

// Another marker ("?", -1) read as a class: it holds most of the few
// labelled rows.
TEST(ClassLabelsTest, AClassHoldingMostOfFewLabelsIsWarnedOf) {
  const std::vector<std::string> names = {"0", "1", "?"};
  const std::optional<std::string> warning =
      DominantClassWarning(std::vector<int64_t>{50, 50, 200}, names, 3000);
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, HasSubstr("class '?' holds 200 of the 300 labelled rows (66.7%) while "
                                  "2700 of the 3000 rows (90.0%) are unlabelled"));
  EXPECT_THAT(*warning, HasSubstr("missing-value marker"));
  // Most rows labelled: an imbalanced data set, not a marker.
  EXPECT_FALSE(DominantClassWarning(std::vector<int64_t>{100, 2600, 50}, names, 3000).has_value());
  // Few labels, none holding most of them; none at all.
  EXPECT_FALSE(DominantClassWarning(std::vector<int64_t>{100, 100, 100}, names, 3000).has_value());
  EXPECT_FALSE(DominantClassWarning(std::vector<int64_t>{0, 0, 0}, names, 3000).has_value());
  // Half is not most, of the labels or of the rows.
  EXPECT_FALSE(DominantClassWarning(std::vector<int64_t>{150, 0, 150}, names, 3000).has_value());
  EXPECT_FALSE(DominantClassWarning(std::vector<int64_t>{0, 0, 1500}, names, 3000).has_value());
  EXPECT_TRUE(DominantClassWarning(std::vector<int64_t>{0, 1, 1498}, names, 3000).has_value());
}

// Labelled rows read against a trained head's classes: missing values are
// unlabelled rows, anything else outside the classes names its row.
TEST(MatchClassLabelsTest, MissingValuesAreUnlabelledAndOtherLabelsAreRefused) {
  const std::vector<std::string> names = {"low", "mid", "high"};
  const std::vector<std::string> labels = {"high", " low ", "",     "NA", "nan",
                                           "N/A",  "NULL",  "None", "mid"};
  auto matched = MatchClassLabels(labels, names);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_THAT(*matched, ElementsAre(2, 0, kUnlabelled, kUnlabelled, kUnlabelled, kUnlabelled,
                                    kUnlabelled, kUnlabelled, 1));
  // A class that is itself called "None" stays a class.
  auto none = MatchClassLabels(std::vector<std::string>{"None", "some"},
                               std::vector<std::string>{"None", "some"});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, ElementsAre(0, 1));

  const std::vector<int> lines = {2, 3, 5};
  auto unknown = MatchClassLabels(std::vector<std::string>{"low", "mid", "medium"}, names, lines);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("line 5: the label 'medium' is not one of the model's classes "
                        "(low, mid, high)"));
  // Labels are matched as written: "2.0" is not the class "2".
  EXPECT_THAT(MatchClassLabels(std::vector<std::string>{"2.0"}, std::vector<std::string>{"1", "2"})
                  .status()
                  .message(),
              HasSubstr("row 0: the label '2.0'"));
  EXPECT_TRUE(IsMissingLabel("  n/a "));
  EXPECT_FALSE(IsMissingLabel("0"));
  EXPECT_FALSE(IsMissingLabel("nan2"));
}

}  // namespace
}  // namespace strata

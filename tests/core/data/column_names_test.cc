#include "core/data/column_names.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ColumnNamesTest, MapsReorderedColumnsByName) {
  auto order = MapColumnsByName({"f2", "f0", "f1"}, {"f0", "f1", "f2"});
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_THAT(*order, ElementsAre(1, 2, 0));
  Matrix m(2, 3);
  m << 20, 0, 10,  //
      21, 1, 11;
  const Matrix selected = SelectColumns(m, *order);
  EXPECT_EQ(selected(0, 0), 0);
  EXPECT_EQ(selected(0, 1), 10);
  EXPECT_EQ(selected(1, 2), 21);
}

TEST(ColumnNamesTest, MissingAndExtraColumnsListBothSets) {
  const absl::Status s = MapColumnsByName({"f0", "label", "zz"}, {"f0", "f1"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("missing from the input: f1"),
                                 HasSubstr("not features of the model: label, zz"),
                                 HasSubstr("--drop_columns label"),
                                 HasSubstr("The input's columns: f0, label, zz"),
                                 HasSubstr("the model's features: f0, f1")));
  // A feature missing and no label-like extra column (a rename?): dropping
  // would not fix it, so no hint.
  EXPECT_THAT(MapColumnsByName({"f0", "zz"}, {"f0", "f1"}).status().message(),
              Not(HasSubstr("--drop_columns")));
  EXPECT_THAT(MapColumnsByName({"f0", "f0"}, {"f0", "f1"}).status().message(),
              HasSubstr("'f0' twice"));
}

// Every feature present and columns to spare: the hint names the flag and
// the columns, whatever they are called.
TEST(ColumnNamesTest, ExtraColumnsAloneGetTheDropColumnsHint) {
  EXPECT_THAT(MapColumnsByName({"f0", "f1", "zz"}, {"f0", "f1"}).status().message(),
              HasSubstr("not features of the model: zz (leave it out with --drop_columns zz)"));
  EXPECT_THAT(MapColumnsByName({"kind", "f0", "id", "f1"}, {"f0", "f1"}).status().message(),
              HasSubstr("not features of the model: kind, id (leave them out with "
                        "--drop_columns kind,id)"));
}

// Issue: predict with one extra column of a 392-feature model printed 4 KB
// of names and no hint. The extra column comes first, then counts.
TEST(ColumnNamesTest, AWideInputNamesTheDifferenceNotEveryColumn) {
  std::vector<std::string> model, input;
  for (int i = 0; i < 392; ++i) model.push_back("px" + std::to_string(i));
  input = model;
  input.push_back("digit");
  const absl::Status extra = MapColumnsByName(input, model).status();
  EXPECT_EQ(extra.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(extra.message(),
            "columns do not match the model's features: not features of the model: digit (leave "
            "it out with --drop_columns digit). The input has 393 columns; the model has 392 "
            "features");

  // Many missing: a few named, then how many more.
  const std::vector<std::string> half(model.begin(), model.begin() + 196);
  const absl::Status missing = MapColumnsByName(half, model).status();
  EXPECT_THAT(missing.message(),
              HasSubstr("missing from the input: px196, px197, px198, px199, px200 and 191 more. "
                        "The input has 196 columns; the model has 392 features"));
  EXPECT_LT(missing.message().size(), 200u) << missing.message();
}

TEST(ColumnNamesTest, FewNamesCountsTheRest) {
  EXPECT_EQ(FewNames({}, 3), "(none)");
  EXPECT_EQ(FewNames({"a", "b", "c"}, 3), "a, b, c");
  EXPECT_EQ(FewNames({"a", "b", "c", "d", "e"}, 2), "a, b and 3 more");
}

TEST(ColumnNamesTest, CheckWantsTheSameNamesInTheSameOrder) {
  EXPECT_TRUE(CheckColumnNames({"a", "b"}, {"a", "b"}).ok());
  const absl::Status reordered = CheckColumnNames({"b", "a"}, {"a", "b"});
  EXPECT_EQ(reordered.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reordered.message(), HasSubstr("column 0 is 'b' where the model has 'a'"));
  EXPECT_THAT(CheckColumnNames({"a"}, {"a", "b"}).message(),
              HasSubstr("missing from the input: b"));
}

TEST(ColumnNamesTest, LabelLikeNames) {
  for (const char* name : {"label", "Class", "TARGET", "y", "is_anomaly", "outlier"}) {
    EXPECT_TRUE(LooksLikeLabelColumn(name)) << name;
  }
  for (const char* name : {"f0", "labels_count", "yield"}) {
    EXPECT_FALSE(LooksLikeLabelColumn(name)) << name;
  }
}

// A training set that names its columns keeps its names: a spec that names
// them otherwise (another order included) is refused, never recorded as the
// model's features.
TEST(ColumnNamesTest, TrainingNamesNeverContradictTheDataNames) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(*ResolveTrainingNames({}, {"a", "b", "c"}, 3), (Names{"a", "b", "c"}));
  EXPECT_EQ(*ResolveTrainingNames({"a", "b", "c"}, {"a", "b", "c"}, 3), (Names{"a", "b", "c"}));
  // Unnamed data takes the spec's names.
  EXPECT_EQ(*ResolveTrainingNames({"a", "b", "c"}, {}, 3), (Names{"a", "b", "c"}));
  EXPECT_EQ(*ResolveTrainingNames({"a", "b", "c"}, {"f0", "f1", "f2"}, 3), (Names{"a", "b", "c"}));
  EXPECT_TRUE(ResolveTrainingNames({}, {}, 3)->empty());

  absl::StatusOr<Names> reversed = ResolveTrainingNames({"c", "b", "a"}, {"a", "b", "c"}, 3);
  ASSERT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.status().code(), absl::StatusCode::kInvalidArgument);
  // What differs and what to do come first: long lists are clipped.
  EXPECT_THAT(reversed.status().message(),
              HasSubstr("spec.feature_names contradict the names the data gives its columns: "
                        "column 0 is 'c' in spec.feature_names and 'a' in the data; leave "
                        "spec.feature_names out"));
  EXPECT_THAT(reversed.status().message(),
              HasSubstr("spec.feature_names: c, b, a; the data's: a, b, c"));
  // A headerless CSV with columns dropped is still unnamed.
  EXPECT_EQ(*ResolveTrainingNames({"a", "b"}, {"f1", "f3"}, 2), (Names{"a", "b"}));
  // A model could not be scored by names that are empty or repeated.
  EXPECT_THAT(ResolveTrainingNames({}, {"a", "b", "a"}, 3).status().message(),
              HasSubstr("column 2 is named 'a' as an earlier column is"));
  EXPECT_THAT(ResolveTrainingNames({"a", "", "c"}, {}, 3).status().message(),
              HasSubstr("column 1 has an empty name"));
  absl::StatusOr<Names> short_spec = ResolveTrainingNames({"a", "b"}, {}, 3);
  ASSERT_FALSE(short_spec.ok());
  EXPECT_THAT(short_spec.status().message(),
              HasSubstr("spec.feature_names has 2 names for 3 columns"));
  EXPECT_FALSE(ResolveTrainingNames({}, {"a", "b"}, 3).ok());
  EXPECT_TRUE(ArePositionalNames({"f0", "f1"}));
  EXPECT_TRUE(ArePositionalNames({"f1", "f4", "f10"}));
  EXPECT_FALSE(ArePositionalNames({"f1", "f0"}));
  EXPECT_FALSE(ArePositionalNames({"f1", "f1"}));
  for (const char* name : {"f", "f01", "f+1", "f-1", "g0", "f 1", "F0"}) {
    EXPECT_FALSE(ArePositionalNames({name})) << name;
  }
}

}  // namespace
}  // namespace strata

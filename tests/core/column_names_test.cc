#include "core/column_names.h"

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
  // No label-like extra column: no hint.
  EXPECT_THAT(MapColumnsByName({"f0", "f1", "zz"}, {"f0", "f1"}).status().message(),
              Not(HasSubstr("--drop_columns")));
  EXPECT_THAT(MapColumnsByName({"f0", "f0"}, {"f0", "f1"}).status().message(),
              HasSubstr("'f0' twice"));
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
  EXPECT_THAT(reversed.status().message(),
              HasSubstr("spec.feature_names (c, b, a) are not the names the data gives its "
                        "columns (a, b, c)"));
  absl::StatusOr<Names> short_spec = ResolveTrainingNames({"a", "b"}, {}, 3);
  ASSERT_FALSE(short_spec.ok());
  EXPECT_THAT(short_spec.status().message(),
              HasSubstr("spec.feature_names has 2 names for 3 columns"));
  EXPECT_FALSE(ResolveTrainingNames({}, {"a", "b"}, 3).ok());
  EXPECT_TRUE(ArePositionalNames({"f0", "f1"}));
  EXPECT_FALSE(ArePositionalNames({"f1", "f0"}));
}

}  // namespace
}  // namespace strata

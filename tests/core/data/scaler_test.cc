#include "core/data/scaler.h"

#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

TEST(ScalerTest, StandardCentersAndScales) {
  Matrix x = testing::GaussianMatrix(2000, 3, 1, 4.0);
  x.col(1).array() += 100.0f;
  auto s = Scaler::Fit(v1::STANDARD, x);
  ASSERT_TRUE(s.ok());
  const Matrix y = s->Transform(x);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(y.col(c).mean(), 0.0, 1e-4);
    EXPECT_NEAR(std::sqrt(y.col(c).array().square().mean()), 1.0, 1e-4);
  }
  EXPECT_TRUE(s->InverseTransform(y).isApprox(x, 1e-5f));
}

TEST(ScalerTest, MinMaxMapsIntoUnitInterval) {
  const Matrix x = testing::UniformMatrix(500, 4, 2, -7.0, 3.0);
  auto s = Scaler::Fit(v1::MINMAX, x);
  ASSERT_TRUE(s.ok());
  const Matrix y = s->Transform(x);
  EXPECT_GE(y.minCoeff(), 0.0f);
  EXPECT_LE(y.maxCoeff(), 1.0f + 1e-6f);
  for (int c = 0; c < 4; ++c) {
    EXPECT_FLOAT_EQ(y.col(c).minCoeff(), 0.0f);
    EXPECT_NEAR(y.col(c).maxCoeff(), 1.0f, 1e-6f);
  }
  EXPECT_TRUE(s->InverseTransform(y).isApprox(x, 1e-5f));
}

TEST(ScalerTest, ConstantColumnsNeverProduceNaN) {
  Matrix x(4, 3);
  x << 5, 0, 1e6,  //
      5, 0, 1e6,   //
      5, 0, 1e6,   //
      5, 0, 1e6;
  // The third column differs by float rounding noise only.
  x(1, 2) = std::nextafter(1e6f, 2e6f);
  for (v1::ScalerKind kind : {v1::STANDARD, v1::MINMAX}) {
    auto s = Scaler::Fit(kind, x);
    ASSERT_TRUE(s.ok());
    const Matrix y = s->Transform(x);
    EXPECT_TRUE(y.allFinite()) << kind;
    EXPECT_NEAR(y.col(0).cwiseAbs().maxCoeff(), 0.0f, 1e-6f);
    EXPECT_NEAR(y.col(1).cwiseAbs().maxCoeff(), 0.0f, 1e-6f);
    EXPECT_TRUE(s->InverseTransform(y).isApprox(x));
    // A live value away from the constant stays finite too.
    Matrix live = x.topRows(1);
    live(0, 0) = 6;
    EXPECT_TRUE(s->Transform(live).allFinite());
  }
}

TEST(ScalerTest, SingleRowFitsWithoutNaN) {
  Matrix x(1, 2);
  x << 3, -4;
  auto s = Scaler::Fit(v1::STANDARD, x);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Transform(x).isZero());
}

TEST(ScalerTest, IdentityLeavesDataAlone) {
  const Matrix x = testing::GaussianMatrix(5, 2, 3);
  auto s = Scaler::Fit(v1::IDENTITY, x);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Transform(x), x);
  EXPECT_EQ(s->InverseTransform(x), x);
}

TEST(ScalerTest, ProtoRoundTripIsExact) {
  const Matrix x = testing::GaussianMatrix(100, 5, 4, 3.0);
  auto s = Scaler::Fit(v1::STANDARD, x);
  auto back = Scaler::FromProto(s->ToProto(), 5);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Transform(x), s->Transform(x));
  EXPECT_EQ(back->kind(), v1::STANDARD);
}

TEST(ScalerTest, RejectsBadInput) {
  EXPECT_FALSE(Scaler::Fit(v1::STANDARD, Matrix(0, 3)).ok());
  Matrix nan = Matrix::Zero(2, 2);
  nan(1, 1) = std::nanf("");
  EXPECT_FALSE(Scaler::Fit(v1::MINMAX, nan).ok());
  EXPECT_FALSE(Scaler::Fit(v1::SCALER_KIND_UNSPECIFIED, Matrix::Zero(2, 2)).ok());
  v1::ScalerParams p = Scaler::Identity(2).ToProto();
  EXPECT_FALSE(Scaler::FromProto(p, 3).ok());
  p.set_scale(1, 0.0f);
  const auto s = Scaler::FromProto(p, 2).status();
  EXPECT_NE(s.message().find("feature 1"), std::string::npos) << s;
}

// A column spanning more than a float holds scaled to infinity: a scale of
// inf (MINMAX), which no model file may hold, or x - mean overflowing
// (STANDARD), which makes training diverge for no reason the user can see.
TEST(ScalerTest, ColumnsWiderThanFloatRangeAreRefused) {
  Matrix wide(10, 2);
  wide.col(0).setConstant(1.0f);
  wide.col(1).setConstant(3e38f);
  wide(9, 1) = -3e38f;
  for (v1::ScalerKind kind : {v1::MINMAX, v1::STANDARD}) {
    const auto s = Scaler::Fit(kind, wide);
    ASSERT_FALSE(s.ok()) << kind << ": scale " << s->scale();
    EXPECT_NE(s.status().message().find("column 1"), std::string::npos) << s.status();
  }
  // Large but within range: fits, and the training rows scale finitely.
  wide(9, 1) = 1e38f;
  for (v1::ScalerKind kind : {v1::MINMAX, v1::STANDARD}) {
    const auto s = Scaler::Fit(kind, wide);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE(s->Transform(wide).allFinite()) << kind;
  }
}

}  // namespace
}  // namespace strata

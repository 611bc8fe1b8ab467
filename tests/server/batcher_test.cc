#include "server/batcher.h"

#include <memory>
#include <vector>

#include "core/base/mutex.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

ServableModel Servable(std::shared_ptr<const Model> model, int64_t version = 1) {
  ServableModel m;
  m.name = "m";
  m.version = version;
  m.model = std::move(model);
  return m;
}

InferenceOp Encode(int layer) {
  InferenceOp op;
  op.kind = InferenceOp::Kind::kEncode;
  op.layer = layer;
  return op;
}

InferenceOp Errors() {
  InferenceOp op;
  op.kind = InferenceOp::Kind::kScore;
  return op;
}

// Collects what each request received and each model call reported.
struct Record {
  Mutex mu;
  CondVar cv;
  std::vector<absl::StatusOr<Matrix>> answers ABSL_GUARDED_BY(mu);
  std::vector<std::pair<int64_t, int64_t>> batches ABSL_GUARDED_BY(mu);
  int done ABSL_GUARDED_BY(mu) = 0;

  Batcher::Done Slot(size_t i) {
    {
      MutexLock lock(&mu);
      if (answers.size() <= i) answers.resize(i + 1, absl::UnknownError("no answer"));
    }
    return [this, i](absl::StatusOr<Matrix> out) {
      MutexLock lock(&mu);
      answers[i] = std::move(out);
      ++done;
      cv.SignalAll();
    };
  }
};

Batcher::Options Opts(Record* record, int64_t max_rows, absl::Duration delay) {
  Batcher::Options o;
  o.max_rows = max_rows;
  o.max_delay = delay;
  o.on_batch = [record](int64_t rows, int64_t requests) {
    MutexLock lock(&record->mu);
    record->batches.emplace_back(rows, requests);
  };
  return o;
}

TEST(BatcherTest, RequestsShareCallsByVersionAndOpAndGetTheirOwnRows) {
  std::shared_ptr<const Model> a = testing::SmallModel(6, 1, 5);
  std::shared_ptr<const Model> b = testing::SmallModel(6, 2, 5);
  const Matrix x = testing::GaussianMatrix(10, 6, 3);
  Record record;
  {
    // A delay no test waits for: the groups run when the batcher is destroyed.
    Batcher batcher(Opts(&record, 100, absl::Hours(1)));
    batcher.Submit(Servable(a), Encode(2), x.middleRows(0, 1), record.Slot(0));
    batcher.Submit(Servable(a), Errors(), x.middleRows(1, 2), record.Slot(1));
    batcher.Submit(Servable(a), Encode(2), x.middleRows(3, 3), record.Slot(2));
    batcher.Submit(Servable(b, 2), Encode(2), x.middleRows(6, 1), record.Slot(3));
    batcher.Submit(Servable(a), Encode(1), x.middleRows(7, 1), record.Slot(4));
    batcher.Submit(Servable(a), Errors(), x.middleRows(8, 2), record.Slot(5));
  }
  MutexLock lock(&record.mu);
  ASSERT_EQ(record.done, 6);
  // In order of each group's first request: (a, code), (a, errors), (b, code), (a, h1).
  const std::vector<std::pair<int64_t, int64_t>> expected = {{4, 2}, {4, 2}, {1, 1}, {1, 1}};
  EXPECT_EQ(record.batches, expected);
  const auto near = [](const absl::StatusOr<Matrix>& got, const Matrix& want) {
    return got.ok() && got->rows() == want.rows() && got->isApprox(want, 1e-5f);
  };
  EXPECT_TRUE(near(record.answers[0], *a->Encode(x.middleRows(0, 1), 2)));
  EXPECT_TRUE(near(record.answers[1],
                   *a->Score(x.middleRows(1, 2), ScoreMetric::kMeanSquared)));
  EXPECT_TRUE(near(record.answers[2], *a->Encode(x.middleRows(3, 3), 2)));
  EXPECT_TRUE(near(record.answers[3], *b->Encode(x.middleRows(6, 1), 2)));
  EXPECT_TRUE(near(record.answers[4], *a->Encode(x.middleRows(7, 1), 1)));
  EXPECT_TRUE(near(record.answers[5],
                   *a->Score(x.middleRows(8, 2), ScoreMetric::kMeanSquared)));
}

TEST(BatcherTest, AFullGroupRunsWithoutWaitingForItsDelay) {
  std::shared_ptr<const Model> a = testing::SmallModel(6, 1, 5);
  const Matrix x = testing::GaussianMatrix(6, 6, 4);
  Record record;
  Batcher batcher(Opts(&record, 4, absl::Hours(1)));
  for (int i = 0; i < 6; ++i) {
    batcher.Submit(Servable(a), Encode(2), x.middleRows(i, 1), record.Slot(static_cast<size_t>(i)));
  }
  MutexLock lock(&record.mu);
  // The first four fill a call; the last two wait for their (hour-long) delay.
  record.cv.WaitWithTimeout(&record.mu, absl::Seconds(60),
                            [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(record.mu) {
                              return record.done >= 4;
                            });
  EXPECT_EQ(record.done, 4);
  ASSERT_EQ(record.batches.size(), 1u);
  EXPECT_EQ(record.batches[0], (std::pair<int64_t, int64_t>{4, 4}));
}

TEST(BatcherTest, AFailedCallFailsEveryRequestInIt) {
  std::shared_ptr<const Model> a = testing::SmallModel(6, 1, 5);
  const Matrix x = testing::GaussianMatrix(2, 6, 4);
  Record record;
  {
    Batcher batcher(Opts(&record, 8, absl::Hours(1)));
    batcher.Submit(Servable(a), Encode(9), x.middleRows(0, 1), record.Slot(0));
    batcher.Submit(Servable(a), Encode(9), x.middleRows(1, 1), record.Slot(1));
  }
  MutexLock lock(&record.mu);
  ASSERT_EQ(record.done, 2);
  for (const auto& answer : record.answers) {
    EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(answer.status().message().find("layer 9 does not exist"), std::string::npos);
  }
}

TEST(BatcherTest, OneRequestsOverflowingRowsFailOnlyThatRequest) {
  std::shared_ptr<const Model> a = testing::SmallModel(6, 1, 5);
  Matrix x = testing::GaussianMatrix(3, 6, 4);
  x(1, 2) = 3e38f;  // finite, but overflows once scaled and multiplied
  Record record;
  {
    Batcher batcher(Opts(&record, 8, absl::Hours(1)));
    for (int i = 0; i < 3; ++i) {
      batcher.Submit(Servable(a), Errors(), x.middleRows(i, 1), record.Slot(static_cast<size_t>(i)));
    }
  }
  MutexLock lock(&record.mu);
  ASSERT_EQ(record.done, 3);
  EXPECT_TRUE(record.answers[0].ok());
  EXPECT_TRUE(record.answers[2].ok());
  EXPECT_EQ(record.answers[1].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(record.answers[1].status().message().find("row 0: the model's output is not finite"),
            std::string::npos)
      << record.answers[1].status();
  EXPECT_NE(record.answers[1].status().message().find("column 2"), std::string::npos);
}

}  // namespace
}  // namespace strata

#include "server/ordered_stream.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace strata {

using ScoreStream = OrderedStream<v1::AnomalyScoreResponse>;

namespace {

// Drives a score stream as the reactor does and records what gRPC would see:
// the answers written (by the version number each carries) and the status
// the stream finished with.
class StreamDriver {
 public:
  explicit StreamDriver(int max_in_flight) : stream_(max_in_flight) { Apply(stream_.Start()); }

  // In the reactor's order: the write, the read (and its OnReadStarted),
  // the finish.
  void Apply(const ScoreStream::Actions& a) {
    if (a.write != nullptr) {
      EXPECT_FALSE(write_pending_) << "two writes at once";
      write_pending_ = true;
      written_.push_back(a.write->model().version());
    }
    if (a.read) {
      EXPECT_FALSE(finish_.has_value()) << "a read after Finish";
      EXPECT_FALSE(read_pending_) << "two reads at once";
      read_pending_ = true;
      // StartRead returns at once, unless the test holds it.
      if (hold_read_starts_) {
        ++reads_held_;
      } else {
        Apply(stream_.OnReadStarted());
      }
    }
    if (a.finish.has_value()) {
      EXPECT_FALSE(finish_.has_value()) << "finished twice";
      finish_ = *a.finish;
    }
  }
  // A message arrives (the pending read completes) and goes to the model.
  int64_t Read() {
    EXPECT_TRUE(read_pending_) << "read without StartRead";
    read_pending_ = false;
    const int64_t index = next_index_++;
    Apply(stream_.OnRead(index));
    return index;
  }
  int64_t Refuse(absl::Status s) {
    EXPECT_TRUE(read_pending_);
    read_pending_ = false;
    const int64_t index = next_index_++;
    Apply(stream_.OnRefused(index, s));
    return index;
  }
  void ClientDone() {
    EXPECT_TRUE(read_pending_);
    read_pending_ = false;
    Apply(stream_.OnClientDone());
  }
  void Answer(int64_t index) {
    v1::AnomalyScoreResponse r;
    r.mutable_model()->set_version(index);
    Apply(stream_.OnAnswer(index, r));
  }
  void Failure(int64_t index, absl::Status s) { Apply(stream_.OnFailure(index, s)); }
  // The pending write completes.
  void WriteDone(bool ok = true) {
    ASSERT_TRUE(write_pending_);
    write_pending_ = false;
    Apply(stream_.OnWriteDone(ok));
  }
  void FlushWrites() {
    while (write_pending_) WriteDone();
  }
  // Reads asked for from now on stay "being started" (their StartRead has
  // not returned) until ReadStarted: the window another thread's event can
  // fall into.
  void HoldReadStarts() { hold_read_starts_ = true; }
  void ReadStarted() {
    ASSERT_GT(reads_held_, 0);
    --reads_held_;
    Apply(stream_.OnReadStarted());
  }

  ScoreStream& stream() { return stream_; }
  bool read_pending() const { return read_pending_; }
  const std::vector<int64_t>& written() const { return written_; }
  const std::optional<absl::Status>& finish() const { return finish_; }

 private:
  ScoreStream stream_;
  bool read_pending_ = false;
  bool write_pending_ = false;
  bool hold_read_starts_ = false;
  int reads_held_ = 0;
  int64_t next_index_ = 0;
  std::vector<int64_t> written_;
  std::optional<absl::Status> finish_;
};

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

TEST(OrderedStreamTest, AnswersInRequestOrderWhateverOrderCallsEnd) {
  StreamDriver d(16);
  for (int i = 0; i < 5; ++i) d.Read();
  d.ClientDone();
  for (int64_t i : {3, 1, 4, 0, 2}) d.Answer(i);
  d.FlushWrites();
  EXPECT_EQ(d.written(), Iota(5));
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_TRUE(d.finish()->ok());
}

TEST(OrderedStreamTest, ReadsAheadAtMostMaxInFlight) {
  StreamDriver d(3);
  for (int i = 0; i < 3; ++i) d.Read();
  EXPECT_FALSE(d.read_pending()) << "a fourth message read before any answer";
  d.Answer(0);
  EXPECT_FALSE(d.read_pending()) << "the answer is not yet written";
  d.WriteDone();
  EXPECT_TRUE(d.read_pending());
}

// The proto's contract: a stream that fails at message k of n answers
// messages 0 ... k-1, in order, then ends with k's status, whichever order
// the model calls end in.
TEST(OrderedStreamTest, FailureAtMessageKSendsTheKAnswersBeforeIt) {
  constexpr int kMessages = 8;
  for (int k = 0; k < kMessages; ++k) {
    SCOPED_TRACE(k);
    StreamDriver d(16);
    for (int i = 0; i < kMessages; ++i) d.Read();
    // Message k fails first; every other call ends after it, last first.
    d.Failure(k, absl::InvalidArgumentError("bad row"));
    for (int i = kMessages - 1; i >= 0; --i) {
      if (i != k) d.Answer(i);
    }
    d.FlushWrites();
    EXPECT_EQ(d.written(), Iota(k));
    ASSERT_TRUE(d.finish().has_value());
    EXPECT_EQ(d.finish()->code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(d.stream().computing(), 0);
  }
}

TEST(OrderedStreamTest, RefusedMessageStopsReadingAndWaitsForEarlierAnswers) {
  StreamDriver d(16);
  d.Read();
  d.Read();
  d.Refuse(absl::InvalidArgumentError("rows.cols"));
  EXPECT_FALSE(d.read_pending()) << "read on after a refused message";
  EXPECT_FALSE(d.finish().has_value()) << "finished before messages 0 and 1 were answered";
  d.Answer(1);
  EXPECT_FALSE(d.finish().has_value());
  d.Answer(0);
  d.FlushWrites();
  EXPECT_EQ(d.written(), Iota(2));
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(d.finish()->message(), "rows.cols");
}

TEST(OrderedStreamTest, AnEarlierFailureReportedLaterWins) {
  StreamDriver d(16);
  for (int i = 0; i < 4; ++i) d.Read();
  d.Answer(0);
  d.Failure(3, absl::InvalidArgumentError("message 3"));
  d.Failure(1, absl::ResourceExhaustedError("message 1"));
  d.Answer(2);
  d.FlushWrites();
  EXPECT_EQ(d.written(), Iota(1));
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(d.finish()->message(), "message 1");
}

TEST(OrderedStreamTest, FinishWaitsForTheWriteInFlight) {
  StreamDriver d(16);
  d.Read();
  d.Read();
  d.Answer(0);  // written now
  d.Failure(1, absl::InternalError("x"));
  EXPECT_FALSE(d.finish().has_value()) << "Finish while a write is in flight";
  d.WriteDone();
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(d.written(), Iota(1));
}

// A model call fails on one thread while another has been handed the next
// read and not yet started it: Finish waits, so no read starts after it.
TEST(OrderedStreamTest, FinishWaitsForTheReadBeingStarted) {
  StreamDriver d(16);
  d.HoldReadStarts();  // the first read, from Start, has started
  const int64_t first = d.Read();  // hands out the next read, held
  d.Failure(first, absl::InternalError("model call"));
  EXPECT_FALSE(d.finish().has_value()) << "Finish while a read is being started";
  d.ReadStarted();
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(d.finish()->message(), "model call");
}

// The held read completes (the client is done) before its StartRead has
// returned, on another thread: the OK finish still waits for it.
TEST(OrderedStreamTest, ReadDoneBeforeItsStartReturnedStillFinishesAfterIt) {
  StreamDriver d(16);
  d.HoldReadStarts();
  d.Read();  // message 0; the next read is handed out and held
  d.ClientDone();
  d.Answer(0);
  d.FlushWrites();
  EXPECT_EQ(d.written(), Iota(1));
  EXPECT_FALSE(d.finish().has_value()) << "Finish while a read is being started";
  d.ReadStarted();
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_TRUE(d.finish()->ok());
}

TEST(OrderedStreamTest, FailedWriteCancelsAndDropsTheRest) {
  StreamDriver d(16);
  for (int i = 0; i < 3; ++i) d.Read();
  d.Answer(0);
  d.Answer(1);
  d.WriteDone(/*ok=*/false);
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_EQ(d.finish()->code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(d.written(), Iota(1));
  d.Answer(2);  // a late call changes nothing
  EXPECT_EQ(d.written(), Iota(1));
}

TEST(OrderedStreamTest, DeletableOnlyWhenDoneAndNoCallOutstanding) {
  StreamDriver d(16);
  d.Read();
  d.Read();
  d.Failure(0, absl::InternalError("x"));
  ASSERT_TRUE(d.finish().has_value());
  d.stream().OnDone();
  EXPECT_FALSE(d.stream().CanDelete()) << "message 1's model call still refers to the stream";
  d.Answer(1);
  EXPECT_TRUE(d.stream().CanDelete());
  EXPECT_TRUE(d.written().empty());
}

TEST(OrderedStreamTest, EmptyStreamFinishesOk) {
  StreamDriver d(16);
  d.ClientDone();
  ASSERT_TRUE(d.finish().has_value());
  EXPECT_TRUE(d.finish()->ok());
}

}  // namespace
}  // namespace strata

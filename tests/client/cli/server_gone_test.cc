#include "client/cli/server_gone.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;

constexpr char kServer[] = "127.0.0.1:50051";

// gRPC's transport words, as users met them, become what happened to the
// server and how far the command got; gRPC's words stay, last, for whoever
// digs further.
TEST(ServerGoneTest, TransportWordsBecomeWhatHappenedAndHowFarItGot) {
  const std::string rows = RowsWritten(69587, 100000);
  EXPECT_EQ(rows, "69587 of 100000 rows were answered and written; the other 30413 were not");

  const absl::Status reset =
      ServerGone(absl::UnavailableError("recvmsg:Connection reset by peer"), kServer, rows);
  EXPECT_EQ(reset.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reset.message(),
            "the server at 127.0.0.1:50051 closed the connection: 69587 of 100000 rows were "
            "answered and written; the other 30413 were not (gRPC: recvmsg:Connection reset by "
            "peer)");
  EXPECT_THAT(
      ServerGone(absl::UnavailableError("Socket closed"), kServer, "job-1 was RUNNING").message(),
      HasSubstr("the server at 127.0.0.1:50051 closed the connection: job-1 was RUNNING"));
  EXPECT_THAT(ServerGone(absl::UnavailableError("Cancelling all calls"), kServer, rows).message(),
              HasSubstr("the server at 127.0.0.1:50051 shut down: 69587 of 100000"));
  EXPECT_THAT(ServerGone(absl::UnavailableError("something new"), kServer, "").message(),
              HasSubstr("the server at 127.0.0.1:50051 is unavailable (gRPC: something new)"));
}

// The CLI cancels none of its calls: CANCELLED is the server's doing, and
// exits 1 (Unavailable), not 130 as an interrupted command does.
TEST(ServerGoneTest, ACallTheServerCancelledIsNotAnInterruption) {
  const absl::Status s = ServerGone(absl::CancelledError("CANCELLED"), kServer, RowsWritten(0, 8));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(),
            "the server at 127.0.0.1:50051 cancelled the call (is it shutting down?): none of the "
            "8 rows was answered or written (gRPC: CANCELLED)");
}

// Nothing done yet: a server that cannot be reached keeps the client's
// words (and a TLS failure gRPC's); once rows were answered, it stopped
// answering.
TEST(ServerGoneTest, AServerNeverReachedKeepsItsWordsUntilSomethingWasDone) {
  const absl::Status refused = absl::UnavailableError(
      "no strata-server answers at 127.0.0.1:50051; start one, or set --server / $STRATA_SERVER");
  EXPECT_EQ(ServerGone(refused, kServer, ""), refused);
  const absl::Status handshake =
      absl::UnavailableError("failed to connect to all addresses; last error: Handshake failed");
  EXPECT_EQ(ServerGone(handshake, kServer, ""), handshake);

  EXPECT_EQ(ServerGone(refused, kServer, RowsWritten(1024, 4096)).message(),
            "the server at 127.0.0.1:50051 stopped answering: 1024 of 4096 rows were answered "
            "and written; the other 3072 were not");
}

TEST(ServerGoneTest, OtherFailuresAreLeftAlone) {
  for (const absl::Status& s :
       {absl::InvalidArgumentError("row 1: not finite"), absl::NotFoundError("no model"),
        absl::DeadlineExceededError("Deadline Exceeded"), absl::OkStatus()}) {
    EXPECT_EQ(ServerGone(s, kServer, "progress"), s);
    EXPECT_FALSE(IsServerGone(s));
  }
}

TEST(ServerGoneTest, RowsWrittenSaysNoneAndAll) {
  EXPECT_EQ(RowsWritten(0, 5), "none of the 5 rows was answered or written");
  EXPECT_EQ(RowsWritten(5, 5), "all 5 rows were answered and written");
}

}  // namespace
}  // namespace strata::cli

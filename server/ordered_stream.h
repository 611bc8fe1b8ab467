// OrderedStream<Response>: the ordering and failure rules of both
// bidirectional inference streams (StreamAnomalyScore and StreamPredict, each
// with its response type), as a state driven by events, without gRPC.
// The reactor forwards each event (a message read, a model call done, a write
// done, the client done) and starts what the returned Actions say, after
// releasing its lock.
//
// The contract (also in proto/strata/v1/service.proto):
//  - one answer per request message, in the order of the requests;
//  - reads run ahead of the answers by up to `max_in_flight` messages, so a
//    client streaming records keeps the model (and a batcher) busy;
//  - the earliest failing message, k, ends the stream with its status, after
//    the answers to messages 0 ... k-1 have all been written, in order.
//    Messages after k that were already read are not answered. A message
//    before k that fails later (its model call ends after k's) becomes the
//    earliest, so the rule holds whatever order the calls end in;
//  - a failed write (the client went away) ends the stream CANCELLED.
//
//   OrderedStream<v1::AnomalyScoreResponse> s(16);
//   Run(s.Start());                  // the first read (then OnReadStarted)
//   Run(s.OnRead(0));                // message 0 handed to a model call
//   Run(s.OnAnswer(0, response));    // its answer: written when its turn comes
//
// Not thread-safe: the reactor serialises events under its mutex.
#ifndef STRATA_SERVER_ORDERED_STREAM_H_
#define STRATA_SERVER_ORDERED_STREAM_H_

#include <cstdint>
#include <limits>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "strata/v1/service.pb.h"

namespace strata {

template <typename Response>
class OrderedStream {
 public:
  // What to start once the caller's lock is released; at most one of each.
  struct Actions {
    bool read = false;                   // StartRead
    const Response* write = nullptr;     // StartWrite(write)
    std::optional<absl::Status> finish;  // Finish(*finish)
  };

  // `max_in_flight`: messages read and not yet answered. Required: >= 1.
  explicit OrderedStream(int max_in_flight);

  // The stream opened: the first read.
  Actions Start();
  // Message `index` (0, 1, ... in read order) was read and handed to a model
  // call, which ends in OnAnswer or OnFailure.
  Actions OnRead(int64_t index);
  // Message `index` was read and refused before any model call.
  Actions OnRefused(int64_t index, absl::Status status);
  // The read that the last Actions asked for has been started (StartRead
  // returned). Until then the stream does not finish: no read may start
  // after Finish, and another thread may be about to start one.
  Actions OnReadStarted();
  // The client has finished sending.
  Actions OnClientDone();
  // The model call of message `index` answered.
  Actions OnAnswer(int64_t index, Response response);
  // The model call of message `index` failed.
  Actions OnFailure(int64_t index, absl::Status status);
  // The write started by the last Actions ended; !ok: the client went away.
  Actions OnWriteDone(bool ok);
  // gRPC is done with the stream (no further events from it).
  void OnDone() { done_ = true; }

  // True once gRPC is done and no model call will report back: the reactor
  // may be deleted.
  bool CanDelete() const { return done_ && computing_ == 0; }

  // For tests: messages whose model calls have not reported back.
  int computing() const { return computing_; }

 private:
  // Records the failure of message `index` if it is the earliest so far.
  void Fail(int64_t index, absl::Status status);
  // The next steps the state allows.
  Actions Next();

  const int max_in_flight_;
  bool reading_ = false;
  bool client_done_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool done_ = false;
  int reads_starting_ = 0;  // reads handed out, not yet OnReadStarted
  int64_t read_ = 0;        // messages read
  int computing_ = 0;       // handed to a model call, not reported back
  int64_t next_write_ = 0;  // the index whose answer goes out next
  int64_t written_ = 0;     // answers whose write has completed
  std::map<int64_t, Response> ready_;
  Response writing_response_;
  // The earliest failing message and its status; kNone while none failed.
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  int64_t failed_index_ = kNone;
  absl::Status failure_;
  bool cancelled_ = false;  // a write failed
};

}  // namespace strata

#endif  // STRATA_SERVER_ORDERED_STREAM_H_

#include "server/ordered_stream.h"

#include <utility>

namespace strata {

template <typename Response>
OrderedStream<Response>::OrderedStream(int max_in_flight)
    : max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight) {}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::Start() { return Next(); }

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnRead(int64_t index) {
  reading_ = false;
  read_ = index + 1;
  ++computing_;
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnRefused(int64_t index, absl::Status status) {
  reading_ = false;
  read_ = index + 1;
  Fail(index, std::move(status));
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnReadStarted() {
  --reads_starting_;
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnClientDone() {
  reading_ = false;
  client_done_ = true;
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnAnswer(int64_t index, Response response) {
  --computing_;
  // Answers after the earliest failure, or after the end, are not sent.
  if (!finished_ && index < failed_index_) ready_.emplace(index, std::move(response));
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnFailure(int64_t index, absl::Status status) {
  --computing_;
  Fail(index, std::move(status));
  return Next();
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::OnWriteDone(bool ok) {
  writing_ = false;
  if (ok) {
    ++written_;
  } else {
    cancelled_ = true;
  }
  return Next();
}

template <typename Response>
void OrderedStream<Response>::Fail(int64_t index, absl::Status status) {
  if (index >= failed_index_) return;
  failed_index_ = index;
  failure_ = std::move(status);
  // Answers after it will never be written.
  ready_.erase(ready_.upper_bound(index), ready_.end());
}

template <typename Response>
typename OrderedStream<Response>::Actions OrderedStream<Response>::Next() {
  Actions a;
  if (finished_) return a;
  // Finish waits for any write in flight (including one started below) and
  // for any read being started.
  const auto may_finish = [this] { return !writing_ && reads_starting_ == 0; };
  if (cancelled_) {
    if (may_finish()) {
      finished_ = true;
      a.finish = absl::CancelledError("the client went away");
    }
    return a;
  }
  if (!writing_ && next_write_ < failed_index_) {
    auto it = ready_.find(next_write_);
    if (it != ready_.end()) {
      writing_response_ = std::move(it->second);
      ready_.erase(it);
      writing_ = true;
      ++next_write_;
      a.write = &writing_response_;
    }
  }
  if (failed_index_ != kNone) {
    // Every answer before the failure has gone out: end with its status.
    if (may_finish() && next_write_ == failed_index_) {
      finished_ = true;
      ready_.clear();
      a.finish = failure_;
    }
    return a;
  }
  if (!reading_ && !client_done_ && read_ - written_ < max_in_flight_) {
    reading_ = true;
    ++reads_starting_;
    a.read = true;
  }
  if (client_done_ && may_finish() && next_write_ == read_) {
    finished_ = true;
    a.finish = absl::OkStatus();
  }
  return a;
}

template class OrderedStream<v1::AnomalyScoreResponse>;
template class OrderedStream<v1::PredictResponse>;

}  // namespace strata

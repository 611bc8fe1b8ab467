// RecordSource: a message bus as strata-stream reads it, with at-least-once
// delivery. NATS JetStream implements it (server/nats_source.h); a Kafka
// source would implement the same four calls.
//
//   std::vector<RecordSource::Record> batch = source->Fetch(256, absl::Seconds(1)).value();
//   ... publish each answer, then:
//   source->Publish(answers);       // returns once the bus has stored them
//   for (auto& r : batch) source->Ack(r);
//
// A record not acknowledged is delivered again (after the source's ack
// wait, or at once after Nak): to this reader or another sharing the
// consumer. Not thread-safe: one reading thread.
#ifndef STRATA_SERVER_RECORD_SOURCE_H_
#define STRATA_SERVER_RECORD_SOURCE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace strata {

class RecordSource {
 public:
  struct Record {
    std::string subject;
    std::string data;
    uint64_t sequence = 0;    // the record's position in its stream
    uint64_t deliveries = 1;  // > 1: delivered before and not acknowledged
    uint64_t pending = 0;     // records after this one not yet delivered (the lag)
    void* handle = nullptr;   // the source's own; Ack/Nak release it
  };
  struct Message {
    std::string subject;
    std::string data;
  };

  virtual ~RecordSource() = default;
  // Up to `max` records, waiting at most `timeout` for the first; an empty
  // batch when none came.
  virtual absl::StatusOr<std::vector<Record>> Fetch(int max, absl::Duration timeout) = 0;
  // Publishes `messages` in order and returns once the bus has stored every
  // one (an error otherwise: nothing may then be acknowledged).
  virtual absl::Status Publish(const std::vector<Message>& messages) = 0;
  // Done with `record`: it will not be delivered again.
  virtual absl::Status Ack(Record& record) = 0;
  // Not done: deliver `record` again.
  virtual absl::Status Nak(Record& record) = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_RECORD_SOURCE_H_

// NatsSource: a RecordSource (server/record_source.h) on NATS JetStream,
// through Debian's libnats (the C client): a durable pull consumer on a
// stream's subjects, shared by every reader given the same durable name,
// with explicit acks; answers published to JetStream and confirmed.
//
//   NatsSource::Options o;
//   o.url = "nats://127.0.0.1:4222"; o.stream = "RECORDS"; o.durable = "strata";
//   auto source = NatsSource::Connect(o);
//
// Not thread-safe: one reading thread.
#ifndef STRATA_SERVER_NATS_SOURCE_H_
#define STRATA_SERVER_NATS_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/record_source.h"

namespace strata {

class NatsSource final : public RecordSource {
 public:
  struct Options {
    std::string url = "nats://127.0.0.1:4222";
    // The JetStream stream holding the records, and the subjects read
    // (empty: all of the stream's).
    std::string stream;
    std::string subject;
    // The durable consumer's name: readers with the same name share it.
    std::string durable = "strata-stream";
    // How long a delivered record may stay unacknowledged before it is
    // delivered again (a reader killed mid-batch). Default 30 s.
    absl::Duration ack_wait = absl::Seconds(30);
    // Records delivered and not yet acknowledged, across all readers.
    int max_ack_pending = 1024;
  };
  static absl::StatusOr<std::unique_ptr<NatsSource>> Connect(const Options& options);
  ~NatsSource() override;

  absl::StatusOr<std::vector<Record>> Fetch(int max, absl::Duration timeout) override;
  absl::Status Publish(const std::vector<Message>& messages) override;
  absl::Status Ack(Record& record) override;
  absl::Status Nak(Record& record) override;

  struct Handles;  // libnats' objects (public for its error callback)

 private:
  explicit NatsSource(std::unique_ptr<Handles> handles);
  std::unique_ptr<Handles> h_;
};

}  // namespace strata

#endif  // STRATA_SERVER_NATS_SOURCE_H_

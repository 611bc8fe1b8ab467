#include "server/nats_source.h"

#include <nats/nats.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/mutex.h"

namespace strata {
namespace {

absl::Status NatsError(const std::string& what, natsStatus s, jsErrCode js = static_cast<jsErrCode>(0)) {
  return absl::UnavailableError(absl::StrCat(what, ": ", natsStatus_GetText(s),
                                             js != 0 ? absl::StrCat(" (JetStream error ", js, ")")
                                                     : "",
                                             "; ", nats_GetLastError(nullptr) ? nats_GetLastError(nullptr) : ""));
}

}  // namespace

struct NatsSource::Handles {
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* subscription = nullptr;
  // Answers the bus refused since the last Publish (its error handler runs
  // on libnats' thread).
  std::atomic<int64_t> publish_failures{0};
  // The bus's reason for the first answer it refused since then.
  Mutex failure_mu;
  std::string first_failure ABSL_GUARDED_BY(failure_mu);

  ~Handles() {
    if (subscription != nullptr) natsSubscription_Destroy(subscription);  // keeps the durable
    if (js != nullptr) jsCtx_Destroy(js);
    if (connection != nullptr) natsConnection_Destroy(connection);
  }
};

namespace {

void OnPublishError(jsCtx*, jsPubAckErr* error, void* closure) {
  auto* h = static_cast<NatsSource::Handles*>(closure);
  if (h->publish_failures.fetch_add(1) == 0) {
    MutexLock lock(&h->failure_mu);
    h->first_failure = absl::StrCat(
        error->Msg != nullptr ? natsMsg_GetSubject(error->Msg) : "?", ": ",
        error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err));
  }
}

}  // namespace

NatsSource::NatsSource(std::unique_ptr<Handles> handles) : h_(std::move(handles)) {}
NatsSource::~NatsSource() = default;

absl::StatusOr<std::unique_ptr<NatsSource>> NatsSource::Connect(const Options& options) {
  if (options.stream.empty()) return absl::InvalidArgumentError("no JetStream stream given");
  auto h = std::make_unique<Handles>();
  natsOptions* nats_options = nullptr;
  natsOptions_Create(&nats_options);
  natsOptions_SetURL(nats_options, options.url.c_str());
  natsOptions_SetName(nats_options, "strata-stream");
  // Keep reconnecting: the consumer's state is on the server, so a reader
  // picks up where the bus says after an outage.
  natsOptions_SetMaxReconnect(nats_options, -1);
  natsStatus s = natsConnection_Connect(&h->connection, nats_options);
  natsOptions_Destroy(nats_options);
  if (s != NATS_OK) return NatsError(absl::StrCat("cannot connect to NATS at ", options.url), s);

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.PublishAsync.ErrHandler = OnPublishError;
  js_options.PublishAsync.ErrHandlerClosure = h.get();
  s = natsConnection_JetStream(&h->js, h->connection, &js_options);
  if (s != NATS_OK) return NatsError("cannot open a JetStream context", s);

  // No subject given: the stream's, when it has one (a pull consumer needs
  // a subject).
  std::string subject = options.subject;
  if (subject.empty()) {
    jsStreamInfo* info = nullptr;
    jsErrCode info_error = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&info, h->js, options.stream.c_str(), nullptr, &info_error);
    if (s != NATS_OK) {
      return NatsError(absl::StrCat("cannot find JetStream stream ", options.stream), s,
                       info_error);
    }
    const int count = info->Config->SubjectsLen;
    if (count == 1) subject = info->Config->Subjects[0];
    jsStreamInfo_Destroy(info);
    if (count != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stream ", options.stream, " has ", count, " subjects: give the subjects to read"));
    }
  }
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = options.stream.c_str();
  sub_options.Config.Durable = options.durable.c_str();
  sub_options.Config.AckPolicy = js_AckExplicit;
  sub_options.Config.AckWait = absl::ToInt64Nanoseconds(options.ack_wait);
  sub_options.Config.MaxAckPending = options.max_ack_pending;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  s = js_PullSubscribe(&h->subscription, h->js, subject.c_str(), options.durable.c_str(), nullptr,
                       &sub_options, &js_error);
  if (s != NATS_OK) {
    return NatsError(absl::StrCat("cannot read stream ", options.stream, " subject ", subject,
                                  " as durable consumer ", options.durable),
                     s, js_error);
  }
  return std::unique_ptr<NatsSource>(new NatsSource(std::move(h)));
}

absl::StatusOr<std::vector<RecordSource::Record>> NatsSource::Fetch(int max,
                                                                    absl::Duration timeout) {
  natsMsgList list = {nullptr, 0};
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(&list, h_->subscription, max,
                                        absl::ToInt64Milliseconds(timeout), &js_error);
  std::vector<Record> records;
  if (s == NATS_TIMEOUT) return records;
  if (s != NATS_OK) return NatsError("fetching records", s, js_error);
  records.reserve(static_cast<size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* msg = list.Msgs[i];
    list.Msgs[i] = nullptr;  // ours now, released by Ack or Nak
    Record r;
    r.subject = natsMsg_GetSubject(msg);
    r.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      r.sequence = meta->Sequence.Stream;
      r.deliveries = meta->NumDelivered;
      r.pending = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
    }
    r.handle = msg;
    records.push_back(std::move(r));
  }
  natsMsgList_Destroy(&list);
  return records;
}

absl::Status NatsSource::Publish(const std::vector<Message>& messages) {
  h_->publish_failures = 0;
  for (const Message& m : messages) {
    natsStatus s = js_PublishAsync(h_->js, m.subject.c_str(), m.data.data(),
                                   static_cast<int>(m.data.size()), nullptr);
    if (s != NATS_OK) return NatsError(absl::StrCat("publishing to ", m.subject), s);
  }
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = 10000;
  natsStatus s = js_PublishAsyncComplete(h_->js, &options);
  if (s != NATS_OK) return NatsError("waiting for the bus to store the answers", s);
  if (const int64_t failed = h_->publish_failures.load(); failed > 0) {
    MutexLock lock(&h_->failure_mu);
    return absl::UnavailableError(absl::StrCat(
        failed, " of ", messages.size(), " answers were refused by JetStream (is each answer "
        "subject in a stream?); the first: ", h_->first_failure));
  }
  return absl::OkStatus();
}

absl::Status NatsSource::Ack(Record& record) {
  natsMsg* msg = static_cast<natsMsg*>(record.handle);
  if (msg == nullptr) return absl::FailedPreconditionError("record acknowledged twice");
  natsStatus s = natsMsg_Ack(msg, nullptr);
  natsMsg_Destroy(msg);
  record.handle = nullptr;
  if (s != NATS_OK) return NatsError("acknowledging a record", s);
  return absl::OkStatus();
}

absl::Status NatsSource::Nak(Record& record) {
  natsMsg* msg = static_cast<natsMsg*>(record.handle);
  if (msg == nullptr) return absl::FailedPreconditionError("record released twice");
  // After a second: a batch given back because no model is served, or the
  // bus refused the answers, would otherwise come straight back.
  natsStatus s = natsMsg_NakWithDelay(msg, 1000, nullptr);
  natsMsg_Destroy(msg);
  record.handle = nullptr;
  if (s != NATS_OK) return NatsError("returning a record", s);
  return absl::OkStatus();
}

}  // namespace strata

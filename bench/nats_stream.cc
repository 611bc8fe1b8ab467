// Records per second through NATS JetStream and strata-stream, against
// strata-server's StreamAnomalyScore, in the same run on the same 64-input
// model (bench/nats_stream.sh starts nats-server -js, strata-server and
// strata-stream on loopback).
//
//   nats_stream_bench --make_model=DIR      publishes the model as "bench" and exits
//   nats_stream_bench --setup_nats=URL      creates the streams RECORDS and STRATA, exits
//   nats_stream_bench --target=127.0.0.1:P --nats_url=nats://127.0.0.1:Q
//                     [--records=50000 --rounds=3 --streams=4]
//
// Per round: `records` JSON records (64 named features) published to
// records.bench and timed until their last answer is read back from
// strata.answers (so the figure is end to end: bus in, score, bus out);
// then `streams` gRPC streams of one-record messages (a pipeline sending
// each record as it comes) for as long as the NATS leg took. Medians.
// Ends with:
//   RESULT nats_records_per_s=... grpc_stream_records_per_s=... ratio=<nats / grpc>
//          gemm_gflops=... errors=...
// after a line naming the CPU and its measured GEMM ceiling.
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/load_gen.h"
#include "bench/machine.h"
#include "bench/score_streams.h"
#include "bench/serving_model.h"
#include "client/strata_client.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, make_model, "", "write the benchmark model into this model root and exit");
ABSL_FLAG(std::string, setup_nats, "", "create the JetStream streams on this NATS server and exit");
ABSL_FLAG(std::string, target, "", "strata-server address");
ABSL_FLAG(std::string, nats_url, "", "NATS server, with strata-stream reading RECORDS");
ABSL_FLAG(int, records, 50000, "records per NATS round");
ABSL_FLAG(int, rounds, 3, "rounds");
ABSL_FLAG(int, streams, 4, "concurrent gRPC streams");

namespace {

using Clock = std::chrono::steady_clock;

bool Check(natsStatus s, const char* what) {
  if (s == NATS_OK) return true;
  std::fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(s));
  return false;
}

int SetupNats(const std::string& url) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (!Check(natsConnection_ConnectTo(&nc, url.c_str()), "connect") ||
      !Check(natsConnection_JetStream(&js, nc, nullptr), "jetstream")) {
    return 1;
  }
  for (const auto& [name, subject] : {std::pair{"RECORDS", "records.>"},
                                      std::pair{"STRATA", "strata.>"}}) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name;
    const char* subjects[] = {subject};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_MemoryStorage;
    jsStreamInfo* info = nullptr;
    if (!Check(js_AddStream(&info, js, &config, nullptr, nullptr), name)) return 1;
    jsStreamInfo_Destroy(info);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}

std::string RecordJson(int64_t i) {
  std::string json = absl::StrCat("{\"id\":", i);
  for (int c = 0; c < strata::bench::kServingInputs; ++c) {
    absl::StrAppend(&json, ",\"f", c, "\":", absl::StrFormat("%.4f", 0.01 * ((i + c) % 97)));
  }
  return json + "}";
}

// Publishes `n` records and waits for `n` answers; records/s, 0 on failure.
double NatsRound(jsCtx* js, natsSubscription* answers, int64_t first, int n) {
  const Clock::time_point start = Clock::now();
  std::thread publisher([&] {
    for (int64_t i = first; i < first + n; ++i) {
      const std::string data = RecordJson(i);
      Check(js_PublishAsync(js, "records.bench", data.data(), static_cast<int>(data.size()),
                            nullptr),
            "publish");
    }
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = 60000;
    Check(js_PublishAsyncComplete(js, &options), "publish complete");
  });
  // Only this round's records count, each once: a late answer of an earlier
  // round, or a second answer of a redelivered record, is not one.
  std::vector<bool> answered(static_cast<size_t>(n), false);
  int64_t got = 0;
  const Clock::time_point deadline = start + std::chrono::seconds(120);
  while (got < n && Clock::now() < deadline) {
    natsMsgList list = {nullptr, 0};
    if (natsSubscription_Fetch(&list, answers, 1000, 200, nullptr) != NATS_OK) continue;
    for (int i = 0; i < list.Count; ++i) {
      const std::string data(natsMsg_GetData(list.Msgs[i]),
                             static_cast<size_t>(natsMsg_GetDataLength(list.Msgs[i])));
      const size_t at = data.find("\"id\":\"");
      int64_t id = -1;
      if (at == std::string::npos ||
          !absl::SimpleAtoi(data.substr(at + 6, data.find('"', at + 6) - at - 6), &id) ||
          id < first || id >= first + n || answered[static_cast<size_t>(id - first)]) {
        continue;
      }
      answered[static_cast<size_t>(id - first)] = true;
      ++got;
    }
    natsMsgList_Destroy(&list);
  }
  publisher.join();
  if (got < n) return 0;
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

double GrpcStreamRps(const std::string& target, double seconds, int64_t* errors) {
  strata::v1::AnomalyScoreRequest request;
  request.mutable_model()->set_name(strata::bench::kServingModelName);
  strata::Matrix row(1, strata::bench::kServingInputs);
  for (int c = 0; c < strata::bench::kServingInputs; ++c) {
    row(0, c) = 0.01f * static_cast<float>(c % 97);
  }
  strata::ToDenseMatrix(row, request.mutable_rows());
  return strata::bench::StreamRecordsPerSecond(target, seconds, absl::GetFlag(FLAGS_streams),
                                               request, errors);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_make_model).empty()) {
    return strata::bench::PublishServingModel(absl::GetFlag(FLAGS_make_model));
  }
  if (!absl::GetFlag(FLAGS_setup_nats).empty()) return SetupNats(absl::GetFlag(FLAGS_setup_nats));
  const strata::bench::Machine machine = strata::bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* answers = nullptr;
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = "STRATA";
  options.Config.AckPolicy = js_AckNone;
  options.Config.DeliverPolicy = js_DeliverNew;
  if (!Check(natsConnection_ConnectTo(&nc, absl::GetFlag(FLAGS_nats_url).c_str()), "connect") ||
      !Check(natsConnection_JetStream(&js, nc, nullptr), "jetstream") ||
      // Durable: an ephemeral consumer is removed after seconds without a
      // fetch, and the gRPC leg of each round is longer than that.
      !Check(js_PullSubscribe(&answers, js, "strata.answers", "bench-reader", nullptr, &options,
                              nullptr),
             "subscribe")) {
    return 1;
  }
  const int n = absl::GetFlag(FLAGS_records);
  int64_t errors = 0;
  std::vector<double> nats, grpc;
  NatsRound(js, answers, 0, n / 10);  // warm-up
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    const Clock::time_point start = Clock::now();
    nats.push_back(NatsRound(js, answers, int64_t{round} * n, n));
    if (nats.back() == 0) ++errors;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    grpc.push_back(GrpcStreamRps(absl::GetFlag(FLAGS_target), seconds, &errors));
    std::printf("round %d: NATS %.0f records/s; gRPC streams of 1-record messages %.0f records/s\n",
                round, nats.back(), grpc.back());
    std::fflush(stdout);
  }
  const double nats_rps = strata::bench::Median(nats), grpc_rps = strata::bench::Median(grpc);
  std::printf(
      "RESULT nats_records_per_s=%.0f grpc_stream_records_per_s=%.0f ratio=%.3f gemm_gflops=%.1f "
      "errors=%lld\n",
      nats_rps, grpc_rps, grpc_rps > 0 ? nats_rps / grpc_rps : 0, machine.gemm_gflops,
      static_cast<long long>(errors));
  natsSubscription_Destroy(answers);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return errors == 0 ? 0 : 1;
}

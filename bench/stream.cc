// Streaming and dynamic batching: records scored per second through
// StreamAnomalyScore streams against single-record unary AnomalyScore calls,
// on two strata-servers with the same model: dynamic batching off and on.
//
//   stream_bench --target_off=127.0.0.1:P1 --target_on=127.0.0.1:P2
//                [--seconds=3 --rounds=3 --streams=4 --records=32 --concurrency=32]
//
// Per server and round: unary single-record QPS (closed loop, `concurrency`
// calls in flight), then `streams` concurrent streams of 1-record messages,
// then of `records`-record messages (each stream a StrataClient stream:
// requests sent ahead of the answers). Medians over rounds.
// Ends with:
//   RESULT ratio=<streamed records/s / unary single-record QPS> stream_rps=... unary_qps=...
//          ratio_1record=... batching_wins=0|1 ...
// where ratio, stream_rps and unary_qps are those of the faster configuration.
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bench/load_gen.h"
#include "bench/score_streams.h"
#include "bench/serving_model.h"
#include "client/strata_client.h"
#include "core/nn/matrix.h"
#include "proto/dense_matrix.h"
#include "strata/v1/service.grpc.pb.h"

ABSL_FLAG(std::string, make_model, "", "write the benchmark model into this model root and exit");
ABSL_FLAG(std::string, target_off, "", "server with dynamic batching off");
ABSL_FLAG(std::string, target_on, "", "server with dynamic batching on");
ABSL_FLAG(double, seconds, 3, "seconds per measurement");
ABSL_FLAG(int, rounds, 3, "rounds per server");
ABSL_FLAG(int, streams, 4, "concurrent streams");
ABSL_FLAG(int, records, 32, "records per stream message");
ABSL_FLAG(int, concurrency, 32, "unary calls in flight");
ABSL_FLAG(int, channels, 4, "client channels for the unary load");

namespace {

using Clock = std::chrono::steady_clock;

strata::v1::AnomalyScoreRequest ScoreRequest(int rows) {
  strata::v1::AnomalyScoreRequest r;
  r.mutable_model()->set_name(strata::bench::kServingModelName);
  strata::Matrix values(rows, strata::bench::kServingInputs);
  for (int i = 0; i < rows * strata::bench::kServingInputs; ++i) {
    values.data()[i] = 0.01f * static_cast<float>(i % 97);
  }
  strata::ToDenseMatrix(values, r.mutable_rows());
  return r;
}

double UnaryQps(const std::string& target, double seconds, int64_t* errors) {
  const auto channels = strata::bench::MakeChannels(target, absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<strata::v1::InferenceService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(strata::v1::InferenceService::NewStub(c));
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    strata::v1::AnomalyScoreRequest request;
    strata::v1::AnomalyScoreResponse response;
  };
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  std::vector<Call> calls(static_cast<size_t>(concurrency));
  for (Call& c : calls) c.request = ScoreRequest(1);
  const strata::bench::StartCall start = [&](strata::bench::CallSlot* slot) {
    Call& call = calls[static_cast<size_t>(slot->index())];
    call.context = std::make_unique<grpc::ClientContext>();
    stubs[static_cast<size_t>(slot->index()) % stubs.size()]->async()->AnomalyScore(
        call.context.get(), &call.request, &call.response,
        [slot](grpc::Status s) { slot->Done(s); });
  };
  strata::bench::LoadOptions options;
  options.concurrency = concurrency;
  options.seconds = seconds;
  const strata::bench::LoadResult r = strata::bench::RunLoad(options, channels, start);
  *errors += r.errors;
  if (r.errors > 0) std::printf("  unary: %lld failed, first: %s\n",
                                static_cast<long long>(r.errors), r.first_error.c_str());
  return r.qps;
}

// Records per second through `streams` concurrent streams of `records`-row messages.
double StreamRps(const std::string& target, double seconds, int records, int64_t* errors) {
  return strata::bench::StreamRecordsPerSecond(target, seconds, absl::GetFlag(FLAGS_streams),
                                               ScoreRequest(records), errors);
}

struct Figures {
  double unary_qps = 0, stream1_rps = 0, stream_rps = 0;
};

Figures Measure(const std::string& label, const std::string& target, int64_t* errors) {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int records = absl::GetFlag(FLAGS_records);
  UnaryQps(target, 0.5, errors);  // warm-up
  std::vector<double> unary, s1, sr;
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    unary.push_back(UnaryQps(target, seconds, errors));
    s1.push_back(StreamRps(target, seconds, 1, errors));
    sr.push_back(StreamRps(target, seconds, records, errors));
    std::printf("batching %-3s round %d: unary %.0f QPS; streams of 1 record %.0f rec/s; "
                "of %d records %.0f rec/s\n",
                label.c_str(), round, unary.back(), s1.back(), records, sr.back());
    std::fflush(stdout);
  }
  return {strata::bench::Median(unary), strata::bench::Median(s1), strata::bench::Median(sr)};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_make_model).empty()) {
    return strata::bench::PublishServingModel(absl::GetFlag(FLAGS_make_model));
  }
  int64_t errors = 0;
  const Figures off = Measure("off", absl::GetFlag(FLAGS_target_off), &errors);
  const Figures on = Measure("on", absl::GetFlag(FLAGS_target_on), &errors);
  // Batching wins when streamed records and unary calls both do at least as
  // well with it.
  const bool wins = on.stream_rps >= off.stream_rps && on.unary_qps >= off.unary_qps;
  const Figures& best = wins ? on : off;
  std::printf("RESULT ratio=%.2f stream_rps=%.0f unary_qps=%.0f ratio_1record=%.2f "
              "batching_wins=%d on_stream_rps=%.0f on_unary_qps=%.0f off_stream_rps=%.0f "
              "off_unary_qps=%.0f records_per_message=%d errors=%lld\n",
              best.stream_rps / best.unary_qps, best.stream_rps, best.unary_qps,
              best.stream1_rps / best.unary_qps, wins ? 1 : 0, on.stream_rps, on.unary_qps,
              off.stream_rps, off.unary_qps, absl::GetFlag(FLAGS_records),
              static_cast<long long>(errors));
  return errors == 0 ? 0 : 1;
}

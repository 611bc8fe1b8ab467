// Serving overhead: single-record Encode on a 64-input model against an empty
// RPC (grpc.health.v1 Health/Check, answered by the same server from a map),
// same server, same client, alternating rounds.
//
//   serve_bench --make_model=DIR        trains the 64-input model, publishes it as "bench"
//   serve_bench --target=127.0.0.1:PORT [--seconds=3 --rounds=7 --concurrency=32 --channels=4]
//
// Ends with: RESULT ratio=<encode QPS / empty QPS> encode_qps=... empty_qps=... p50_us=... p99_us=...
// (medians over rounds; latencies are Encode's at that concurrency).
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/load_gen.h"
#include "bench/serving_model.h"
#include "core/matrix.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/dense_matrix.h"
#include "strata/v1/service.grpc.pb.h"

ABSL_FLAG(std::string, make_model, "", "write the benchmark model into this model root and exit");
ABSL_FLAG(std::string, target, "", "server address");
ABSL_FLAG(double, seconds, 3, "seconds per round and kind of call");
ABSL_FLAG(int, rounds, 7, "rounds of (Encode, empty)");
ABSL_FLAG(int, concurrency, 32, "calls in flight");
ABSL_FLAG(int, channels, 4, "client channels (TCP connections)");

namespace {

// Per-slot call state. The messages are built once and reused, so that the
// client's own work per call stays small next to the server's; a context
// serves one call only.
template <typename Request, typename Response>
struct Call {
  std::unique_ptr<grpc::ClientContext> context;
  Request request;
  Response response;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_make_model).empty()) return strata::bench::PublishServingModel(absl::GetFlag(FLAGS_make_model));
  const auto channels =
      strata::bench::MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<strata::v1::InferenceService::Stub>> inference;
  std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>> health;
  for (const auto& c : channels) {
    inference.push_back(strata::v1::InferenceService::NewStub(c));
    health.push_back(grpc::health::v1::Health::NewStub(c));
  }
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const size_t n_channels = channels.size();

  strata::v1::EncodeRequest encode_request;
  encode_request.mutable_model()->set_name(strata::bench::kServingModelName);
  strata::Matrix row(1, strata::bench::kServingInputs);
  for (int i = 0; i < strata::bench::kServingInputs; ++i) row(0, i) = 0.01f * i;
  strata::ToDenseMatrix(row, encode_request.mutable_rows());

  using EncodeCall = Call<strata::v1::EncodeRequest, strata::v1::EncodeResponse>;
  using CheckCall = Call<grpc::health::v1::HealthCheckRequest, grpc::health::v1::HealthCheckResponse>;
  std::vector<EncodeCall> encode_calls(static_cast<size_t>(concurrency));
  std::vector<CheckCall> check_calls(static_cast<size_t>(concurrency));
  for (EncodeCall& call : encode_calls) call.request = encode_request;
  const strata::bench::StartCall start_encode = [&](strata::bench::CallSlot* slot) {
    EncodeCall& call = encode_calls[static_cast<size_t>(slot->index())];
    call.context = std::make_unique<grpc::ClientContext>();
    inference[static_cast<size_t>(slot->index()) % n_channels]->async()->Encode(
        call.context.get(), &call.request, &call.response,
        [slot](grpc::Status s) { slot->Done(s); });
  };
  const strata::bench::StartCall start_check = [&](strata::bench::CallSlot* slot) {
    CheckCall& call = check_calls[static_cast<size_t>(slot->index())];
    call.context = std::make_unique<grpc::ClientContext>();
    health[static_cast<size_t>(slot->index()) % n_channels]->async()->Check(
        call.context.get(), &call.request, &call.response,
        [slot](grpc::Status s) { slot->Done(s); });
  };

  strata::bench::LoadOptions options;
  options.concurrency = concurrency;
  options.seconds = 1;  // warm-up
  strata::bench::RunLoad(options, channels, start_encode);
  strata::bench::RunLoad(options, channels, start_check);
  options.seconds = absl::GetFlag(FLAGS_seconds);
  std::vector<double> encode_qps, empty_qps, p50, p99;
  int64_t errors = 0;
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    // Alternate which kind goes first, so that a slow spell of this shared
    // machine does not always land on the same one.
    strata::bench::LoadResult e, h;
    if (round % 2 == 1) {
      e = strata::bench::RunLoad(options, channels, start_encode);
      h = strata::bench::RunLoad(options, channels, start_check);
    } else {
      h = strata::bench::RunLoad(options, channels, start_check);
      e = strata::bench::RunLoad(options, channels, start_encode);
    }
    std::printf("round %d: Encode %.0f QPS (p50 %.0f us, p99 %.0f us), empty %.0f QPS (p50 %.0f us)\n",
                round, e.qps, e.p50_us, e.p99_us, h.qps, h.p50_us);
    for (const auto* r : {&e, &h}) {
      if (r->errors > 0) {
        std::printf("  %lld failed calls, first: %s\n", static_cast<long long>(r->errors),
                    r->first_error.c_str());
      }
      errors += r->errors;
    }
    encode_qps.push_back(e.qps);
    empty_qps.push_back(h.qps);
    p50.push_back(e.p50_us);
    p99.push_back(e.p99_us);
  }
  const double encode = strata::bench::Median(encode_qps), empty = strata::bench::Median(empty_qps);
  std::printf("RESULT ratio=%.3f encode_qps=%.0f empty_qps=%.0f p50_us=%.0f p99_us=%.0f errors=%lld\n",
              encode / empty, encode, empty, strata::bench::Median(p50),
              strata::bench::Median(p99), static_cast<long long>(errors));
  return errors == 0 ? 0 : 1;
}

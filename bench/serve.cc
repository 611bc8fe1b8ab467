// Serving overhead: single-record Encode and AnomalyScore on a 64-input model
// against an empty RPC (grpc.health.v1 Health/Check, answered by the same
// server from a map), single-record ModelInfer (the Open Inference Protocol,
// raw FP32 input, outputs score, is_anomaly and percentile: AnomalyScore's
// answer) against AnomalyScore, and AnomalyScore throughput at batch 256;
// same server, same client, rounds in rotating order.
//
//   serve_bench --make_model=DIR        trains the 64-input model, publishes it as "bench"
//   serve_bench --target=127.0.0.1:PORT [--seconds=3 --rounds=7 --concurrency=32 --channels=4]
//
// Ends with:
//   RESULT ratio=<Encode QPS / empty QPS> score_ratio=<AnomalyScore QPS / empty QPS>
//          encode_qps=... score_qps=... empty_qps=... score_b256_rows_per_s=...
//          p50_us=... p99_us=... oip_ratio=<ModelInfer QPS / AnomalyScore QPS>
//          oip_qps=... gemm_gflops=... errors=...
// (medians over rounds; oip_ratio is the median of each round's ratio, the
// two measured one after the other; latencies are Encode's at that
// concurrency),
// after a line naming the CPU and its measured GEMM ceiling.
#include <cstdio>
#include <functional>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/load_gen.h"
#include "bench/machine.h"
#include "bench/serving_model.h"
#include "core/nn/matrix.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference/open_inference_grpc.grpc.pb.h"
#include "proto/dense_matrix.h"
#include "strata/v1/service.grpc.pb.h"

ABSL_FLAG(std::string, make_model, "", "write the benchmark model into this model root and exit");
ABSL_FLAG(std::string, target, "", "server address");
ABSL_FLAG(double, seconds, 3, "seconds per round and kind of call");
ABSL_FLAG(int, rounds, 7, "rounds of (Encode, AnomalyScore, empty, AnomalyScore x 256)");
ABSL_FLAG(int, concurrency, 32, "calls in flight");
ABSL_FLAG(int, channels, 4, "client channels (TCP connections)");
ABSL_FLAG(std::string, only, "",
          "for profiling the server: run only the kind of call with this name (e.g. ModelInfer) "
          "for --seconds, print its QPS and stop, without a RESULT line");

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

// One kind of call: its slots, and how to start one on a slot. `method`
// starts the call on a stub: (stub, context, request, response, done).
template <typename Request, typename Response, typename Stub, typename Method>
strata::bench::StartCall Starter(std::vector<Call<Request, Response>>* calls,
                                 const std::vector<std::unique_ptr<Stub>>* stubs, Method method,
                                 const Request& request) {
  for (auto& call : *calls) call.request = request;
  return [calls, stubs, method](strata::bench::CallSlot* slot) {
    auto& call = (*calls)[static_cast<size_t>(slot->index())];
    call.context = std::make_unique<grpc::ClientContext>();
    method((*stubs)[static_cast<size_t>(slot->index()) % stubs->size()].get(), call.context.get(),
           &call.request, &call.response, [slot](grpc::Status s) { slot->Done(s); });
  };
}

// One kind of call and its results, a LoadResult per round.
struct Kind {
  const char* name;
  strata::bench::StartCall start;
  std::vector<strata::bench::LoadResult> results;
};

// --only: one kind for --seconds, its QPS printed.
int RunOnly(std::vector<Kind>* kinds, strata::bench::LoadOptions options,
            const std::vector<std::shared_ptr<grpc::Channel>>& channels, const std::string& only) {
  for (Kind& k : *kinds) {
    if (k.name != only) continue;
    options.seconds = absl::GetFlag(FLAGS_seconds);
    const strata::bench::LoadResult r = strata::bench::RunLoad(options, channels, k.start);
    std::printf("%s %.0f QPS (p50 %.0f us), %lld failed\n", k.name, r.qps, r.p50_us,
                static_cast<long long>(r.errors));
    return r.errors == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "--only=%s: no such kind of call\n", only.c_str());
  return 2;
}

// A warm-up, then --rounds rounds of every kind, rotating which goes first
// so that a slow spell of this shared machine does not always land on the
// same one. Returns the calls that failed.
int64_t RunRounds(std::vector<Kind>* kinds, strata::bench::LoadOptions options,
                  const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  options.seconds = 1;  // warm-up
  for (Kind& k : *kinds) strata::bench::RunLoad(options, channels, k.start);
  options.seconds = absl::GetFlag(FLAGS_seconds);
  int64_t errors = 0;
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    std::printf("round %d:", round);
    for (size_t i = 0; i < kinds->size(); ++i) {
      Kind& k = (*kinds)[(i + static_cast<size_t>(round)) % kinds->size()];
      const strata::bench::LoadResult r = strata::bench::RunLoad(options, channels, k.start);
      std::printf(" %s %.0f QPS (p50 %.0f us);", k.name, r.qps, r.p50_us);
      if (r.errors > 0) {
        std::printf(" %lld failed, first: %s;", static_cast<long long>(r.errors),
                    r.first_error.c_str());
      }
      errors += r.errors;
      k.results.push_back(r);
    }
    std::printf("\n");
  }
  return errors;
}

strata::Matrix Rows(int n) {
  strata::Matrix rows(n, strata::bench::kServingInputs);
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    for (Eigen::Index c = 0; c < rows.cols(); ++c) rows(r, c) = 0.01f * static_cast<float>(c + r % 7);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_make_model).empty()) {
    return strata::bench::PublishServingModel(absl::GetFlag(FLAGS_make_model));
  }
  const strata::bench::Machine machine = strata::bench::MeasureMachine();
  const auto channels =
      strata::bench::MakeChannels(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_channels));
  using InferenceStub = strata::v1::InferenceService::Stub;
  using HealthStub = grpc::health::v1::Health::Stub;
  using OipStub = inference::GRPCInferenceService::Stub;
  std::vector<std::unique_ptr<InferenceStub>> inference;
  std::vector<std::unique_ptr<HealthStub>> health;
  std::vector<std::unique_ptr<OipStub>> oip;
  for (const auto& c : channels) {
    inference.push_back(strata::v1::InferenceService::NewStub(c));
    health.push_back(grpc::health::v1::Health::NewStub(c));
    oip.push_back(inference::GRPCInferenceService::NewStub(c));
  }
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const auto slots = static_cast<size_t>(concurrency);

  strata::v1::EncodeRequest encode_request;
  encode_request.mutable_model()->set_name(strata::bench::kServingModelName);
  strata::ToDenseMatrix(Rows(1), encode_request.mutable_rows());
  strata::v1::AnomalyScoreRequest score_request;
  score_request.mutable_model()->set_name(strata::bench::kServingModelName);
  strata::ToDenseMatrix(Rows(1), score_request.mutable_rows());
  constexpr int kBatch = 256;
  strata::v1::AnomalyScoreRequest batch_request = score_request;
  strata::ToDenseMatrix(Rows(kBatch), batch_request.mutable_rows());

  // What a KServe or Triton client sends: raw little-endian FP32 rows.
  inference::ModelInferRequest infer_request;
  infer_request.set_model_name(strata::bench::kServingModelName);
  {
    const strata::Matrix one = Rows(1);
    auto* input = infer_request.add_inputs();
    input->set_name("records");
    input->set_datatype("FP32");
    input->add_shape(1);
    input->add_shape(one.cols());
    infer_request.add_raw_input_contents(reinterpret_cast<const char*>(one.data()),
                                         static_cast<size_t>(one.size()) * sizeof(float));
    for (const char* name : {"score", "is_anomaly", "percentile"}) {
      infer_request.add_outputs()->set_name(name);
    }
  }

  using EncodeCall = Call<strata::v1::EncodeRequest, strata::v1::EncodeResponse>;
  using ScoreCall = Call<strata::v1::AnomalyScoreRequest, strata::v1::AnomalyScoreResponse>;
  using CheckCall =
      Call<grpc::health::v1::HealthCheckRequest, grpc::health::v1::HealthCheckResponse>;
  std::vector<EncodeCall> encode_calls(slots);
  std::vector<ScoreCall> score_calls(slots), batch_calls(slots);
  std::vector<CheckCall> check_calls(slots);
  std::vector<Call<inference::ModelInferRequest, inference::ModelInferResponse>> infer_calls(slots);
  const auto infer = [](OipStub* stub, auto... args) { stub->async()->ModelInfer(args...); };
  const auto encode = [](InferenceStub* stub, auto... args) { stub->async()->Encode(args...); };
  const auto score = [](InferenceStub* stub, auto... args) {
    stub->async()->AnomalyScore(args...);
  };
  const auto check = [](HealthStub* stub, auto... args) { stub->async()->Check(args...); };
  // ModelInfer right after AnomalyScore: the two are compared round by
  // round, and the rotation keeps them adjacent.
  std::vector<Kind> kinds = {
      {"Encode", Starter(&encode_calls, &inference, encode, encode_request), {}},
      {"AnomalyScore", Starter(&score_calls, &inference, score, score_request), {}},
      {"ModelInfer", Starter(&infer_calls, &oip, infer, infer_request), {}},
      {"empty", Starter(&check_calls, &health, check, grpc::health::v1::HealthCheckRequest()), {}},
      {"AnomalyScore x256", Starter(&batch_calls, &inference, score, batch_request), {}},
  };

  std::printf("%s\n", machine.Describe().c_str());
  strata::bench::LoadOptions options;
  options.concurrency = concurrency;
  if (const std::string only = absl::GetFlag(FLAGS_only); !only.empty()) {
    return RunOnly(&kinds, options, channels, only);
  }
  const int64_t errors = RunRounds(&kinds, options, channels);
  const auto median = [&kinds](size_t kind, const std::function<double(const strata::bench::LoadResult&)>& of) {
    std::vector<double> v;
    for (const auto& r : kinds[kind].results) v.push_back(of(r));
    return strata::bench::Median(v);
  };
  const auto qps = [](const strata::bench::LoadResult& r) { return r.qps; };
  const double encode_qps = median(0, qps), score_qps = median(1, qps), empty = median(3, qps);
  const double batch_rows = median(4, qps) * kBatch;
  // Paired per round: ModelInfer against the AnomalyScore of the same round.
  std::vector<double> oip_ratios;
  for (size_t r = 0; r < kinds[2].results.size(); ++r) {
    const double as = kinds[1].results[r].qps;
    oip_ratios.push_back(as > 0 ? kinds[2].results[r].qps / as : 0);
  }
  std::printf(
      "RESULT ratio=%.3f score_ratio=%.3f encode_qps=%.0f score_qps=%.0f empty_qps=%.0f "
      "score_b256_rows_per_s=%.0f p50_us=%.0f p99_us=%.0f oip_ratio=%.3f oip_qps=%.0f "
      "gemm_gflops=%.1f errors=%lld\n",
      encode_qps / empty, score_qps / empty, encode_qps, score_qps, empty, batch_rows,
      median(0, [](const auto& r) { return r.p50_us; }),
      median(0, [](const auto& r) { return r.p99_us; }), strata::bench::Median(oip_ratios),
      median(2, qps), machine.gemm_gflops,
      static_cast<long long>(errors));
  return errors == 0 ? 0 : 1;
}

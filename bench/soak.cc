// Soak: everything at once against one strata-server for a bounded time —
// closed-loop Encode, unary AnomalyScore, score streams, TrainJobs whose new
// versions are hot-swapped in, and label moves — while the server's resident
// memory and open file descriptors are sampled every second.
//
//   soak_bench --target=127.0.0.1:PORT --server_pid=PID [--seconds=300]
//
// Ends with: RESULT errors=<failed calls> rss_growth_pct=<RSS at the end vs after
//   warm-up (the first fifth)> fd_growth=<fds at the end - after warm-up> calls=... versions=...
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/load_gen.h"
#include "bench/serving_model.h"
#include "client/strata_client.h"
#include "proto/dense_matrix.h"

ABSL_FLAG(std::string, target, "", "server address");
ABSL_FLAG(int, server_pid, 0, "the server's pid, to sample its RSS and fds");
ABSL_FLAG(double, seconds, 300, "how long to soak");

namespace {

using Clock = std::chrono::steady_clock;

int64_t RssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int64_t Fds(int pid) {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

strata::Matrix Rows(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  strata::Matrix m(n, strata::bench::kServingInputs);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto running = [&] { return Clock::now() < end; };
  std::atomic<int64_t> errors{0}, calls{0}, versions{0};
  std::mutex log_mu;
  const auto fail = [&](const std::string& what, const absl::Status& s) {
    if (errors.fetch_add(1) < 10) {
      std::lock_guard<std::mutex> lock(log_mu);
      std::printf("  %s failed: %s\n", what.c_str(), s.ToString().c_str());
    }
  };
  strata::StrataClient::Options options;
  options.target = target;
  options.timeout = absl::Seconds(30);
  const std::string model = strata::bench::kServingModelName;
  std::vector<std::thread> threads;

  // 1. Closed-loop single-record Encode, 8 in flight (the load generator).
  threads.emplace_back([&] {
    const auto channels = strata::bench::MakeChannels(target, 2);
    std::vector<std::unique_ptr<strata::v1::InferenceService::Stub>> stubs;
    for (const auto& c : channels) stubs.push_back(strata::v1::InferenceService::NewStub(c));
    struct Call {
      std::unique_ptr<grpc::ClientContext> context;
      strata::v1::EncodeRequest request;
      strata::v1::EncodeResponse response;
    };
    std::vector<Call> slots(8);
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].request.mutable_model()->set_name(model);
      strata::ToDenseMatrix(Rows(1, i), slots[i].request.mutable_rows());
    }
    strata::bench::LoadOptions load;
    load.concurrency = 8;
    load.seconds = seconds;
    const strata::bench::LoadResult r =
        strata::bench::RunLoad(load, channels, [&](strata::bench::CallSlot* slot) {
          Call& c = slots[static_cast<size_t>(slot->index())];
          c.context = std::make_unique<grpc::ClientContext>();
          stubs[static_cast<size_t>(slot->index()) % stubs.size()]->async()->Encode(
              c.context.get(), &c.request, &c.response, [slot](grpc::Status s) { slot->Done(s); });
        });
    calls += r.calls;
    if (r.errors > 0) fail("Encode (" + std::to_string(r.errors) + " calls)", absl::InternalError(r.first_error));
    errors += r.errors > 0 ? r.errors - 1 : 0;
  });
  // 2. Unary AnomalyScore of 32 rows with per-feature errors.
  threads.emplace_back([&] {
    auto client = *strata::StrataClient::Create(options);
    strata::v1::AnomalyScoreRequest request;
    request.mutable_model()->set_name(model);
    request.mutable_options()->set_feature_errors(true);
    strata::ToDenseMatrix(Rows(32, 7), request.mutable_rows());
    while (running()) {
      absl::Status s = client->AnomalyScore(request).status();
      ++calls;
      if (!s.ok()) fail("AnomalyScore", s);
    }
  });
  // 3. Score streams of 2 s each, 16 records per message.
  threads.emplace_back([&] {
    auto client = *strata::StrataClient::Create(options);
    strata::v1::AnomalyScoreRequest request;
    request.mutable_model()->set_name(model);
    strata::ToDenseMatrix(Rows(16, 8), request.mutable_rows());
    while (running()) {
      const Clock::time_point stream_end = std::min(end, Clock::now() + std::chrono::seconds(2));
      absl::Status s = client->StreamAnomalyScore(
          [&](strata::v1::AnomalyScoreRequest* next) {
            if (Clock::now() >= stream_end) return false;
            *next = request;
            return true;
          },
          [&](const strata::v1::AnomalyScoreResponse&) { ++calls; });
      if (!s.ok()) fail("StreamAnomalyScore", s);
    }
  });
  // 4. TrainJobs: each success publishes a version that is hot-swapped in;
  //    the label "stable" follows every other one.
  threads.emplace_back([&] {
    auto client = *strata::StrataClient::Create(options);
    const strata::Matrix data = Rows(2000, 9);
    strata::v1::TrainJobSpec spec;
    spec.set_model_name(model);
    for (int w : {32, 16, 8}) spec.mutable_config()->add_encoder_widths(w);
    spec.mutable_config()->set_finetune_epochs(2);
    for (int i = 0; running(); ++i) {
      auto job = client->UploadTrainJob(spec, data.data(), data.rows(),
                                        static_cast<int32_t>(data.cols()));
      if (!job.ok()) {
        fail("UploadTrainJob", job.status());
        continue;
      }
      auto done = client->WatchTrainJob(job->id(), [](const strata::v1::TrainJob&) {});
      if (!done.ok() || done->state() != strata::v1::TrainJob::SUCCEEDED) {
        fail("TrainJob", done.ok() ? absl::InternalError(done->error()) : done.status());
        continue;
      }
      ++versions;
      if (i % 2 == 0) {
        absl::Status s = client->SetLabel(model, "stable", done->version()).status();
        if (!s.ok()) fail("SetLabel", s);
      }
    }
  });

  // Samples: after warm-up (the first fifth), and at the end.
  int64_t warm_rss = -1, warm_fds = -1, last_rss = -1, last_fds = -1;
  while (running()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    last_rss = RssKb(pid);
    last_fds = Fds(pid);
    if (warm_rss < 0 && t >= seconds / 5) {
      warm_rss = last_rss;
      warm_fds = last_fds;
      std::printf("after warm-up (%.0f s): RSS %.1f MB, %lld fds\n", t, warm_rss / 1024.0,
                  static_cast<long long>(warm_fds));
    }
    if (static_cast<int>(t) % 30 == 0) {
      std::printf("%4.0f s: RSS %.1f MB, %lld fds, %lld calls, %lld versions, %lld errors\n", t,
                  last_rss / 1024.0, static_cast<long long>(last_fds),
                  static_cast<long long>(calls.load()), static_cast<long long>(versions.load()),
                  static_cast<long long>(errors.load()));
      std::fflush(stdout);
    }
  }
  for (auto& t : threads) t.join();
  if (warm_rss <= 0) warm_rss = last_rss, warm_fds = last_fds;
  std::printf("end: RSS %.1f MB, %lld fds\n", last_rss / 1024.0, static_cast<long long>(last_fds));
  std::printf("RESULT errors=%lld rss_growth_pct=%.1f fd_growth=%lld calls=%lld versions=%lld\n",
              static_cast<long long>(errors.load()), 100.0 * (last_rss - warm_rss) / warm_rss,
              static_cast<long long>(last_fds - warm_fds), static_cast<long long>(calls.load()),
              static_cast<long long>(versions.load()));
  return errors.load() == 0 ? 0 : 1;
}

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

// What the soak's workers share. Thread-safe: the counters are atomic and
// the failure log is serialised by log_mu.
struct Soak {
  std::string target;
  double seconds = 0;
  Clock::time_point start, end;
  strata::StrataClient::Options options;
  std::string model = strata::bench::kServingModelName;
  std::atomic<int64_t> errors{0}, calls{0}, versions{0};
  std::mutex log_mu;

  bool Running() const { return Clock::now() < end; }
  // Counts a failed call; the first 10 are printed.
  void Fail(const std::string& what, const absl::Status& s) {
    if (errors.fetch_add(1) < 10) {
      std::lock_guard<std::mutex> lock(log_mu);
      std::printf("  %s failed: %s\n", what.c_str(), s.ToString().c_str());
    }
  }
};

// 1. Closed-loop single-record Encode, 8 in flight (the load generator).
void DriveEncode(Soak* soak) {
  const auto channels = strata::bench::MakeChannels(soak->target, 2);
  std::vector<std::unique_ptr<strata::v1::InferenceService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(strata::v1::InferenceService::NewStub(c));
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    strata::v1::EncodeRequest request;
    strata::v1::EncodeResponse response;
  };
  std::vector<Call> slots(8);
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].request.mutable_model()->set_name(soak->model);
    strata::ToDenseMatrix(Rows(1, i), slots[i].request.mutable_rows());
  }
  strata::bench::LoadOptions load;
  load.concurrency = 8;
  load.seconds = soak->seconds;
  const strata::bench::LoadResult r =
      strata::bench::RunLoad(load, channels, [&](strata::bench::CallSlot* slot) {
        Call& c = slots[static_cast<size_t>(slot->index())];
        c.context = std::make_unique<grpc::ClientContext>();
        stubs[static_cast<size_t>(slot->index()) % stubs.size()]->async()->Encode(
            c.context.get(), &c.request, &c.response, [slot](grpc::Status s) { slot->Done(s); });
      });
  soak->calls += r.calls;
  if (r.errors > 0) {
    soak->Fail("Encode (" + std::to_string(r.errors) + " calls)",
               absl::InternalError(r.first_error));
  }
  soak->errors += r.errors > 0 ? r.errors - 1 : 0;
}

// 2. Unary AnomalyScore of 32 rows with per-feature errors.
void DriveAnomalyScore(Soak* soak) {
  auto client = *strata::StrataClient::Create(soak->options);
  strata::v1::AnomalyScoreRequest request;
  request.mutable_model()->set_name(soak->model);
  request.mutable_options()->set_feature_errors(true);
  strata::ToDenseMatrix(Rows(32, 7), request.mutable_rows());
  while (soak->Running()) {
    absl::Status s = client->AnomalyScore(request).status();
    ++soak->calls;
    if (!s.ok()) soak->Fail("AnomalyScore", s);
  }
}

// 3. Score streams of 2 s each, 16 records per message.
void DriveScoreStreams(Soak* soak) {
  auto client = *strata::StrataClient::Create(soak->options);
  strata::v1::AnomalyScoreRequest request;
  request.mutable_model()->set_name(soak->model);
  strata::ToDenseMatrix(Rows(16, 8), request.mutable_rows());
  while (soak->Running()) {
    const Clock::time_point stream_end =
        std::min(soak->end, Clock::now() + std::chrono::seconds(2));
    absl::Status s = client->StreamAnomalyScore(
        [&](strata::v1::AnomalyScoreRequest* next) {
          if (Clock::now() >= stream_end) return false;
          *next = request;
          return true;
        },
        [&](const strata::v1::AnomalyScoreResponse&) { ++soak->calls; });
    if (!s.ok()) soak->Fail("StreamAnomalyScore", s);
  }
}

// 4. TrainJobs: each success publishes a version that is hot-swapped in;
//    the label "stable" follows every other one.
void DriveTrainJobs(Soak* soak) {
  auto client = *strata::StrataClient::Create(soak->options);
  const strata::Matrix data = Rows(2000, 9);
  strata::v1::TrainJobSpec spec;
  spec.set_model_name(soak->model);
  for (int w : {32, 16, 8}) spec.mutable_config()->add_encoder_widths(w);
  spec.mutable_config()->set_finetune_epochs(2);
  for (int i = 0; soak->Running(); ++i) {
    auto job =
        client->UploadTrainJob(spec, data.data(), data.rows(), static_cast<int32_t>(data.cols()));
    if (!job.ok()) {
      soak->Fail("UploadTrainJob", job.status());
      continue;
    }
    auto done = client->WatchTrainJob(job->id(), [](const strata::v1::TrainJob&) {});
    if (!done.ok() || done->state() != strata::v1::TrainJob::SUCCEEDED) {
      soak->Fail("TrainJob", done.ok() ? absl::InternalError(done->error()) : done.status());
      continue;
    }
    ++soak->versions;
    if (i % 2 == 0) {
      absl::Status s = client->SetLabel(soak->model, "stable", done->version()).status();
      if (!s.ok()) soak->Fail("SetLabel", s);
    }
  }
}

// The server's resident memory (KiB) and open fds after warm-up (the first
// fifth) and at the end; -1 where never read.
struct ServerSamples {
  int64_t warm_rss = -1, warm_fds = -1, last_rss = -1, last_fds = -1;
};

// Samples the server every second until the soak ends, printing the
// warm-up sample and a line every 30 s.
ServerSamples SampleServer(const Soak& soak, int pid) {
  ServerSamples s;
  while (soak.Running()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double t = std::chrono::duration<double>(Clock::now() - soak.start).count();
    s.last_rss = RssKb(pid);
    s.last_fds = Fds(pid);
    if (s.warm_rss < 0 && t >= soak.seconds / 5) {
      s.warm_rss = s.last_rss;
      s.warm_fds = s.last_fds;
      std::printf("after warm-up (%.0f s): RSS %.1f MB, %lld fds\n", t, s.warm_rss / 1024.0,
                  static_cast<long long>(s.warm_fds));
    }
    if (static_cast<int>(t) % 30 == 0) {
      std::printf("%4.0f s: RSS %.1f MB, %lld fds, %lld calls, %lld versions, %lld errors\n", t,
                  s.last_rss / 1024.0, static_cast<long long>(s.last_fds),
                  static_cast<long long>(soak.calls.load()),
                  static_cast<long long>(soak.versions.load()),
                  static_cast<long long>(soak.errors.load()));
      std::fflush(stdout);
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Soak soak;
  soak.target = absl::GetFlag(FLAGS_target);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  soak.seconds = absl::GetFlag(FLAGS_seconds);
  soak.start = Clock::now();
  soak.end = soak.start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(soak.seconds));
  soak.options.target = soak.target;
  soak.options.timeout = absl::Seconds(30);
  std::vector<std::thread> threads;
  for (void (*drive)(Soak*) : {DriveEncode, DriveAnomalyScore, DriveScoreStreams, DriveTrainJobs}) {
    threads.emplace_back(drive, &soak);
  }

  ServerSamples s = SampleServer(soak, pid);
  for (auto& t : threads) t.join();
  if (s.warm_rss <= 0) s.warm_rss = s.last_rss, s.warm_fds = s.last_fds;
  std::printf("end: RSS %.1f MB, %lld fds\n", s.last_rss / 1024.0,
              static_cast<long long>(s.last_fds));
  std::printf(
      "RESULT errors=%lld rss_growth_pct=%.1f fd_growth=%lld calls=%lld versions=%lld\n",
      static_cast<long long>(soak.errors.load()), 100.0 * (s.last_rss - s.warm_rss) / s.warm_rss,
      static_cast<long long>(s.last_fds - s.warm_fds), static_cast<long long>(soak.calls.load()),
      static_cast<long long>(soak.versions.load()));
  return soak.errors.load() == 0 ? 0 : 1;
}

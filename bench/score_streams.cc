#include "bench/score_streams.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "client/strata_client.h"

namespace strata::bench {

double StreamRecordsPerSecond(const std::string& target, double seconds, int streams,
                              const v1::AnomalyScoreRequest& request, int64_t* errors) {
  using Clock = std::chrono::steady_clock;
  std::atomic<int64_t> scored{0};
  std::atomic<int64_t> failed{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&] {
      auto client = StrataClient::Create({target});
      if (!client.ok()) {
        ++failed;
        return;
      }
      const absl::Status status = (*client)->StreamAnomalyScore(
          [&](v1::AnomalyScoreRequest* next) {
            if (Clock::now() >= deadline) return false;
            *next = request;
            return true;
          },
          [&](const v1::AnomalyScoreResponse& response) {
            scored.fetch_add(response.scores_size(), std::memory_order_relaxed);
          });
      if (!status.ok()) {
        std::printf("  stream failed: %s\n", status.ToString().c_str());
        ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  *errors += failed.load();
  return static_cast<double>(scored.load()) /
         std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace strata::bench

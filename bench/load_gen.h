// A closed-loop gRPC load generator for the serving benchmarks: `concurrency`
// calls in flight over `channels` loopback channels, each completion starting
// the next call, for at most `seconds` and at most `max_calls` calls.
//
//   LoadResult r = RunLoad({.seconds = 5, .concurrency = 32}, channels,
//                          [&](CallSlot* slot) { ... start one async call, then slot->Done(ok) });
#ifndef STRATA_BENCH_LOAD_GEN_H_
#define STRATA_BENCH_LOAD_GEN_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace strata::bench {

class LoadRun;

struct LoadOptions {
  double seconds = 5;
  int concurrency = 32;
  int64_t max_calls = 5'000'000;
};

struct LoadResult {
  int64_t calls = 0;
  int64_t errors = 0;
  double seconds = 0;
  double qps = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::string first_error;
};

// One of the `concurrency` call loops. The load function starts one call on
// slot->channel() and calls slot->Done(status) when it completes.
class CallSlot {
 public:
  int index() const { return index_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  void Done(const grpc::Status& status);

 private:
  friend class LoadRun;
  int index_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  LoadRun* run_ = nullptr;
  std::chrono::steady_clock::time_point started_;
  std::vector<float> latencies_us_;
};

using StartCall = std::function<void(CallSlot*)>;

// Runs the closed loop; returns when every slot has finished its last call.
LoadResult RunLoad(const LoadOptions& options,
                   const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   const StartCall& start);

// `n` loopback channels to `target`, each its own TCP connection, connected.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int n);

// Median of `values` (copied).
double Median(std::vector<double> values);

}  // namespace strata::bench

#endif  // STRATA_BENCH_LOAD_GEN_H_

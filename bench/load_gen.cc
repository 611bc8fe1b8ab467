#include "bench/load_gen.h"

#include <algorithm>

namespace strata::bench {

using Clock = std::chrono::steady_clock;

class LoadRun {
 public:
  LoadRun(const LoadOptions& options, const StartCall& start)
      : options_(options), start_(start), deadline_(Clock::now() + ToDuration(options.seconds)) {}

  void Begin(CallSlot* slot) {
    slot->started_ = Clock::now();
    start_(slot);
  }

  // Records the finished call; starts the next one unless time or count is up.
  void Finished(CallSlot* slot, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    slot->latencies_us_.push_back(
        std::chrono::duration<float, std::micro>(now - slot->started_).count());
    if (!status.ok() && errors_.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      first_error_ = status.error_message();
    }
    if (now < deadline_ && calls_.fetch_add(1) + 1 < options_.max_calls) {
      Begin(slot);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) done_.notify_all();
  }

  LoadResult Run(const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
    std::vector<CallSlot> slots(static_cast<size_t>(options_.concurrency));
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].index_ = static_cast<int>(i);
      slots[i].channel_ = channels[i % channels.size()];
      slots[i].run_ = this;
      slots[i].latencies_us_.reserve(1 << 16);
    }
    const Clock::time_point begin = Clock::now();
    active_ = static_cast<int>(slots.size());
    for (CallSlot& slot : slots) Begin(&slot);
    {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return active_ == 0; });
    }
    LoadResult r;
    r.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    std::vector<float> all;
    for (const CallSlot& slot : slots) {
      all.insert(all.end(), slot.latencies_us_.begin(), slot.latencies_us_.end());
    }
    r.calls = static_cast<int64_t>(all.size());
    r.errors = errors_.load();
    r.first_error = first_error_;
    r.qps = static_cast<double>(r.calls - r.errors) / r.seconds;
    if (!all.empty()) {
      std::sort(all.begin(), all.end());
      r.p50_us = all[all.size() / 2];
      r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    }
    return r;
  }

 private:
  static Clock::duration ToDuration(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  const LoadOptions options_;
  const StartCall& start_;
  const Clock::time_point deadline_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> errors_{0};
  std::mutex mu_;
  std::condition_variable done_;
  int active_ = 0;
  std::string first_error_;
};

void CallSlot::Done(const grpc::Status& status) { run_->Finished(this, status); }

LoadResult RunLoad(const LoadOptions& options,
                   const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   const StartCall& start) {
  LoadRun run(options, start);
  return run.Run(channels);
}

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("channel_index", i);  // distinct args: a connection per channel
    channels.push_back(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  return channels;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n == 0 ? 0 : (n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2);
}

}  // namespace strata::bench

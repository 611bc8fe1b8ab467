#include "server/work_queue.h"

#include <algorithm>
#include <utility>

namespace strata {

WorkQueue::WorkQueue(Options options) : options_(options) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { Loop(); });
}

WorkQueue::~WorkQueue() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
}

bool WorkQueue::Submit(std::function<void()> work) {
  {
    MutexLock lock(&mu_);
    if (stop_ || static_cast<int64_t>(queue_.size()) >= options_.max_queued) return false;
    queue_.push_back(std::move(work));
  }
  cv_.Signal();
  return true;
}

int64_t WorkQueue::queued() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void WorkQueue::Loop() {
  while (true) {
    std::function<void()> work;
    {
      MutexLock lock(&mu_);
      cv_.Wait(&mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace strata

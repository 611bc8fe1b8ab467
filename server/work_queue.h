// WorkQueue: a fixed set of threads running closures in submission order,
// for work that must not run on gRPC's callback threads. gRPC runs every
// callback-API reaction on a small shared pool; a reaction that reads model
// files, fsyncs a job record or runs a large model call holds one of those
// threads, and calls on other streams and methods wait behind it.
//
//   WorkQueue queue({.threads = 1, .max_queued = 1024});
//   if (!queue.Submit([=] { ...; reactor->Finish(...); })) { ... busy ... }
//
// Thread-safe. The destructor runs what is queued, then joins.
#ifndef STRATA_SERVER_WORK_QUEUE_H_
#define STRATA_SERVER_WORK_QUEUE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "core/base/mutex.h"

namespace strata {

class WorkQueue {
 public:
  struct Options {
    // Threads running the work. Default 1 (work runs in submission order).
    int threads = 1;
    // Closures waiting at most; Submit refuses beyond. Default 1024.
    int64_t max_queued = 1024;
  };

  explicit WorkQueue(Options options);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `work`; false (and `work` dropped unrun) when max_queued
  // closures are waiting or the queue is being destroyed.
  bool Submit(std::function<void()> work);
  // Closures waiting (not yet started).
  int64_t queued() const;

 private:
  void Loop();

  const Options options_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace strata

#endif  // STRATA_SERVER_WORK_QUEUE_H_

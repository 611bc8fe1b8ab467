// Mutex, MutexLock and CondVar: std::mutex with Abseil's thread-safety
// annotations, the one mutex of core/ and server/.
//
// clang checks every ABSL_GUARDED_BY and ABSL_EXCLUSIVE_LOCKS_REQUIRED on
// members of this type (-Wthread-safety, an error in the clang build CI runs,
// see deploy/test.sh); a plain std::mutex is not a capability to the
// analysis, so annotations naming one are never checked.
//
// Why not absl::Mutex: Debian's Abseil is built without ThreadSanitizer, so
// TSan cannot see absl::Mutex synchronise and reports every guarded member
// as racy. std::mutex runs on pthreads, which TSan intercepts.
//
//   Mutex mu_;
//   int count_ ABSL_GUARDED_BY(mu_);
//   { MutexLock lock(&mu_); ++count_; }
//
// A CondVar predicate reads guarded members, so it says it runs under the
// lock:  cv_.Wait(&mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; });
#ifndef STRATA_CORE_BASE_MUTEX_H_
#define STRATA_CORE_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace strata {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // Waits until `done()` holds. REQUIRES: mu held.
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();
  }
  // As Wait, for at most `timeout`; returns done().
  template <typename Predicate>
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout, Predicate done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool result = cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), done);
    lock.release();
    return result;
  }
  void SignalAll() { cv_.notify_all(); }
  void Signal() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace strata

#endif  // STRATA_CORE_BASE_MUTEX_H_

// ThreadCollective: a core/base/collective.h for tests, whose ranks are threads
// of one process, so that data-parallel training runs under plain ctest (and
// the sanitizers). MPI's is client/mpi_collective.h.
//
//   ThreadCollectiveGroup group(2);
//   std::thread t([&] { trainer1->Train(rows1); });   // options.collective = &group.rank(1)
//   trainer0->Train(rows0);                           // options.collective = &group.rank(0)
//
// Reductions combine the ranks' values in rank order, so every rank gets
// the same bits.
#ifndef STRATA_TESTS_TESTING_THREAD_COLLECTIVE_H_
#define STRATA_TESTS_TESTING_THREAD_COLLECTIVE_H_

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/base/collective.h"
#include "core/base/mutex.h"

namespace strata::testing {

class ThreadCollectiveGroup {
 public:
  explicit ThreadCollectiveGroup(int size) : slots_(static_cast<size_t>(size)) {
    for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(this, r, size));
  }
  Collective& rank(int r) { return *ranks_[static_cast<size_t>(r)]; }

 private:
  class Rank : public Collective {
   public:
    Rank(ThreadCollectiveGroup* group, int rank, int size)
        : group_(group), rank_(rank), size_(size) {}
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void AllReduce(absl::Span<float> values, Op op) override { Reduce(values, op); }
    void AllReduce(absl::Span<double> values, Op op) override { Reduce(values, op); }
    std::vector<std::string> AllGather(absl::string_view bytes) override {
      return group_->Exchange(rank_, std::string(bytes));
    }

   private:
    template <typename T>
    void Reduce(absl::Span<T> values, Op op) {
      const std::vector<std::string> all = group_->Exchange(
          rank_,
          std::string(reinterpret_cast<const char*>(values.data()), sizeof(T) * values.size()));
      for (size_t i = 0; i < values.size(); ++i) {
        T acc{};
        for (size_t r = 0; r < all.size(); ++r) {
          T v;
          std::memcpy(&v, all[r].data() + sizeof(T) * i, sizeof(T));
          if (r == 0) {
            acc = v;
          } else if (op == Op::kSum) {
            acc += v;
          } else if (op == Op::kMin) {
            acc = std::min(acc, v);
          } else {
            acc = std::max(acc, v);
          }
        }
        values[i] = acc;
      }
    }
    ThreadCollectiveGroup* const group_;
    const int rank_;
    const int size_;
  };

  // Every rank's bytes, once all ranks have given theirs.
  std::vector<std::string> Exchange(int rank, std::string bytes) {
    MutexLock lock(&mu_);
    slots_[static_cast<size_t>(rank)] = std::move(bytes);
    const int generation = generation_;
    if (++arrived_ == static_cast<int>(slots_.size())) {
      result_ = slots_;
      arrived_ = 0;
      ++generation_;
      cv_.SignalAll();
    } else {
      cv_.Wait(&mu_,
               [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != generation; });
    }
    // The next exchange cannot complete before this rank joins it, so the
    // result is still this one's.
    return result_;
  }

  Mutex mu_;
  CondVar cv_;
  std::vector<std::string> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> result_ ABSL_GUARDED_BY(mu_);
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_THREAD_COLLECTIVE_H_

// Collective: what data-parallel training needs from the processes (ranks)
// it runs on: sums, minima and maxima across ranks, and gathers.
//
// Training in one process takes none (a null Collective*). Under mpirun the
// CLI passes client/mpi_collective.h's, on Open MPI; tests may pass one of
// threads in one process (tests/testing/thread_collective.h).
//
//   Trainer::Options options;
//   options.collective = mpi.get();                 // rank r of n
//   trainer->Train(my_rows);                         // every rank, its own rows
//
// Every rank makes the same calls in the same order, and each call returns
// the same result on every rank. A rank that dies ends the job (MPI aborts
// the others); no call returns an error.
#ifndef STRATA_CORE_BASE_COLLECTIVE_H_
#define STRATA_CORE_BASE_COLLECTIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata {

class Collective {
 public:
  enum class Op { kSum, kMin, kMax };

  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Combines `values` elementwise across ranks, in place.
  virtual void AllReduce(absl::Span<float> values, Op op) = 0;
  virtual void AllReduce(absl::Span<double> values, Op op) = 0;
  // Every rank's `bytes`, in rank order.
  virtual std::vector<std::string> AllGather(absl::string_view bytes) = 0;
};

// The status every rank agrees on: `local` where it failed, else an error
// naming the first rank that failed (its own message is in its output), or
// OK when no rank failed. For errors one rank finds alone (its shard does
// not parse), so that no rank waits in a collective the others left.
absl::Status AgreeOnStatus(Collective* c, const absl::Status& local);

}  // namespace strata

#endif  // STRATA_CORE_BASE_COLLECTIVE_H_

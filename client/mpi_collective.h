// MpiCollective: core/base/collective.h on MPI (Debian's Open MPI), for
// `strata train --local` started by mpirun.
//
//   absl::StatusOr<std::unique_ptr<MpiCollective>> mpi = MpiCollective::FromEnvironment();
//   if (*mpi != nullptr) options.collective = mpi->get();   // rank r of n
//
// MPI's default error handler stays: a failed call, or a rank that dies,
// ends every rank (mpirun then exits non-zero), so no call returns an error.
#ifndef STRATA_CLIENT_MPI_COLLECTIVE_H_
#define STRATA_CLIENT_MPI_COLLECTIVE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/collective.h"

namespace strata::cli {

class MpiCollective : public Collective {
 public:
  // Initialises MPI when mpirun (Open MPI's, or a PMI launcher's) started
  // this process as one of several ranks; null when it runs alone, so that
  // plain `strata` never initialises MPI.
  static absl::StatusOr<std::unique_ptr<MpiCollective>> FromEnvironment();
  // The ranks the launcher's environment says this process is one of (0
  // when not started by one).
  static int LaunchedRanks();
  ~MpiCollective() override;  // MPI_Finalize

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Ranks on this machine (for the threads each may use).
  int local_size() const { return local_size_; }
  void AllReduce(absl::Span<float> values, Op op) override;
  void AllReduce(absl::Span<double> values, Op op) override;
  std::vector<std::string> AllGather(absl::string_view bytes) override;
  // Ends every rank of the job (MPI_Abort) with `code`; does not return.
  [[noreturn]] void Abort(int code);

 private:
  MpiCollective(int rank, int size, int local_size)
      : rank_(rank), size_(size), local_size_(local_size) {}
  const int rank_;
  const int size_;
  const int local_size_;
};

}  // namespace strata::cli

#endif  // STRATA_CLIENT_MPI_COLLECTIVE_H_

#include "client/mpi_collective.h"

#include <mpi.h>

#include <cstdlib>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strata::cli {
namespace {

// The first of `names` set in the environment, as an int; 0 when none is.
int EnvInt(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* value = std::getenv(name);
    int n = 0;
    if (value != nullptr && absl::SimpleAtoi(value, &n)) return n;
  }
  return 0;
}

MPI_Op MpiOp(Collective::Op op) {
  return op == Collective::Op::kSum ? MPI_SUM : op == Collective::Op::kMin ? MPI_MIN : MPI_MAX;
}

// MPI counts are ints: reduce in pieces of at most 2^30 values.
template <typename T>
void AllReduceInPieces(absl::Span<T> values, MPI_Datatype type, Collective::Op op) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t at = 0; at < values.size(); at += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, values.size() - at));
    MPI_Allreduce(MPI_IN_PLACE, values.data() + at, n, type, MpiOp(op), MPI_COMM_WORLD);
  }
}

}  // namespace

int MpiCollective::LaunchedRanks() {
  return EnvInt({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"});
}

absl::StatusOr<std::unique_ptr<MpiCollective>> MpiCollective::FromEnvironment() {
  if (LaunchedRanks() <= 1) return nullptr;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    return absl::UnavailableError("MPI_Init failed: is this mpirun's process?");
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int local = EnvInt({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
  return std::unique_ptr<MpiCollective>(new MpiCollective(rank, size, local > 0 ? local : 1));
}

MpiCollective::~MpiCollective() { MPI_Finalize(); }

void MpiCollective::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; should it, leave anyway
}

void MpiCollective::AllReduce(absl::Span<float> values, Op op) {
  AllReduceInPieces(values, MPI_FLOAT, op);
}

void MpiCollective::AllReduce(absl::Span<double> values, Op op) {
  AllReduceInPieces(values, MPI_DOUBLE, op);
}

std::vector<std::string> MpiCollective::AllGather(absl::string_view bytes) {
  // Sizes first, then the bytes; each rank's part must fit an int count
  // (the trainer gathers at most Trainer::Options::calibration_values floats).
  long long mine = static_cast<long long>(bytes.size());
  std::vector<long long> sizes(static_cast<size_t>(size_));
  MPI_Allgather(&mine, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD);
  std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  long long total = 0;
  for (int r = 0; r < size_; ++r) {
    if (sizes[r] > std::numeric_limits<int>::max() ||
        total + sizes[r] > std::numeric_limits<int>::max()) {
      MPI_Abort(MPI_COMM_WORLD, 1);  // cannot happen within the trainer's budget
    }
    counts[r] = static_cast<int>(sizes[r]);
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  std::string all(static_cast<size_t>(total), '\0');
  MPI_Allgatherv(bytes.data(), static_cast<int>(mine), MPI_BYTE, all.data(), counts.data(),
                 offsets.data(), MPI_BYTE, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.push_back(all.substr(offsets[r], counts[r]));
  return out;
}

}  // namespace strata::cli

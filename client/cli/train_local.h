// `strata train --local`: trains in this process with the core library and
// writes the model to --out, or publishes it into the model store --store as
// strata-server does. Under mpirun, each process is one rank of a
// data-parallel training, and rank 0 writes the model.
#ifndef STRATA_CLIENT_CLI_TRAIN_LOCAL_H_
#define STRATA_CLIENT_CLI_TRAIN_LOCAL_H_

#include "client/cli/train_flags.h"
#include "core/data/csv_reader.h"
#include "strata/v1/train_config.pb.h"

namespace strata::cli {

// Trains on flags.data_path read with `csv`, with `config`; prints the plan,
// the progress line (rank 0's), the training curve and the summary. Ctrl-C
// cancels the training. A rank that fails ends every rank of the MPI job.
// Returns the exit code. REQUIRES: CheckTrainFlags(flags) passed, flags.local.
int TrainLocally(const TrainFlags& flags, const CsvOptions& csv, v1::TrainConfig config);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_TRAIN_LOCAL_H_

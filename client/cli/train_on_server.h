// `strata train` without --local, and `strata sweep`: a training job on
// strata-server, submitted (the CSV uploaded, or named under the server's
// --data_root) and, with --wait (always for a sweep), followed to its end
// with a progress line.
#ifndef STRATA_CLIENT_CLI_TRAIN_ON_SERVER_H_
#define STRATA_CLIENT_CLI_TRAIN_ON_SERVER_H_

#include "client/cli/commands.h"
#include "client/cli/train_flags.h"
#include "core/data/csv_reader.h"
#include "strata/v1/service.pb.h"

namespace strata::cli {

// Submits `spec`: with flags.server_csv, the server reads that file; else
// flags.data_path is read with `csv` and uploaded. With flags.job_id (a
// sweep's --job), follows that job instead of submitting one. With
// flags.wait, follows the job to its end (a sweep's results table is printed
// when it ends); Ctrl-C then stops the following, not the job, and exits
// kExitInterrupted. Returns the exit code.
int TrainOnServer(const GlobalFlags& global, const TrainFlags& flags, v1::TrainJobSpec spec,
                  const CsvOptions& csv);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_TRAIN_ON_SERVER_H_

// The one conversion between core's TrainProgress (core/train/trainer.h, one
// epoch's report) and the wire's v1::TrainJobProgress: the server fills a
// job's progress with it, the CLI reads a watched job's progress back.
//
//   *record.mutable_progress() = ToTrainJobProgress(p);   // a job's epoch
//   TrainProgress shown = FromTrainJobProgress(job.progress());  // strata train
//
// Functions only; thread-compatible.
#ifndef STRATA_PROTO_TRAIN_PROGRESS_H_
#define STRATA_PROTO_TRAIN_PROGRESS_H_

#include "core/train/trainer.h"
#include "strata/v1/service.pb.h"

namespace strata {

// Every field of `progress`; the trial (a sweep's, 1-based) is left 0 for
// the caller that knows it to set.
v1::TrainJobProgress ToTrainJobProgress(const TrainProgress& progress);

// The inverse. A network or networks of 0 (a server from before networks
// were counted) reads as 1: the served network of one.
TrainProgress FromTrainJobProgress(const v1::TrainJobProgress& progress);

}  // namespace strata

#endif  // STRATA_PROTO_TRAIN_PROGRESS_H_

// TrainingService: submit (inline rows or a server-side CSV), upload (a
// client stream of row chunks), get, watch, cancel and list TrainJobs.
//
// Thread-safe. Watch polls the job's state on gRPC's own threads (a
// grpc::Alarm), so training threads never call into a reactor.
#ifndef STRATA_SERVER_TRAINING_SERVICE_H_
#define STRATA_SERVER_TRAINING_SERVICE_H_

#include <cstdint>

#include "absl/time/time.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/train_jobs.h"
#include "server/work_queue.h"
#include "strata/v1/service.grpc.pb.h"

namespace strata {

class TrainingServiceImpl final : public v1::TrainingService::CallbackService {
 public:
  struct Options {
    // Runs the jobs. Required; must outlive the service.
    TrainJobManager* jobs = nullptr;
    // Largest training set accepted, in float values (rows x cols).
    // Default 2^28 (1 GiB of floats; MNIST's training set is 47 M).
    int64_t max_train_values = int64_t{1} << 28;
    // How often Watch looks for progress. Default 50 ms.
    absl::Duration watch_poll_interval = absl::Milliseconds(50);
    // Request metrics. Default none.
    ServerMetrics* metrics = nullptr;
    // Who may call: Submit, Upload and Cancel write, the rest read. Default: everyone.
    Authorizer auth;
    // Runs Submit, the end of Upload and Cancel, which write the job's
    // record to disk (fsync), off gRPC's callback threads. Must outlive the
    // service. Default none: inline.
    WorkQueue* store_work = nullptr;
  };
  explicit TrainingServiceImpl(Options options) : options_(options) {}

  grpc::ServerUnaryReactor* SubmitTrainJob(grpc::CallbackServerContext* context,
                                           const v1::SubmitTrainJobRequest* request,
                                           v1::TrainJob* response) override;
  grpc::ServerReadReactor<v1::UploadTrainJobRequest>* UploadTrainJob(
      grpc::CallbackServerContext* context, v1::TrainJob* response) override;
  grpc::ServerUnaryReactor* GetTrainJob(grpc::CallbackServerContext* context,
                                        const v1::GetTrainJobRequest* request,
                                        v1::TrainJob* response) override;
  grpc::ServerWriteReactor<v1::TrainJob>* WatchTrainJob(
      grpc::CallbackServerContext* context, const v1::GetTrainJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelTrainJob(grpc::CallbackServerContext* context,
                                           const v1::CancelTrainJobRequest* request,
                                           v1::TrainJob* response) override;
  grpc::ServerUnaryReactor* ListTrainJobs(grpc::CallbackServerContext* context,
                                          const v1::ListTrainJobsRequest* request,
                                          v1::ListTrainJobsResponse* response) override;

  const Options& options() const { return options_; }

 private:
  const Options options_;
};

}  // namespace strata

#endif  // STRATA_SERVER_TRAINING_SERVICE_H_

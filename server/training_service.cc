#include "server/training_service.h"

#include <grpcpp/alarm.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/dense_matrix.h"
#include "server/rpc_call.h"

namespace strata {
namespace {

// Values reserved against the queue's bound (TrainJobManager::ReserveUpload)
// until a job takes them over (HandedOver) or this is destroyed.
class Reservation {
 public:
  explicit Reservation(TrainJobManager* jobs) : jobs_(jobs) {}
  ~Reservation() {
    if (values_ > 0) jobs_->ReleaseUpload(values_);
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  absl::Status Reserve(int64_t more) {
    if (absl::Status s = jobs_->ReserveUpload(more); !s.ok()) return s;
    values_ += more;
    return absl::OkStatus();
  }
  int64_t values() const { return values_; }
  void HandedOver() { values_ = 0; }

 private:
  TrainJobManager* const jobs_;
  int64_t values_ = 0;
};

// Collects the spec, then chunks of rows, then submits the job.
class UploadReactor final : public grpc::ServerReadReactor<v1::UploadTrainJobRequest> {
 public:
  // `admitted` is the authorization of the call: an error ends it at once.
  UploadReactor(grpc::CallbackServerContext* context, ServerMetrics* metrics, TrainJobManager* jobs,
                WorkQueue* store_work, int64_t max_values, v1::TrainJob* response,
                const absl::Status& admitted)
      : call_(metrics, "UploadTrainJob"),
        context_(context),
        jobs_(jobs),
        store_work_(store_work),
        max_values_(max_values),
        response_(response),
        reserved_(jobs) {
    if (!admitted.ok()) {
      Finish(call_.Finish(admitted));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed, or cancelled (then no job: FinishOn checks).
      // Submitting writes the job's record (fsync): off this thread.
      call_.FinishOn(
          store_work_, context_, [this] { return Submit(); },
          [this](const grpc::Status& s) { Finish(s); });
      return;
    }
    if (absl::Status s = Take(); !s.ok()) {
      Finish(call_.Finish(s));
      return;
    }
    ++messages_;
    StartRead(&request_);
  }

  // Rows not handed to a job (the upload failed or was refused) are
  // released with reserved_.
  void OnDone() override { delete this; }

 private:
  absl::Status Take() {
    if (messages_ == 0) {
      if (!request_.has_spec()) {
        return absl::InvalidArgumentError(
            "upload message 0: the first message must carry the spec");
      }
      spec_ = std::move(*request_.mutable_spec());
      // Refuse before the rows travel.
      return jobs_->CheckTrains();
    }
    if (!request_.has_chunk()) {
      return absl::InvalidArgumentError(
          absl::StrCat("upload message ", messages_, ": expected a chunk of rows"));
    }
    const v1::DenseMatrix& chunk = request_.chunk();
    if (cols_ == 0) cols_ = chunk.cols();
    if (chunk.cols() != cols_) {
      return absl::InvalidArgumentError(absl::StrCat("upload message ", messages_, ": ",
                                                     chunk.cols(), " columns, earlier chunks had ",
                                                     cols_));
    }
    const int64_t total = int64_t{used_rows_} * cols_ + chunk.values_size();
    if (total > max_values_) return TrainJobManager::CheckTrainValues(total, max_values_);
    // Validates shape and values; errors name the message and its row.
    absl::StatusOr<Matrix> rows =
        FromDenseMatrix(chunk, absl::StrCat("upload message ", messages_), max_values_);
    if (!rows.ok()) return rows.status();
    // Chunks are joined by position: every chunk that names its columns
    // must name them as the first named one did.
    if (chunk.column_names_size() > 0) {
      std::vector<std::string> names(chunk.column_names().begin(), chunk.column_names().end());
      if (names.size() != static_cast<size_t>(cols_)) {
        return absl::InvalidArgumentError(absl::StrCat("upload message ", messages_,
                                                       ": column_names has ", names.size(),
                                                       " names for ", cols_, " columns"));
      }
      if (column_names_.empty()) {
        column_names_ = std::move(names);
        names_message_ = messages_;
      } else if (names != column_names_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "upload message ", messages_, ": column_names (", absl::StrJoin(names, ", "),
            ") differ from upload message ", names_message_, "'s (",
            absl::StrJoin(column_names_, ", "), "); chunks are joined by position"));
      }
    }
    // The rows grow in place: a row-major matrix keeping its width grows by
    // realloc, which moves large blocks by remapping their pages (mremap)
    // rather than copying, so the upload peaks at its size plus one chunk,
    // not twice its size. Capacity doubles, as a vector's would, so that
    // many small chunks do not realloc each time.
    const Eigen::Index used = used_rows_, add = rows->rows();
    if (used + add > rows_.rows()) {
      // The rows held while uploading count against the queue's bound, as
      // a queued job's do: many uploads at once cannot exhaust memory. The
      // spare capacity counts too; when the bound leaves no room for it,
      // the matrix grows by exactly what arrived instead.
      const Eigen::Index needed = used + add;
      const Eigen::Index doubled = std::min<Eigen::Index>(
          std::max<Eigen::Index>(needed, 2 * rows_.rows()), max_values_ / cols_);
      Eigen::Index capacity = doubled;
      absl::Status reserved = reserved_.Reserve(int64_t{capacity - rows_.rows()} * cols_);
      if (!reserved.ok() && doubled > needed) {
        capacity = needed;
        reserved = reserved_.Reserve(int64_t{capacity - rows_.rows()} * cols_);
      }
      if (!reserved.ok()) return reserved;
      rows_.conservativeResize(capacity, cols_);
    }
    rows_.middleRows(used, add) = *rows;
    used_rows_ += add;
    return absl::OkStatus();
  }

  absl::Status Submit() {
    if (messages_ == 0) return absl::InvalidArgumentError("the upload carried no spec");
    if (used_rows_ == 0) return absl::InvalidArgumentError("the upload carried no rows");
    TrainJobManager::JobData data;
    rows_.conservativeResize(used_rows_, cols_);  // gives back the spare capacity, in place
    data.rows = std::move(rows_);
    data.column_names = std::move(column_names_);
    data.reserved_values = reserved_.values();
    absl::StatusOr<v1::TrainJob> job = jobs_->Submit(std::move(spec_), std::move(data));
    if (!job.ok()) return job.status();
    reserved_.HandedOver();
    *response_ = std::move(*job);
    return absl::OkStatus();
  }

  RpcCall call_;
  grpc::CallbackServerContext* const context_;
  TrainJobManager* const jobs_;
  WorkQueue* const store_work_;
  const int64_t max_values_;
  v1::TrainJob* const response_;
  v1::UploadTrainJobRequest request_;
  v1::TrainJobSpec spec_;
  Matrix rows_;  // rows_.rows() is the capacity; the first used_rows_ hold data
  Eigen::Index used_rows_ = 0;
  Reservation reserved_;  // for rows_'s capacity
  int32_t cols_ = 0;
  int64_t messages_ = 0;
  // The first chunk's column names that named them, and its message.
  std::vector<std::string> column_names_;
  int64_t names_message_ = 0;
};

// Writes the job whenever it changed, polling with an alarm, until it ends.
// Exactly one of {an alarm, a write} is pending at a time, so the callback
// running (or the constructor) has the members to itself, and Finish runs
// once, from whichever callback sees the end. OnCancel, which gRPC may
// run on another thread at any time, touches nothing: grpc::Alarm is not
// thread-safe (its Cancel would race the Set of a callback re-arming it), and
// the next alarm, within one poll interval, sees the call cancelled.
class WatchReactor final : public grpc::ServerWriteReactor<v1::TrainJob> {
 public:
  // `admitted` is the authorization of the call: an error ends it at once.
  WatchReactor(grpc::CallbackServerContext* context, ServerMetrics* metrics, TrainJobManager* jobs,
               std::string id, absl::Duration poll, const absl::Status& admitted)
      : call_(metrics, "WatchTrainJob"),
        context_(context),
        jobs_(jobs),
        id_(std::move(id)),
        poll_(poll) {
    if (!admitted.ok()) {
      FinishOnce(admitted);
      return;
    }
    Poll();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(absl::CancelledError("the client went away"));
    } else if (IsTerminalState(current_.state())) {
      FinishOnce(absl::OkStatus());
    } else {
      Arm();
    }
  }

  void OnDone() override { delete this; }

 private:
  void Arm() {
    alarm_.Set(absl::ToChronoTime(absl::Now() + poll_), [this](bool ok) {
      if (!ok || context_->IsCancelled()) {
        FinishOnce(absl::CancelledError("watch cancelled"));
        return;
      }
      Poll();
    });
  }

  void Poll() {
    absl::StatusOr<v1::TrainJob> job = jobs_->Get(id_);
    if (!job.ok()) {
      FinishOnce(job.status());
      return;
    }
    std::string bytes = job->SerializeAsString();
    if (bytes == last_sent_) {
      Arm();
      return;
    }
    last_sent_ = std::move(bytes);
    current_ = std::move(*job);
    StartWrite(&current_);
  }

  void FinishOnce(const absl::Status& status) {
    if (!finished_.exchange(true)) Finish(call_.Finish(status));
  }

  RpcCall call_;
  grpc::CallbackServerContext* const context_;
  TrainJobManager* const jobs_;
  const std::string id_;
  const absl::Duration poll_;
  grpc::Alarm alarm_;
  v1::TrainJob current_;
  std::string last_sent_;
  std::atomic<bool> finished_{false};
};

}  // namespace

grpc::ServerUnaryReactor* TrainingServiceImpl::SubmitTrainJob(
    grpc::CallbackServerContext* context, const v1::SubmitTrainJobRequest* request,
    v1::TrainJob* response) {
  RpcCall call(options_.metrics, "SubmitTrainJob");
  if (absl::Status s = options_.auth.Check(*context, Access::kWrite); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  // The rows count against the queue's bound from the moment they are
  // parsed: calls waiting for the store queue hold them too.
  auto reservation = std::make_shared<Reservation>(options_.jobs);
  auto data = std::make_shared<TrainJobManager::JobData>();
  if (request->has_rows()) {
    const int64_t values = int64_t{request->rows().rows()} * request->rows().cols();
    if (values > options_.max_train_values) {
      return call.FinishUnary(context,
                              TrainJobManager::CheckTrainValues(values, options_.max_train_values));
    }
    if (absl::Status s = reservation->Reserve(values); !s.ok()) return call.FinishUnary(context, s);
    absl::StatusOr<Matrix> rows = FromDenseMatrix(request->rows(), "rows", values);
    if (!rows.ok()) return call.FinishUnary(context, rows.status());
    data->rows = *std::move(rows);
    data->column_names.assign(request->rows().column_names().begin(),
                              request->rows().column_names().end());
  } else if (request->has_csv_path()) {
    data->csv_path = request->csv_path();
  } else {
    return call.FinishUnary(
        context, absl::InvalidArgumentError("the request has neither rows nor csv_path"));
  }
  // Queuing writes the job's record (fsync): off this thread.
  return call.FinishUnaryOn(
      options_.store_work, context, [this, request, response, data, reservation] {
        data->reserved_values = reservation->values();
        absl::StatusOr<v1::TrainJob> job = options_.jobs->Submit(request->spec(), std::move(*data));
        if (!job.ok()) return job.status();
        reservation->HandedOver();
        *response = *std::move(job);
        return absl::OkStatus();
      });
}

grpc::ServerReadReactor<v1::UploadTrainJobRequest>* TrainingServiceImpl::UploadTrainJob(
    grpc::CallbackServerContext* context, v1::TrainJob* response) {
  return new UploadReactor(context, options_.metrics, options_.jobs, options_.store_work,
                           options_.max_train_values, response,
                           options_.auth.Check(*context, Access::kWrite));
}

grpc::ServerUnaryReactor* TrainingServiceImpl::GetTrainJob(grpc::CallbackServerContext* context,
                                                           const v1::GetTrainJobRequest* request,
                                                           v1::TrainJob* response) {
  RpcCall call(options_.metrics, "GetTrainJob");
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  absl::StatusOr<v1::TrainJob> job = options_.jobs->Get(request->id());
  if (job.ok()) *response = *std::move(job);
  return call.FinishUnary(context, job.status());
}

grpc::ServerWriteReactor<v1::TrainJob>* TrainingServiceImpl::WatchTrainJob(
    grpc::CallbackServerContext* context, const v1::GetTrainJobRequest* request) {
  return new WatchReactor(context, options_.metrics, options_.jobs, request->id(),
                          options_.watch_poll_interval,
                          options_.auth.Check(*context, Access::kRead));
}

grpc::ServerUnaryReactor* TrainingServiceImpl::CancelTrainJob(
    grpc::CallbackServerContext* context, const v1::CancelTrainJobRequest* request,
    v1::TrainJob* response) {
  RpcCall call(options_.metrics, "CancelTrainJob");
  if (absl::Status s = options_.auth.Check(*context, Access::kWrite); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  // Cancelling a queued job writes its record (fsync): off this thread.
  return call.FinishUnaryOn(options_.store_work, context, [this, request, response] {
    absl::StatusOr<v1::TrainJob> job = options_.jobs->Cancel(request->id());
    if (job.ok()) *response = *std::move(job);
    return job.status();
  });
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ListTrainJobs(
    grpc::CallbackServerContext* context, const v1::ListTrainJobsRequest* request,
    v1::ListTrainJobsResponse* response) {
  RpcCall call(options_.metrics, "ListTrainJobs");
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  for (v1::TrainJob& job : options_.jobs->List(request->model_name())) {
    *response->add_jobs() = std::move(job);
  }
  return call.FinishUnary(context, absl::OkStatus());
}

}  // namespace strata

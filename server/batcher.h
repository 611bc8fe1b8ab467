// Batcher: the dynamic batcher that coalesces small serving requests.
//
// The Batcher queues small requests on the same model version and op, and
// runs them as one model call (RunInference, server/inference.h) once
// `max_rows` rows are waiting or the oldest has waited `max_delay`; it
// splits the result back per request.
//
//   Batcher batcher({.max_rows = 256, .max_delay = absl::Microseconds(200)});
//   batcher.Submit(model, op, std::move(rows),
//                  [](absl::StatusOr<Matrix> out) { ... finish the call ... });
//
// Thread-safe. Completions run on the batcher's thread, in submission order
// within one (version, op); they must not block. The destructor runs what
// is queued, then joins.
#ifndef STRATA_SERVER_BATCHER_H_
#define STRATA_SERVER_BATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/mutex.h"
#include "core/nn/matrix.h"
#include "server/inference.h"
#include "server/model_registry.h"

namespace strata {

class Batcher {
 public:
  struct Options {
    // Requests with fewer rows than this are batched, up to this many rows
    // per call. Required: >= 2.
    int64_t max_rows = 256;
    // How long the oldest queued request may wait for company.
    absl::Duration max_delay = absl::Microseconds(200);
    // Called after each model call with its rows and requests. Default none.
    std::function<void(int64_t rows, int64_t requests)> on_batch;
  };
  using Done = std::function<void(absl::StatusOr<Matrix>)>;

  explicit Batcher(Options options);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  int64_t max_rows() const { return options_.max_rows; }

  // Queues `rows` (fewer than max_rows) for `op` on `m`; `done` gets this
  // request's rows of the result, or its error (when a shared call fails,
  // each request is run alone, so one request's bad rows fail only itself).
  void Submit(ServableModel m, InferenceOp op, Matrix rows, Done done);

 private:
  struct Pending {
    Matrix rows;
    Done done;
  };
  // Requests for one version and op, answered by one call.
  struct Group {
    ServableModel model;
    InferenceOp op;
    std::vector<Pending> pending;
    int64_t rows = 0;
    absl::Time first;
  };

  void Loop();
  // Waits until the oldest group may run and moves it to `out`; false once
  // stopping with nothing queued.
  bool NextReady(Group* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(Group group) const;

  const Options options_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Group> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace strata

#endif  // STRATA_SERVER_BATCHER_H_

#include "server/batcher.h"

#include <utility>

namespace strata {

Batcher::Batcher(Options options) : options_(options), thread_([this] { Loop(); }) {}

Batcher::~Batcher() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void Batcher::Submit(ServableModel m, InferenceOp op, Matrix rows, Done done) {
  const int64_t n = rows.rows();
  bool wake = false;
  {
    MutexLock lock(&mu_);
    // Join the newest open group of this version and op if it has room.
    Group* group = nullptr;
    for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
      if (it->model.model == m.model && it->op == op) {
        if (it->rows + n <= options_.max_rows) group = &*it;
        break;
      }
    }
    if (group == nullptr) {
      wake = queue_.empty();
      queue_.push_back(Group{std::move(m), op, {}, 0, absl::Now()});
      group = &queue_.back();
    }
    group->pending.push_back(Pending{std::move(rows), std::move(done)});
    group->rows += n;
    if (group->rows >= options_.max_rows) wake = true;
  }
  if (wake) cv_.Signal();
}

void Batcher::Loop() {
  while (true) {
    Group group;
    {
      MutexLock lock(&mu_);
      if (!NextReady(&group)) return;
    }
    Run(std::move(group));
  }
}

bool Batcher::NextReady(Group* out) {
  while (true) {
    cv_.Wait(&mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return false;  // stopping, and nothing left to run
    // The oldest group runs when full, when its time is up, or on shutdown.
    // Groups behind it are younger: waiting for it never starves them.
    const Group& oldest = queue_.front();
    const absl::Duration wait = oldest.first + options_.max_delay - absl::Now();
    if (stop_ || oldest.rows >= options_.max_rows || wait <= absl::ZeroDuration()) {
      *out = std::move(queue_.front());
      queue_.pop_front();
      return true;
    }
    cv_.WaitWithTimeout(&mu_, wait, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || queue_.front().rows >= options_.max_rows;
    });
  }
}

void Batcher::Run(Group group) const {
  Matrix all;
  const Matrix* input = &group.pending.front().rows;
  if (group.pending.size() > 1) {
    all.resize(group.rows, input->cols());
    Eigen::Index at = 0;
    for (const Pending& p : group.pending) {
      all.middleRows(at, p.rows.rows()) = p.rows;
      at += p.rows.rows();
    }
    input = &all;
  }
  absl::StatusOr<Matrix> out = RunInference(group.model, group.op, *input);
  if (options_.on_batch) {
    options_.on_batch(group.rows, static_cast<int64_t>(group.pending.size()));
  }
  if (group.pending.size() == 1) {
    group.pending.front().done(std::move(out));
    return;
  }
  if (!out.ok()) {
    // One request's rows (values that overflow the model, say) must not fail
    // the others: each runs alone and gets its own answer or error.
    for (Pending& p : group.pending) p.done(RunInference(group.model, group.op, p.rows));
    return;
  }
  Eigen::Index at = 0;
  for (Pending& p : group.pending) {
    const Eigen::Index n = p.rows.rows();
    p.done(Matrix(out->middleRows(at, n)));
    at += n;
  }
}

}  // namespace strata

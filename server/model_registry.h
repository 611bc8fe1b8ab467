// ModelRegistry: the model versions being served, kept in step with the store.
//
// Every refresh (each poll_interval, and at once after this server publishes)
// lists the store, asks the version policy what to serve, loads new versions
// *before* unloading old ones, and swaps in a new immutable snapshot. A
// request takes a ServableModel (a shared_ptr to an immutable Model), so a
// request in flight on an old version finishes on it; the old version is
// freed when its last request drops the handle. A version that fails to load
// is logged and skipped until its file changes, and the policy is asked again
// as if it were not in the store: a broken new version never displaces one
// that serves. A version deleted from the store is unloaded, and a label
// pointing at it removed, at the next refresh, each with a log line and an
// event.
//
//   absl::StatusOr<ServableModel> m = registry->Get(spec);
//   m.model->Encode(batch, layer);   // m.version says who answered
//
// Thread-safe.
#ifndef STRATA_SERVER_MODEL_REGISTRY_H_
#define STRATA_SERVER_MODEL_REGISTRY_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/mutex.h"
#include "core/model/model.h"
#include "core/model/model_store.h"
#include "core/scoring/drift.h"
#include "server/version_policy.h"
#include "strata/v1/service.pb.h"

namespace strata {

struct ServableModel {
  std::string name;
  int64_t version = 0;
  std::shared_ptr<const Model> model;
  // Watches this version's live inputs; null for a model without a drift
  // baseline (trained before drift monitoring existed).
  std::shared_ptr<DriftMonitor> drift;
};

// What a refresh did to one version, for logs and metrics.
struct VersionEvent {
  enum class Kind { kLoaded, kUnloaded, kLoadFailed, kLabelRemoved };
  Kind kind;
  std::string name;
  int64_t version;
  absl::Duration load_time;  // kLoaded only.
  // kLoadFailed: why; kUnloaded: why, when not by the policy.
  std::string error;
  std::string label;  // kLabelRemoved only.
};

class ModelRegistry {
 public:
  struct Options {
    // The store to serve from. Required; must outlive the registry.
    ModelStore* store = nullptr;
    // Which versions to serve. Default: the latest one.
    VersionPolicy policy;
    // How often to look for new, changed or removed versions. Default 2 s;
    // zero or negative: only on Refresh().
    absl::Duration poll_interval = absl::Seconds(2);
    // Called for every version event, after it was logged: without locks
    // held (it may call back into the registry), one at a time, in the
    // order the refreshes made them. A refresh that finds another thread
    // delivering leaves its events to that thread, so they can arrive after
    // Refresh() returns. Default: none.
    std::function<void(const VersionEvent&)> on_event;
    // Records in each version's drift window. Default 10,000.
    int64_t drift_window_rows = 10000;
  };

  // Loads what the store holds now, then starts polling.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Create(Options options);
  ~ModelRegistry();

  // The version `spec` selects: by number, by label, or the latest served.
  // InvalidArgument for a name or label the store refuses; NotFound names
  // what is missing.
  absl::StatusOr<ServableModel> Get(const v1::ModelSpec& spec) const;

  // Brings the served versions in step with the store now.
  void Refresh() ABSL_LOCKS_EXCLUDED(refresh_mu_);

  // Points `label` at `version` of `name` (0 removes the label), persists it
  // in the store, loads the version if the policy did not serve it (labels
  // pin their versions, so any version in the store can be labelled: a
  // rollback), and returns the model's labels afterwards. The version is
  // loaded before the label moves. NotFound for a version not in the store
  // or a label to remove that does not exist; FailedPrecondition for a
  // version that does not load, the label never having left where it was.
  absl::StatusOr<std::map<std::string, int64_t>> SetLabel(const std::string& name,
                                                          const std::string& label, int64_t version)
      ABSL_LOCKS_EXCLUDED(refresh_mu_);

  struct ModelView {
    std::string name;
    std::vector<int64_t> versions;  // served, ascending
    std::map<std::string, int64_t> labels;
  };
  // Every served version (for metrics); sorted by name and version.
  std::vector<ServableModel> ServedVersions() const;
  std::vector<ModelView> List() const;

 private:
  struct Served {
    std::shared_ptr<const Model> model;
    std::shared_ptr<DriftMonitor> drift;
  };
  struct Entry {
    std::map<int64_t, Served> versions;
    std::map<std::string, int64_t> labels;
  };
  using Snapshot = std::map<std::string, Entry>;
  // Identity of a file that failed to load; retried once it changes.
  struct FailedFile {
    int64_t size = -1;
    int64_t mtime_ns = -1;
    std::string error;
  };

  explicit ModelRegistry(Options options) : options_(std::move(options)) {}
  std::shared_ptr<const Snapshot> snapshot() const ABSL_LOCKS_EXCLUDED(mu_);
  void PollLoop() ABSL_LOCKS_EXCLUDED(mu_, refresh_mu_);
  // Refresh's work: swaps in the new snapshot and queues its events.
  // Returns whether there were any.
  bool RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_) ABSL_LOCKS_EXCLUDED(events_mu_);
  // Whether version `v` of `name` failed to load and its file has not
  // changed since; a changed file's failure is forgotten (it gets another
  // chance).
  bool KnownBroken(const std::string& name, int64_t v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  // Reads version `v` of `name` into (*loaded)[v] and adds a kLoaded event,
  // or remembers the failure in failed_ and adds a kLoadFailed event.
  // Returns the load's error.
  absl::Status LoadVersion(const std::string& name, int64_t v, std::map<int64_t, Served>* loaded,
                           std::vector<VersionEvent>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  // SetLabel's work, before its refresh: checks the version, loads it into
  // the served snapshot unless it is there, and only then writes the label.
  absl::Status WriteLabel(const std::string& name, const std::string& label, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_) ABSL_LOCKS_EXCLUDED(mu_, events_mu_);
  void QueueEvents(std::vector<VersionEvent> events) ABSL_LOCKS_EXCLUDED(events_mu_);
  // Logs the queued events and calls on_event with each, without a lock
  // held, unless another thread is doing so (it then takes these too).
  void DeliverEvents() ABSL_LOCKS_EXCLUDED(refresh_mu_, events_mu_);

  // Constant after construction.
  const Options options_;

  // Serialises refreshes and label changes; guards the failure memory.
  Mutex refresh_mu_;
  std::map<std::pair<std::string, int64_t>, FailedFile> failed_ ABSL_GUARDED_BY(refresh_mu_);

  // Events waiting for on_event, oldest first (queued under refresh_mu_, so
  // in the order the refreshes ran), and whether a thread is delivering.
  Mutex events_mu_ ABSL_ACQUIRED_AFTER(refresh_mu_);
  std::deque<VersionEvent> pending_events_ ABSL_GUARDED_BY(events_mu_);
  bool delivering_ ABSL_GUARDED_BY(events_mu_) = false;

  mutable Mutex mu_ ABSL_ACQUIRED_AFTER(refresh_mu_);
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar stop_cv_;

  std::thread poller_;
};

}  // namespace strata

#endif  // STRATA_SERVER_MODEL_REGISTRY_H_

#include "server/model_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/model/model_io.h"
#include "core/nn/allocator.h"
#include "server/log.h"

namespace strata {
namespace {

bool StatFile(const std::string& path, int64_t* size, int64_t* mtime_ns) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  *size = st.st_size;
  *mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

void LogEvent(const VersionEvent& e) {
  switch (e.kind) {
    case VersionEvent::Kind::kLoaded:
      Log(LogLevel::kInfo, "registry",
          absl::StrCat("loaded ", e.name, " version ", e.version, " in ",
                       absl::FormatDuration(e.load_time)));
      break;
    case VersionEvent::Kind::kUnloaded:
      Log(e.error.empty() ? LogLevel::kInfo : LogLevel::kWarning, "registry",
          absl::StrCat("unloaded ", e.name, " version ", e.version,
                       e.error.empty() ? "" : absl::StrCat(": ", e.error)));
      break;
    case VersionEvent::Kind::kLabelRemoved:
      Log(LogLevel::kWarning, "registry",
          absl::StrCat("removed label '", e.label, "' of ", e.name, ": its version ", e.version,
                       " is gone from the store"));
      break;
    case VersionEvent::Kind::kLoadFailed:
      Log(LogLevel::kError, "registry",
          absl::StrCat("skipping ", e.name, " version ", e.version, ": ", e.error));
      break;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(Options options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("the registry needs a store");
  std::unique_ptr<ModelRegistry> registry(new ModelRegistry(std::move(options)));
  {
    MutexLock lock(&registry->mu_);
    registry->snapshot_ = std::make_shared<const Snapshot>();
  }
  registry->Refresh();
  if (registry->options_.poll_interval > absl::ZeroDuration()) {
    registry->poller_ = std::thread([r = registry.get()] { r->PollLoop(); });
  }
  return registry;
}

ModelRegistry::~ModelRegistry() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  stop_cv_.SignalAll();
  if (poller_.joinable()) poller_.join();
}

void ModelRegistry::PollLoop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      const bool stop = stop_cv_.WaitWithTimeout(
          &mu_, options_.poll_interval,
          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
      if (stop) return;
    }
    Refresh();
  }
}

std::shared_ptr<const ModelRegistry::Snapshot> ModelRegistry::snapshot() const {
  MutexLock lock(&mu_);
  return snapshot_;
}

void ModelRegistry::Refresh() {
  bool changed;
  {
    MutexLock refresh_lock(&refresh_mu_);
    changed = RefreshLocked();
  }
  // The old snapshot (and any unloaded model no request holds) is freed by
  // now. Loading leaves the file and message buffers freed between live
  // models; hand those pages back to the kernel.
  if (changed) ReleaseFreeMemory();
  DeliverEvents();
}

bool ModelRegistry::RefreshLocked() {
  const std::shared_ptr<const Snapshot> old = snapshot();
  auto next = std::make_shared<Snapshot>();
  std::vector<VersionEvent> events;
  ModelStore& store = *options_.store;

  absl::StatusOr<std::vector<std::string>> names = store.ListModels();
  if (!names.ok()) {
    Log(LogLevel::kError, "registry",
        absl::StrCat("cannot list the store: ", names.status().message()));
    return false;  // keep serving what we have
  }
  std::set<std::string> listed(names->begin(), names->end());
  // Models that vanished from the store are listed too, so that their
  // versions are unloaded with a log line.
  for (const auto& [name, entry] : *old) listed.insert(name);

  for (const std::string& name : listed) {
    const auto old_it = old->find(name);
    const Entry* old_entry = old_it == old->end() ? nullptr : &old_it->second;
    absl::StatusOr<std::vector<int64_t>> on_disk = store.ListVersions(name);
    if (!on_disk.ok()) {
      // Not "no versions": a store that cannot be read keeps what it served.
      Log(LogLevel::kError, "registry",
          absl::StrCat("cannot list the versions of ", name, ": ", on_disk.status().message()));
      if (old_entry != nullptr) (*next)[name] = *old_entry;
      continue;
    }
    const std::set<int64_t> stored(on_disk->begin(), on_disk->end());
    Entry entry;
    absl::StatusOr<v1::ModelLabels> labels = store.ReadLabels(name);
    if (labels.ok()) {
      // A label whose version is gone is removed, never left to point at
      // whatever might later take its number.
      bool changed = false;
      for (auto it = labels->mutable_labels()->begin(); it != labels->mutable_labels()->end();) {
        if (stored.count(it->second)) {
          ++it;
          continue;
        }
        events.push_back({VersionEvent::Kind::kLabelRemoved, name, it->second,
                          absl::ZeroDuration(), "", it->first});
        it = labels->mutable_labels()->erase(it);
        changed = true;
      }
      if (changed) {
        if (absl::Status s = store.WriteLabels(name, *labels); !s.ok()) {
          Log(LogLevel::kError, "registry",
              absl::StrCat("cannot remove the labels of deleted versions of ", name, ": ",
                           s.message()));
        }
      }
      entry.labels.insert(labels->labels().begin(), labels->labels().end());
    } else if (old_entry != nullptr) {
      for (const auto& [label, v] : old_entry->labels) {
        if (stored.count(v)) entry.labels[label] = v;
      }
      Log(LogLevel::kWarning, "registry", std::string(labels.status().message()));
    }

    // Versions not known to be broken (a changed file gets another chance).
    std::vector<int64_t> available;
    for (int64_t v : *on_disk) {
      if (!KnownBroken(name, v)) available.push_back(v);
    }
    std::vector<int64_t> labelled;
    for (const auto& [label, v] : entry.labels) labelled.push_back(v);

    // Load what is aspired and not yet loaded, before anything is unloaded.
    // A version that fails to load is then absent, as one known broken, and
    // the policy is asked again: `latest` keeps the version before a broken
    // newest one. (Serving what loaded of the first answer unloaded that
    // version whenever a label pinned another, and unversioned calls went
    // to the labelled one until the next poll.) Each failure shortens
    // `available`, so this ends; no answer drops a version the one before
    // held but a failed one, so nothing is loaded for nothing.
    std::map<int64_t, Served> loaded;
    if (old_entry != nullptr) loaded = old_entry->versions;
    std::vector<int64_t> aspired;
    for (bool ask = true; ask;) {
      aspired = AspiredVersions(options_.policy, available, labelled);
      ask = false;
      for (int64_t v : aspired) {
        if (loaded.count(v) || LoadVersion(name, v, &loaded, &events).ok()) continue;
        available.erase(std::find(available.begin(), available.end(), v));
        ask = true;
      }
    }
    std::vector<int64_t> loaded_versions, served_now;
    for (const auto& [v, m] : loaded) loaded_versions.push_back(v);
    if (old_entry != nullptr) {
      for (const auto& [v, m] : old_entry->versions) served_now.push_back(v);
    }
    for (int64_t v : VersionsToServe(aspired, loaded_versions, served_now, *on_disk)) {
      entry.versions[v] = loaded[v];
    }
    for (int64_t v : served_now) {
      if (!entry.versions.count(v)) {
        events.push_back({VersionEvent::Kind::kUnloaded, name, v, absl::ZeroDuration(),
                          stored.count(v) ? "" : "deleted from the store"});
      }
    }
    if (!entry.versions.empty() || !entry.labels.empty()) (*next)[name] = std::move(entry);
  }
  {
    MutexLock lock(&mu_);
    snapshot_ = std::move(next);
  }
  const bool changed = !events.empty();
  QueueEvents(std::move(events));
  return changed;
}

bool ModelRegistry::KnownBroken(const std::string& name, int64_t v) {
  const auto f = failed_.find({name, v});
  if (f == failed_.end()) return false;
  int64_t size, mtime_ns;
  if (StatFile(options_.store->ModelFilePath(name, v), &size, &mtime_ns) &&
      size == f->second.size && mtime_ns == f->second.mtime_ns) {
    return true;
  }
  failed_.erase(f);
  return false;
}

absl::Status ModelRegistry::LoadVersion(const std::string& name, int64_t v,
                                        std::map<int64_t, Served>* loaded,
                                        std::vector<VersionEvent>* events) {
  const std::string path = options_.store->ModelFilePath(name, v);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Model>> model = ReadModelFile(path);
  if (!model.ok()) {
    FailedFile f;
    StatFile(path, &f.size, &f.mtime_ns);
    f.error = std::string(model.status().message());
    failed_[{name, v}] = f;
    events->push_back({VersionEvent::Kind::kLoadFailed, name, v, absl::ZeroDuration(), f.error});
    return model.status();
  }
  Served served;
  served.model = std::shared_ptr<const Model>(std::move(*model));
  const ModelInfo& info = served.model->info();
  if (info.drift_baseline.features_size() == served.model->input_dim()) {
    served.drift = std::make_shared<DriftMonitor>(info.drift_baseline, served.model->scaler(),
                                                  info.feature_names, info.calibration,
                                                  options_.drift_window_rows);
  }
  (*loaded)[v] = std::move(served);
  events->push_back({VersionEvent::Kind::kLoaded, name, v, absl::Now() - start, ""});
  return absl::OkStatus();
}

void ModelRegistry::QueueEvents(std::vector<VersionEvent> events) {
  if (events.empty()) return;
  MutexLock lock(&events_mu_);
  pending_events_.insert(pending_events_.end(), std::make_move_iterator(events.begin()),
                         std::make_move_iterator(events.end()));
}

void ModelRegistry::DeliverEvents() {
  {
    MutexLock lock(&events_mu_);
    // The thread delivering now takes ours too, after the ones before them.
    if (delivering_) return;
    delivering_ = true;
  }
  std::deque<VersionEvent> batch;
  while (true) {
    {
      MutexLock lock(&events_mu_);
      if (pending_events_.empty()) {
        delivering_ = false;
        return;
      }
      batch.swap(pending_events_);
    }
    for (const VersionEvent& e : batch) {
      LogEvent(e);
      if (options_.on_event) options_.on_event(e);
    }
    batch.clear();
  }
}

absl::StatusOr<ServableModel> ModelRegistry::Get(const v1::ModelSpec& spec) const {
  if (spec.name().empty()) return absl::InvalidArgumentError("model.name is required");
  const std::shared_ptr<const Snapshot> snap = snapshot();
  const auto it = snap->find(spec.name());
  if (it == snap->end() || it->second.versions.empty()) {
    // No model is stored under a name the store refuses: saying why beats
    // NOT_FOUND, whose message would echo a name of any length. Checked
    // only here, off the path of every served request.
    if (absl::Status s = ModelStore::ValidateModelName(spec.name()); !s.ok()) return s;
    if (spec.selector_case() == v1::ModelSpec::kLabel) {
      if (absl::Status s = ModelStore::ValidateLabel(spec.label()); !s.ok()) return s;
    }
    return absl::NotFoundError(absl::StrCat("model '", spec.name(), "' is not served"));
  }
  const Entry& entry = it->second;
  int64_t version;
  switch (spec.selector_case()) {
    case v1::ModelSpec::kVersion:
      version = spec.version();
      break;
    case v1::ModelSpec::kLabel: {
      const auto label = entry.labels.find(spec.label());
      if (label == entry.labels.end()) {
        if (absl::Status s = ModelStore::ValidateLabel(spec.label()); !s.ok()) return s;
        return absl::NotFoundError(
            absl::StrCat("model '", spec.name(), "' has no label '", spec.label(), "'"));
      }
      version = label->second;
      break;
    }
    default:
      version = entry.versions.rbegin()->first;
  }
  const auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    std::vector<int64_t> served;
    for (const auto& [n, m] : entry.versions) served.push_back(n);
    return absl::NotFoundError(absl::StrCat("model '", spec.name(), "' version ", version,
                                            " is not served (served: ", absl::StrJoin(served, ", "),
                                            ")"));
  }
  return ServableModel{spec.name(), version, v->second.model, v->second.drift};
}

absl::StatusOr<std::map<std::string, int64_t>> ModelRegistry::SetLabel(const std::string& name,
                                                                       const std::string& label,
                                                                       int64_t version) {
  if (absl::Status s = ModelStore::ValidateModelName(name); !s.ok()) return s;
  if (absl::Status s = ModelStore::ValidateLabel(label); !s.ok()) return s;
  if (version < 0) return absl::InvalidArgumentError("version must be positive (or 0 to remove)");
  absl::Status written;
  bool changed = false;
  {
    MutexLock refresh_lock(&refresh_mu_);
    written = WriteLabel(name, label, version);
    // Also after a refusal: a version WriteLabel loaded is then unloaded
    // again unless something else pins it.
    changed = RefreshLocked();
  }
  if (changed) ReleaseFreeMemory();
  DeliverEvents();
  if (!written.ok()) return written;
  const std::shared_ptr<const Snapshot> snap = snapshot();
  const auto it = snap->find(name);
  if (it == snap->end()) return std::map<std::string, int64_t>();
  return it->second.labels;
}

absl::Status ModelRegistry::WriteLabel(const std::string& name, const std::string& label,
                                       int64_t version) {
  ModelStore& store = *options_.store;
  absl::StatusOr<v1::ModelLabels> labels = store.ReadLabels(name);
  if (!labels.ok()) return labels.status();
  if (version == 0) {
    if (!labels->labels().count(label)) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' has no label '", label, "'"));
    }
    labels->mutable_labels()->erase(label);
    return store.WriteLabels(name, *labels);
  }
  // Any version in the store, served now or not: a label pins its version
  // (a rollback to an old one).
  absl::StatusOr<std::vector<int64_t>> on_disk = store.ListVersions(name);
  if (!on_disk.ok()) return on_disk.status();
  if (std::find(on_disk->begin(), on_disk->end(), version) == on_disk->end()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", name, "' has no version ", version, " in the store",
        on_disk->empty() ? "" : absl::StrCat(" (it has ", absl::StrJoin(*on_disk, ", "), ")")));
  }
  // Served before the label moves, so that a version that does not load is
  // refused with the label where it was. (Moved first and put back after a
  // failed load, the label pointed at nothing meanwhile, answering
  // NOT_FOUND, and the version it had pinned could be unloaded and loaded
  // again.)
  const std::shared_ptr<const Snapshot> old = snapshot();
  const auto served = old->find(name);
  if (served == old->end() || !served->second.versions.count(version)) {
    std::vector<VersionEvent> events;
    std::map<int64_t, Served> loaded;
    absl::Status load;
    if (KnownBroken(name, version)) {
      load = absl::DataLossError(failed_.at({name, version}).error);
    } else {
      load = LoadVersion(name, version, &loaded, &events);
    }
    QueueEvents(std::move(events));
    if (!load.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot point label '", label, "' of ",
                                                        name, " at version ", version,
                                                        ": it failed to load: ", load.message()));
    }
    // Only refreshes swap the snapshot, and they hold refresh_mu_ as we do.
    auto next = std::make_shared<Snapshot>(*old);
    (*next)[name].versions[version] = std::move(loaded[version]);
    MutexLock lock(&mu_);
    snapshot_ = std::move(next);
  }
  (*labels->mutable_labels())[label] = version;
  return store.WriteLabels(name, *labels);
}

std::vector<ServableModel> ModelRegistry::ServedVersions() const {
  const std::shared_ptr<const Snapshot> snap = snapshot();
  std::vector<ServableModel> out;
  for (const auto& [name, entry] : *snap) {
    for (const auto& [v, served] : entry.versions) {
      out.push_back({name, v, served.model, served.drift});
    }
  }
  return out;
}

std::vector<ModelRegistry::ModelView> ModelRegistry::List() const {
  const std::shared_ptr<const Snapshot> snap = snapshot();
  std::vector<ModelView> out;
  for (const auto& [name, entry] : *snap) {
    ModelView view{name, {}, entry.labels};
    for (const auto& [v, m] : entry.versions) view.versions.push_back(v);
    out.push_back(std::move(view));
  }
  return out;
}

}  // namespace strata

// strata-server: serves versioned stacked autoencoders over gRPC.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/nn/allocator.h"
#include "core/train/train_memory.h"
#include "server/log.h"
#include "server/strata_server.h"

ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on (127.0.0.1 for loopback only).");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free one (printed at start).");
ABSL_FLAG(int, metrics_port, 9464,
          "Port of the Prometheus /metrics endpoint (on --host); -1 turns it off, 0 picks a free "
          "one (printed at start).");
ABSL_FLAG(int64_t, drift_window, 10000,
          "Records in each model version's drift window (the figures cover the last half to all "
          "of them).");
ABSL_FLAG(int, drift_max_features, 20,
          "Features per model version exported with drift gauges (the most drifted in the "
          "replica's window) and with fleet-wide drift counters (the first N, input order).");
ABSL_FLAG(std::string, model_root, "", "Model store: <model_root>/<name>/<version>/. Required.");
ABSL_FLAG(std::string, data_root, "",
          "Directory that TrainJob csv_path (a CSV file, a directory of shards or a glob) is "
          "confined to; empty refuses CSV paths.");
ABSL_FLAG(std::string, row_cache_dir, "",
          "Directory for the row files that TrainJobs on CSV data under --data_root train from "
          "(one per set of shards, made once); empty: next to the first shard.");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(2),
          "How often to look for new, changed or removed versions in the store.");
ABSL_FLAG(std::string, version_policy, "latest",
          "Versions served per model: latest, latest:N, all or specific:V1,V2 (labelled "
          "versions are always served).");
ABSL_FLAG(int64_t, max_request_rows, 65536, "Rows per inference request or stream message.");
ABSL_FLAG(int64_t, dynamic_batch_rows, 0,
          "Dynamic batching: requests and stream messages with fewer rows share model calls of "
          "up to this many rows (0 = off).");
ABSL_FLAG(int64_t, dynamic_batch_delay_us, 200,
          "Dynamic batching: how long a request may wait for others to share its call.");
// The old spellings of the three flags above, kept working (with a warning
// in the log) for deployments written before the rename: --max_batch_rows
// read like the batcher's size, beside --batch_max_rows. Optional flags, so
// that "not given" is no value rather than a sentinel: --max_batch_rows=-1
// reaches the server's checks and is refused there, as --max_request_rows=-1
// is (it was once taken for "not given" and ignored).
ABSL_FLAG(std::optional<int64_t>, max_batch_rows, std::nullopt,
          "Deprecated spelling of --max_request_rows.");
ABSL_FLAG(std::optional<int64_t>, batch_max_rows, std::nullopt,
          "Deprecated spelling of --dynamic_batch_rows.");
ABSL_FLAG(std::optional<int64_t>, batch_max_delay_us, std::nullopt,
          "Deprecated spelling of --dynamic_batch_delay_us.");
ABSL_FLAG(int, max_concurrent_jobs, 1,
          "Training jobs running at once; more wait in a queue. 0: this replica serves only and "
          "refuses TrainJobs (FAILED_PRECONDITION), for serving replicas beside one trainer.");
ABSL_FLAG(int64_t, max_train_values, int64_t{1} << 28,
          "Largest training set held in memory, in float values (rows x columns): inline and "
          "uploaded rows, and csv_path data with a label column. Other csv_path data trains "
          "from a row file on disk, limited by disk.");
ABSL_FLAG(std::string, max_job_memory, "auto",
          "Largest estimated peak memory of one training job (e.g. 8GiB); larger jobs are "
          "refused with RESOURCE_EXHAUSTED and the estimate. auto: half the memory this process "
          "may use (its cgroup's limit, else the machine's), shared by --max_concurrent_jobs.");
ABSL_FLAG(int64_t, max_queued_train_values, int64_t{1} << 29,
          "Training values (rows x columns) that queued jobs may hold together; beyond it a "
          "TrainJob is refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_message_bytes, 64 << 20, "Largest gRPC message received or sent.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve over TLS (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require client certificates it signed (mutual TLS).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token that SubmitTrainJob, UploadTrainJob, CancelTrainJob and "
          "SetLabel require ('authorization: Bearer <token>').");
ABSL_FLAG(bool, auth_read, false,
          "With --auth_token_file: every other strata RPC needs the token too (health checks "
          "never do).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long calls in flight may take to finish.");

namespace {

// The value of a renamed flag: the old spelling's when given (with a warning
// naming the new one), else the new flag's.
int64_t RenamedFlag(int64_t value, std::optional<int64_t> old_value, absl::string_view old_name,
                    absl::string_view new_name) {
  if (!old_value.has_value()) return value;
  strata::Log(strata::LogLevel::kWarning, "server",
              absl::StrCat("--", old_name, " is deprecated and will be removed; use --", new_name,
                           " (same meaning)"));
  return *old_value;
}

// The memory this process may use: its cgroup's limit (v2, else v1) when it
// has one, else the machine's.
int64_t MemoryLimitBytes() {
  int64_t limit = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    int64_t cgroup = 0;
    if (in >> cgroup && cgroup > 0) limit = std::min(limit, cgroup);  // "max" reads as no number
  }
  return limit;
}

// The server's options from its flags; an error names the flag.
absl::StatusOr<strata::StrataServer::Options> OptionsFromFlags() {
  strata::StrataServer::Options options;
  absl::StatusOr<strata::VersionPolicy> policy =
      strata::VersionPolicy::Parse(absl::GetFlag(FLAGS_version_policy));
  if (!policy.ok())
    return absl::InvalidArgumentError(absl::StrCat("--", policy.status().message()));
  options.address = absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port));
  options.model_root = absl::GetFlag(FLAGS_model_root);
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.row_cache_dir = absl::GetFlag(FLAGS_row_cache_dir);
  options.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  options.version_policy = *policy;
  options.max_request_rows =
      RenamedFlag(absl::GetFlag(FLAGS_max_request_rows), absl::GetFlag(FLAGS_max_batch_rows),
                  "max_batch_rows", "max_request_rows");
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  if (!absl::GetFlag(FLAGS_auth_token_file).empty()) {
    absl::StatusOr<strata::Authorizer> auth = strata::Authorizer::FromTokenFile(
        absl::GetFlag(FLAGS_auth_token_file), absl::GetFlag(FLAGS_auth_read));
    if (!auth.ok()) return auth.status();
    options.auth = *std::move(auth);
  } else if (absl::GetFlag(FLAGS_auth_read)) {
    return absl::InvalidArgumentError("--auth_read needs --auth_token_file");
  }
  options.dynamic_batch_rows =
      RenamedFlag(absl::GetFlag(FLAGS_dynamic_batch_rows), absl::GetFlag(FLAGS_batch_max_rows),
                  "batch_max_rows", "dynamic_batch_rows");
  options.dynamic_batch_delay = absl::Microseconds(RenamedFlag(
      absl::GetFlag(FLAGS_dynamic_batch_delay_us), absl::GetFlag(FLAGS_batch_max_delay_us),
      "batch_max_delay_us", "dynamic_batch_delay_us"));
  options.max_concurrent_jobs = absl::GetFlag(FLAGS_max_concurrent_jobs);
  options.max_train_values = absl::GetFlag(FLAGS_max_train_values);
  options.max_queued_train_values = absl::GetFlag(FLAGS_max_queued_train_values);
  if (const std::string memory = absl::GetFlag(FLAGS_max_job_memory); memory == "auto") {
    options.max_job_memory_bytes =
        MemoryLimitBytes() / 2 / std::max(1, options.max_concurrent_jobs);
  } else {
    absl::StatusOr<int64_t> bytes = strata::ParseBytes(memory);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--max_job_memory: ", bytes.status().message()));
    }
    options.max_job_memory_bytes = *bytes;
  }
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    options.metrics_address =
        absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_metrics_port));
  }
  options.drift_window_rows = absl::GetFlag(FLAGS_drift_window);
  options.drift_max_features = absl::GetFlag(FLAGS_drift_max_features);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  strata::KeepBatchBuffersInHeap();
  // Debian's Abseil is built in debug mode, where every absl::Mutex lock (gRPC
  // takes several per call) runs deadlock detection; that is a test-time tool.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "Serves versioned stacked autoencoders over gRPC.\n"
      "usage: strata-server --model_root=DIR [--port=50051] [--data_root=DIR] [flags]");
  // --help lists this file's flags (absl would look for strata-server.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_model_root).empty()) {
    std::cerr << "strata-server: --model_root is required (see --help)\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_drift_window) < 2 || absl::GetFlag(FLAGS_drift_max_features) < 0) {
    std::cerr << "strata-server: --drift_window must be >= 2 and --drift_max_features >= 0\n";
    return 2;
  }
  // SIGTERM and SIGINT are blocked in every thread (threads inherit the mask,
  // so before any exists) and taken synchronously by one thread with
  // sigwait: no async handler, and delivery never depends on which thread
  // the kernel picks.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<strata::StrataServer::Options> parsed = OptionsFromFlags();
  if (!parsed.ok()) {
    std::cerr << "strata-server: " << parsed.status().message() << "\n";
    return 2;
  }
  const strata::StrataServer::Options& options = *parsed;

  absl::StatusOr<std::unique_ptr<strata::StrataServer>> server =
      strata::StrataServer::Create(options);
  if (!server.ok()) {
    std::cerr << "strata-server: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "strata-server listening on port " << (*server)->port();
  if ((*server)->metrics_port()) std::cout << ", metrics on port " << (*server)->metrics_port();
  std::cout << std::endl;
  if (options.max_concurrent_jobs > 0 && options.max_job_memory_bytes > 0) {
    strata::Log(strata::LogLevel::kInfo, "jobs",
                absl::StrCat("training jobs may use up to ",
                             strata::FormatBytes(options.max_job_memory_bytes),
                             " each (--max_job_memory)"));
  }

  std::thread watcher([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    strata::Log(strata::LogLevel::kInfo, "server",
                absl::StrCat("shutting down (", signal == SIGTERM ? "SIGTERM" : "SIGINT", ")"));
    (*server)->Shutdown(absl::Now() + absl::GetFlag(FLAGS_shutdown_grace));
  });
  (*server)->Wait();
  watcher.join();
  return 0;
}

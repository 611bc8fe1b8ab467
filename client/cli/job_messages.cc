#include "client/cli/job_messages.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace strata::cli {
namespace {

// `word` as one shell word: as it is when nothing in it is special to a
// shell, else single-quoted.
std::string ShellWord(const std::string& word) {
  constexpr char kPlain[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:@%+=,";
  if (!word.empty() && word.find_first_not_of(kPlain) == std::string::npos) return word;
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// " at epoch 40 of 90", or nothing before the first epoch ends.
std::string AtEpoch(const v1::TrainJob& job) {
  const v1::TrainJobProgress& p = job.progress();
  if (p.epochs_done() <= 0) return "";
  return absl::StrFormat(" at epoch %d of %d", p.epochs_done(), p.epochs_planned());
}

}  // namespace

std::string StrataCommandLine(const GlobalFlags& global, const std::string& args) {
  std::string line = "strata";
  const std::pair<const char*, const std::string*> flags[] = {
      {"server", global.server == GlobalFlags().server ? nullptr : &global.server},
      {"token_file", &global.token_file},
      {"tls_ca", &global.tls_ca},
      {"tls_cert", &global.tls_cert},
      {"tls_key", &global.tls_key},
  };
  for (const auto& [name, value] : flags) {
    if (value != nullptr && !value->empty()) {
      absl::StrAppend(&line, " --", name, "=", ShellWord(*value));
    }
  }
  absl::StrAppend(&line, " ", args);
  return line;
}

std::string InterruptedWaitMessage(const GlobalFlags& global, const std::string& command,
                                   const v1::TrainJob& job) {
  const std::string& id = job.id();
  const std::string cancel = StrataCommandLine(global, "jobs --cancel " + ShellWord(id));
  if (job.sweep().trials_size() > 0) {
    return absl::StrCat("strata ", command, ": interrupted; sweep ", id,
                        " keeps going on the server and will publish its best trial as the next "
                        "version of ",
                        job.model_name(), ". Follow it again with: ",
                        StrataCommandLine(global, "sweep --job " + ShellWord(id)),
                        "; cancel it with: ", cancel, "\n");
  }
  return absl::StrCat("strata ", command, ": interrupted; ", id,
                      " keeps going on the server and will publish the next version of ",
                      job.model_name(), " if it succeeds. Cancel it with: ", cancel, "\n");
}

std::string LastSeenJob(const GlobalFlags& global, const v1::TrainJob& job) {
  return absl::StrCat(job.id(), " was ", v1::TrainJob::State_Name(job.state()), AtEpoch(job),
                      " when last heard of; ask with '",
                      StrataCommandLine(global, "jobs --id " + ShellWord(job.id())),
                      "' once the server answers");
}

std::string CancelRequested(const v1::TrainJob& job) {
  if (job.state() == v1::TrainJob::CANCELLED) {
    return absl::StrCat("cancelled ", job.id(), " (model ", job.model_name(),
                        "): nothing is published");
  }
  return absl::StrCat("cancelling ", job.id(), " (model ", job.model_name(), ", ",
                      v1::TrainJob::State_Name(job.state()), AtEpoch(job),
                      "): it stops at its next check and publishes nothing");
}

}  // namespace strata::cli

// strata encode | reconstruct | score: CSV on stdin, CSV on stdout, answered
// by a server.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/cli/server_gone.h"
#include "client/strata_client.h"
#include "core/data/csv_reader.h"
#include "proto/dense_matrix.h"

namespace strata::cli {
namespace {

// Flags every inference command shares.
struct InferenceFlags : ModelFlags {
  std::string drop_columns, header = "auto";
  int batch_rows = 1024;

  void Add(FlagSet* flags) {
    ModelFlags::Add(flags);
    flags->AddString("drop_columns", &drop_columns, "A,B",
                     "input columns to leave out, e.g. a label");
    flags->AddString("header", &header, "auto|yes|no",
                     "whether the first line names the columns (auto: it does when none of its "
                     "cells is a number); named columns are matched to the model's features by "
                     "name, others by position");
    flags->AddInt("batch_rows", &batch_rows, "rows per request");
  }
  absl::Status Check() const {
    if (absl::Status s = ModelFlags::Check(); !s.ok()) return s;
    if (batch_rows < 1) return absl::InvalidArgumentError("--batch_rows must be positive");
    return ParseCsvHeaderMode(header).status();
  }
};

// Parses flags; returns -1 to go on, or the exit code to end with.
int ParseFlags(FlagSet& flags, InferenceFlags& common, const std::vector<std::string>& args,
               const std::string& command) {
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = common.Check(); !s.ok()) {
    std::cerr << "strata " << command << ": " << s.message() << "\n";
    return kExitUsage;
  }
  return -1;
}

absl::StatusOr<CsvTable> ReadStdin(const InferenceFlags& flags) {
  if (isatty(STDIN_FILENO)) {
    std::cerr << "(reading CSV rows from standard input; end with Ctrl-D)\n";
  }
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  CsvOptions csv;
  csv.header = *ParseCsvHeaderMode(flags.header);
  if (!flags.drop_columns.empty()) csv.drop_columns = absl::StrSplit(flags.drop_columns, ',');
  absl::StatusOr<CsvTable> table = ParseCsv(text, csv);
  if (!table.ok()) {
    return absl::Status(table.status().code(), absl::StrCat("stdin: ", table.status().message()));
  }
  return table;
}

// The CSV rows on stdin, a client, and the rows matched to the model's
// columns (one GetModel call pins the version every batch goes to).
struct Session {
  std::unique_ptr<StrataClient> client;
  ModelInput input;
  // host:port of the server, for messages.
  std::string server;

  // Rows [start, start + batch_rows) of the input, for a request.
  Eigen::Index BatchRows(Eigen::Index start, int batch_rows) const {
    return std::min<Eigen::Index>(batch_rows, input.values.rows() - start);
  }
  v1::DenseMatrix Batch(Eigen::Index start, int batch_rows) const {
    v1::DenseMatrix batch;
    ToDenseMatrix(input.values.middleRows(start, BatchRows(start, batch_rows)), &batch,
                  input.column_names);
    return batch;
  }
};

absl::StatusOr<Session> Open(const GlobalFlags& global, const InferenceFlags& flags) {
  absl::StatusOr<CsvTable> table = ReadStdin(flags);
  if (!table.ok()) return table.status();
  absl::StatusOr<std::unique_ptr<StrataClient>> client = Connect(global);
  if (!client.ok()) return client.status();
  absl::StatusOr<ModelInput> input = MatchModelColumns(**client, flags.Spec(), *std::move(table));
  if (!input.ok()) return ServerGone(input.status(), global.server, "");
  return Session{*std::move(client), *std::move(input), global.server};
}

// A failed call or stream message on rows [start, start + n) of the input:
// InvalidArgument (a fault in the rows) says where in the input they are,
// in the same words whether the rows went unary or streamed. The server
// going away says so, and that the rows before `start` were answered and
// written and the others not, in the words of every command (ServerGone).
absl::Status AtInputRows(const absl::Status& status, Eigen::Index start, Eigen::Index n,
                         const Session& session) {
  if (IsServerGone(status)) {
    return ServerGone(status, session.server, RowsWritten(start, session.input.values.rows()));
  }
  if (!absl::IsInvalidArgument(status)) return status;
  return absl::InvalidArgumentError(absl::StrCat(
      "rows ", start, " to ", start + n - 1, " of the input, counting from 0: ", status.message()));
}

void PrintRows(const v1::DenseMatrix& m, std::string* out) {
  for (int r = 0; r < m.rows(); ++r) {
    for (int c = 0; c < m.cols(); ++c) {
      absl::StrAppendFormat(out, c == 0 ? "%.9g" : ",%.9g", m.values(r * m.cols() + c));
    }
    out->push_back('\n');
  }
}

void Write(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// Sends the input's batches (one unary call each, or down one stream) and
// hands each answer, in order, to `print`. `make_request(start, request)`
// fills the request for the batch at input row `start`.
template <typename Request, typename Response>
absl::Status SendBatches(
    const Session& session, int batch_rows, bool stream,
    const std::function<void(Eigen::Index, Request*)>& make_request,
    const std::function<absl::StatusOr<Response>(const Request&)>& unary,
    const std::function<absl::Status(const std::function<bool(Request*)>&,
                                     const std::function<void(const Response&)>&)>& streamed,
    const std::function<absl::Status(const Response&)>& print) {
  const Eigen::Index rows = session.input.values.rows();
  if (!stream) {
    for (Eigen::Index start = 0; start < rows; start += batch_rows) {
      Request request;
      make_request(start, &request);
      absl::StatusOr<Response> response = unary(request);
      if (!response.ok()) {
        return AtInputRows(response.status(), start, request.rows().rows(), session);
      }
      if (absl::Status s = print(*response); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Requests are made on the client's writer thread, answers printed on
  // this one; `failed` is all they share.
  Eigen::Index start = 0;
  std::atomic<bool> failed{false};
  absl::Status printed;
  Eigen::Index answered = 0;  // messages answered, on this thread
  const absl::Status s = streamed(
      [&](Request* request) {
        if (start >= rows || failed.load()) return false;
        make_request(start, request);
        start += batch_rows;
        return true;
      },
      [&](const Response& response) {
        if (!printed.ok()) return;
        ++answered;
        printed = print(response);
        if (!printed.ok()) failed.store(true);
      });
  if (!printed.ok()) return printed;
  // The stream ends with the earliest failing message's status after every
  // earlier message was answered (service.proto): the first unanswered one.
  const Eigen::Index at = answered * batch_rows;
  if (s.ok()) return s;
  if (at < rows) return AtInputRows(s, at, std::min<Eigen::Index>(batch_rows, rows - at), session);
  return ServerGone(s, session.server, RowsWritten(rows, rows));
}

}  // namespace

int RunEncode(const GlobalFlags& global, const std::vector<std::string>& args) {
  InferenceFlags common;
  int layer = 0;
  FlagSet flags("encode",
                "Features of a hidden layer for CSV rows on stdin, as CSV on stdout.\n"
                "The header row of the input is optional.");
  common.Add(&flags);
  flags.AddInt("layer", &layer, "encoder layer 1 (h1) ... depth; 0 = the code layer");
  if (int code = ParseFlags(flags, common, args, "encode"); code >= 0) return code;
  absl::StatusOr<Session> session = Open(global, common);
  if (!session.ok()) return Fail("encode", session.status());
  std::string out;
  for (Eigen::Index start = 0; start < session->input.values.rows(); start += common.batch_rows) {
    v1::EncodeRequest request;
    *request.mutable_model() = session->input.spec;
    *request.mutable_rows() = session->Batch(start, common.batch_rows);
    request.set_layer(layer);
    absl::StatusOr<v1::EncodeResponse> response = session->client->Encode(request);
    if (!response.ok()) {
      return Fail("encode", AtInputRows(response.status(), start, request.rows().rows(), *session));
    }
    if (absl::Status s =
            CheckRowsAnswered(request.rows().rows(), response->features().rows(), start);
        !s.ok()) {
      return Fail("encode", s);
    }
    if (start == 0) {
      std::vector<std::string> names;
      for (int c = 0; c < response->features().cols(); ++c) {
        names.push_back(layer == 0 ? absl::StrCat("code_", c)
                                   : absl::StrCat("h", response->layer(), "_", c));
      }
      out = absl::StrCat(absl::StrJoin(names, ","), "\n");
      std::cerr << absl::StrFormat("%s version %d, layer %d\n", response->model().name(),
                                   response->model().version(), response->layer());
    }
    PrintRows(response->features(), &out);
    Write(out);
    out.clear();
  }
  return kExitOk;
}

int RunReconstruct(const GlobalFlags& global, const std::vector<std::string>& args) {
  InferenceFlags common;
  FlagSet flags("reconstruct",
                "Reconstructions (in the rows' original units) of CSV rows on stdin, as CSV on "
                "stdout.");
  common.Add(&flags);
  if (int code = ParseFlags(flags, common, args, "reconstruct"); code >= 0) return code;
  absl::StatusOr<Session> session = Open(global, common);
  if (!session.ok()) return Fail("reconstruct", session.status());
  // The model's columns, in its order (the input's, when it named them, map
  // onto these).
  std::string out = absl::StrCat(absl::StrJoin(session->input.feature_names, ","), "\n");
  for (Eigen::Index start = 0; start < session->input.values.rows(); start += common.batch_rows) {
    v1::ReconstructRequest request;
    *request.mutable_model() = session->input.spec;
    *request.mutable_rows() = session->Batch(start, common.batch_rows);
    absl::StatusOr<v1::ReconstructResponse> response = session->client->Reconstruct(request);
    if (!response.ok()) {
      return Fail("reconstruct",
                  AtInputRows(response.status(), start, request.rows().rows(), *session));
    }
    if (absl::Status s =
            CheckRowsAnswered(request.rows().rows(), response->reconstructions().rows(), start);
        !s.ok()) {
      return Fail("reconstruct", s);
    }
    if (start == 0) {
      std::cerr << absl::StrFormat("%s version %d\n", response->model().name(),
                                   response->model().version());
    }
    PrintRows(response->reconstructions(), &out);
    Write(out);
    out.clear();
  }
  return kExitOk;
}

int RunScore(const GlobalFlags& global, const std::vector<std::string>& args) {
  InferenceFlags common;
  std::string metric;
  bool feature_errors = false, stream = false;
  FlagSet flags("score",
                "Anomaly scores of CSV rows on stdin: score,is_anomaly,percentile[,error_*] as "
                "CSV on stdout,\nand a summary on stderr.");
  common.Add(&flags);
  flags.AddString("metric", &metric, "ensemble|combined|mse|mae|code",
                  "score: the ensemble's code distances and spreads + feature tails (the "
                  "default; combined, then mse, for models trained before it), code distance + "
                  "MSE, mean squared or mean absolute error, or the code's distance from the "
                  "training codes");
  flags.AddBool("feature_errors", &feature_errors, "also print each feature's error");
  flags.AddBool("stream", &stream, "send the batches down one StreamAnomalyScore stream");
  if (int code = ParseFlags(flags, common, args, "score"); code >= 0) return code;
  const std::map<std::string, v1::ScoreOptions::Metric> metrics = {
      {"", v1::ScoreOptions::METRIC_UNSPECIFIED}, {"ensemble", v1::ScoreOptions::ENSEMBLE},
      {"combined", v1::ScoreOptions::COMBINED},   {"mse", v1::ScoreOptions::MEAN_SQUARED},
      {"mae", v1::ScoreOptions::MEAN_ABSOLUTE},   {"code", v1::ScoreOptions::CODE_DISTANCE}};
  const auto wire_metric = metrics.find(metric);
  if (wire_metric == metrics.end()) {
    std::cerr << "strata score: --metric must be ensemble, combined, mse, mae or code, not \""
              << metric << "\"\n";
    return kExitUsage;
  }
  absl::StatusOr<Session> session = Open(global, common);
  if (!session.ok()) return Fail("score", session.status());
  const Matrix& values = session->input.values;

  std::vector<std::string> header = {"score", "is_anomaly", "percentile"};
  if (feature_errors) {
    for (const std::string& name : session->input.feature_names) header.push_back("error_" + name);
  }
  Write(absl::StrCat(absl::StrJoin(header, ","), "\n"));
  int64_t rows = 0, anomalies = 0;
  v1::AnomalyScoreResponse first;
  // Prints one answer, for the batch that starts at input row `rows`.
  auto print = [&](const v1::AnomalyScoreResponse& response) -> absl::Status {
    if (absl::Status s = CheckRowsAnswered(session->BatchRows(rows, common.batch_rows),
                                           response.scores_size(), rows);
        !s.ok()) {
      return s;
    }
    if (rows == 0) first = response;
    std::string out;
    for (const v1::RowScore& s : response.scores()) {
      absl::StrAppendFormat(&out, "%.9g,%d,%.3f", s.score(), s.is_anomaly() ? 1 : 0,
                            s.percentile());
      for (float e : s.feature_errors()) absl::StrAppendFormat(&out, ",%.9g", e);
      out.push_back('\n');
      anomalies += s.is_anomaly();
    }
    rows += response.scores_size();
    Write(out);
    return absl::OkStatus();
  };
  StrataClient* client = session->client.get();
  const absl::Status sent = SendBatches<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse>(
      *session, common.batch_rows, stream,
      [&](Eigen::Index start, v1::AnomalyScoreRequest* request) {
        *request->mutable_model() = session->input.spec;
        *request->mutable_rows() = session->Batch(start, common.batch_rows);
        request->mutable_options()->set_metric(wire_metric->second);
        request->mutable_options()->set_feature_errors(feature_errors);
      },
      [client](const v1::AnomalyScoreRequest& r) { return client->AnomalyScore(r); },
      [client](const auto& next, const auto& on_response) {
        return client->StreamAnomalyScore(next, on_response);
      },
      print);
  if (!sent.ok()) return Fail("score", sent);
  if (rows != values.rows()) {
    return Fail("score", CheckRowsAnswered(values.rows(), rows, 0));
  }
  std::cerr << absl::StrFormat("%s version %d: %d of %d rows above the %s threshold %.6g\n",
                               first.model().name(), first.model().version(), anomalies, rows,
                               absl::AsciiStrToLower(v1::ScoreOptions::Metric_Name(first.metric())),
                               first.threshold());
  return kExitOk;
}

int RunPredict(const GlobalFlags& global, const std::vector<std::string>& args) {
  InferenceFlags common;
  bool stream = false;
  FlagSet flags("predict",
                "Classes of CSV rows on stdin, from a model trained with class labels: "
                "class,p_<class>... as CSV\non stdout (the most probable class, then each "
                "class's probability), and a count per class on stderr.");
  common.Add(&flags);
  flags.AddBool("stream", &stream, "send the batches down one StreamPredict stream");
  if (int code = ParseFlags(flags, common, args, "predict"); code >= 0) return code;
  absl::StatusOr<Session> session = Open(global, common);
  if (!session.ok()) return Fail("predict", session.status());
  int64_t rows = 0;
  v1::PredictResponse first;
  std::vector<int64_t> counts;
  auto print = [&](const v1::PredictResponse& response) -> absl::Status {
    if (absl::Status s = CheckRowsAnswered(session->BatchRows(rows, common.batch_rows),
                                           response.predictions_size(), rows);
        !s.ok()) {
      return s;
    }
    std::string out;
    if (rows == 0) {
      first = response;
      counts.assign(static_cast<size_t>(response.class_names_size()), 0);
      std::vector<std::string> header = {"class"};
      for (const std::string& name : response.class_names()) header.push_back("p_" + name);
      out = absl::StrCat(absl::StrJoin(header, ","), "\n");
    }
    for (const v1::RowPrediction& p : response.predictions()) {
      out += p.top_class();
      for (float probability : p.probabilities()) absl::StrAppendFormat(&out, ",%.6g", probability);
      out.push_back('\n');
      if (p.top_index() >= 0 && static_cast<size_t>(p.top_index()) < counts.size()) {
        ++counts[static_cast<size_t>(p.top_index())];
      }
    }
    rows += response.predictions_size();
    Write(out);
    return absl::OkStatus();
  };
  StrataClient* client = session->client.get();
  const absl::Status sent = SendBatches<v1::PredictRequest, v1::PredictResponse>(
      *session, common.batch_rows, stream,
      [&](Eigen::Index start, v1::PredictRequest* request) {
        *request->mutable_model() = session->input.spec;
        *request->mutable_rows() = session->Batch(start, common.batch_rows);
      },
      [client](const v1::PredictRequest& r) { return client->Predict(r); },
      [client](const auto& next, const auto& on_response) {
        return client->StreamPredict(next, on_response);
      },
      print);
  if (!sent.ok()) return Fail("predict", sent);
  if (rows != session->input.values.rows()) {
    return Fail("predict", CheckRowsAnswered(session->input.values.rows(), rows, 0));
  }
  std::vector<std::string> per_class;
  for (int k = 0; k < first.class_names_size(); ++k) {
    per_class.push_back(absl::StrCat(first.class_names(k), " ", counts[static_cast<size_t>(k)]));
  }
  std::cerr << absl::StrFormat("%s version %d: %d rows; %s\n", first.model().name(),
                               first.model().version(), rows, absl::StrJoin(per_class, ", "));
  return kExitOk;
}

}  // namespace strata::cli

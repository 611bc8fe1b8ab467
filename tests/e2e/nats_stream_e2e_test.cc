// strata-stream against a real NATS server (Debian's nats-server -js, on a
// free loopback port, stopped at the end): every record answered once and
// in order, answers equal to AnomalyScore's, a reader killed with -9 and
// restarted losing nothing, malformed records dead-lettered with the
// reason, a model hot-swapped mid-stream, and the metrics.
#include <nats/nats.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/model/model_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference.h"
#include "server/inference_service.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

// The value of "key": in a flat JSON answer (numbers and strings).
std::string Field(const std::string& json, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  size_t start = at + needle.size();
  if (json[start] == '"') {
    const size_t end = json.find('"', start + 1);
    return json.substr(start + 1, end - start - 1);
  }
  const size_t end = json.find_first_of(",}", start);
  return json.substr(start, end - start);
}

class NatsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::ScratchDir(absl::StrCat(
        "nats_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    nats_port_ = testing::FreeLoopbackPort();
    nats_pid_ = testing::Spawn(absl::StrCat("exec nats-server -js -a 127.0.0.1 -p ", nats_port_,
                                            " -sd ", dir_, "/js > ", dir_, "/nats.log 2>&1"));
    ASSERT_GT(nats_pid_, 0);
    const std::string url = absl::StrCat("nats://127.0.0.1:", nats_port_);
    natsStatus s = NATS_NO_SERVER;
    for (int i = 0; i < 100 && s != NATS_OK; ++i) {
      s = natsConnection_ConnectTo(&nc_, url.c_str());
      if (s != NATS_OK) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_EQ(s, NATS_OK) << "nats-server did not start: " << testing::ReadAll(dir_ + "/nats.log");
    ASSERT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
    AddStream("RECORDS", "records.>");
    AddStream("ANSWERS", "strata.>");
    store_ = *ModelStore::Create({dir_ + "/models"});
    model_ = testing::SmallModel(6, 1);
    ASSERT_TRUE(store_->Publish("m", *model_).ok());
  }
  void TearDown() override {
    reader_.reset();
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
    testing::Stop(nats_pid_);
  }

  void AddStream(const char* name, const char* subject) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name;
    const char* subjects[] = {subject};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_MemoryStorage;
    jsErrCode error = static_cast<jsErrCode>(0);
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(js_AddStream(&info, js_, &config, nullptr, &error), NATS_OK) << error;
    jsStreamInfo_Destroy(info);
  }

  // A reader on RECORDS answering into ANSWERS, as durable "d".
  struct Reader {
    explicit Reader(const std::string& command) { pid = testing::Spawn(command); }
    ~Reader() {
      if (pid > 0) EXPECT_EQ(testing::Stop(pid), 0) << "strata-stream did not stop cleanly";
    }
    void Kill() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    pid_t pid = -1;
  };
  void StartReader(const std::string& extra = "") {
    const std::string out = dir_ + "/stream.out";
    unlink(out.c_str());
    reader_ = std::make_unique<Reader>(absl::StrCat(
        "exec ", STRATA_STREAM_PATH, " --nats_url=nats://127.0.0.1:", nats_port_,
        " --stream=RECORDS --durable=d --model=m --model_root=", dir_,
        "/models --poll_interval=100ms --metrics_host=127.0.0.1 --metrics_port=0 "
        "--ack_wait=2s --batch=256 ",
        extra, " > ", out, " 2>> ", dir_, "/stream.log"));
    for (int i = 0; i < 200 && metrics_port_ == 0; ++i) {
      const std::string text = testing::ReadAll(out);
      const size_t at = text.find("metrics on port ");
      if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
        (void)absl::SimpleAtoi(text.substr(at + 16, text.find('\n', at) - at - 16),
                               &metrics_port_);
      }
      if (metrics_port_ == 0) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_GT(metrics_port_, 0) << testing::ReadAll(dir_ + "/stream.log");
  }

  // Records `first` ... `first + n - 1` of the test's rows, as JSON with an id.
  std::string RecordJson(int i) const {
    std::string json = absl::StrCat("{\"id\":\"r", i, "\"");
    for (int c = 0; c < 6; ++c) {
      absl::StrAppend(&json, ",\"f", c, "\":", absl::StrFormat("%.9g", Value(i, c)));
    }
    return json + "}";
  }
  static float Value(int i, int c) {
    return static_cast<float>(((i * 7 + c * 13) % 101) / 50.0 - 1.0);
  }
  void PublishRaw(const std::string& data, const char* subject = "records.a") {
    ASSERT_EQ(js_PublishAsync(js_, subject, data.data(), static_cast<int>(data.size()), nullptr),
              NATS_OK);
  }
  void PublishRecords(int first, int n) {
    for (int i = first; i < first + n; ++i) PublishRaw(RecordJson(i));
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = 30000;
    ASSERT_EQ(js_PublishAsyncComplete(js_, &options), NATS_OK);
  }

  // Messages on `subject` of ANSWERS, read in order, until `n` have come or
  // `seconds` have passed.
  std::vector<std::string> Read(const std::string& subject, size_t n, int seconds) {
    if (subs_.count(subject) == 0) {
      jsSubOptions options;
      jsSubOptions_Init(&options);
      options.Stream = "ANSWERS";
      // No acks: with them, the consumer's default of 1,000 unacknowledged
      // messages would hold each fetch until its timeout.
      options.Config.AckPolicy = js_AckNone;
      natsSubscription* sub = nullptr;
      jsErrCode error = static_cast<jsErrCode>(0);
      // Durable: an ephemeral consumer is removed after seconds without a
      // fetch, and some tests read a subject again after a pause.
      std::string durable = absl::StrCat("test-", subject);
      std::replace(durable.begin(), durable.end(), '.', '-');
      EXPECT_EQ(js_PullSubscribe(&sub, js_, subject.c_str(), durable.c_str(), nullptr, &options,
                                 &error),
                NATS_OK);
      subs_[subject] = sub;
    }
    std::vector<std::string>& got = read_[subject];
    const absl::Time deadline = absl::Now() + absl::Seconds(seconds);
    while (got.size() < n && absl::Now() < deadline) {
      natsMsgList list = {nullptr, 0};
      jsErrCode error = static_cast<jsErrCode>(0);
      const natsStatus s = natsSubscription_Fetch(&list, subs_[subject], 1024, 500, &error);
      if (s != NATS_OK) continue;
      for (int i = 0; i < list.Count; ++i) {
        got.emplace_back(natsMsg_GetData(list.Msgs[i]), natsMsg_GetDataLength(list.Msgs[i]));
      }
      natsMsgList_Destroy(&list);
    }
    return got;
  }
  std::string Metrics() {
    return testing::Shell(absl::StrCat("curl -s http://127.0.0.1:", metrics_port_, "/metrics"))
        .output;
  }

  std::string dir_;
  int nats_port_ = 0;
  pid_t nats_pid_ = -1;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::map<std::string, natsSubscription*> subs_;
  std::map<std::string, std::vector<std::string>> read_;
  std::unique_ptr<ModelStore> store_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Reader> reader_;
  int metrics_port_ = 0;
};

// 100,000 records in, exactly 100,000 answers out, in the records' order;
// each score is the float AnomalyScore's path gives for the row alone.
TEST_F(NatsStreamTest, EveryRecordAnsweredOnceInOrderWithAnomalyScoresAnswer) {
  constexpr int kRecords = 100000;
  ASSERT_NO_FATAL_FAILURE(StartReader());
  const absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(PublishRecords(0, kRecords));
  const absl::Duration published = absl::Now() - start;
  const std::vector<std::string> answers = Read("strata.answers", kRecords, 240);
  std::cout << "published in " << published << ", all answered after " << absl::Now() - start
            << std::endl;
  ASSERT_EQ(answers.size(), static_cast<size_t>(kRecords));
  // The reader is idle once every answer is out: nothing more comes.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Read("strata.answers", kRecords + 1, 1).size(), static_cast<size_t>(kRecords));
  EXPECT_TRUE(Read("strata.dead", 1, 1).empty());

  // The expected answer of a row: one row through RunInference and
  // FillScores, as AnomalyScore answers it (strata's scores do not depend on
  // the batch; any difference is a defect, so the comparison is exact).
  ServableModel served{"m", 1, std::shared_ptr<const Model>(testing::SmallModel(6, 1)), nullptr};
  InferenceOp op;
  op.kind = InferenceOp::Kind::kScore;
  op.metric = *ResolveMetric({}, *served.model);
  uint64_t last = 0;
  int anomalies = 0;
  for (int i = 0; i < kRecords; ++i) {
    const std::string& a = answers[static_cast<size_t>(i)];
    uint64_t sequence = 0;
    ASSERT_TRUE(absl::SimpleAtoi(Field(a, "sequence"), &sequence)) << a;
    ASSERT_GT(sequence, last) << "answer " << i << " out of order: " << a;
    last = sequence;
    ASSERT_EQ(Field(a, "id"), absl::StrCat("r", i)) << a;
    anomalies += Field(a, "is_anomaly") == "true";
    if (i % 997 != 0) continue;
    Matrix row(1, 6);
    for (int c = 0; c < 6; ++c) row(0, c) = Value(i, c);
    v1::AnomalyScoreResponse expected;
    FillScores(served, op, {}, *RunInference(served, op, row), &expected);
    float score = 0;
    ASSERT_TRUE(absl::SimpleAtof(Field(a, "score"), &score)) << a;
    EXPECT_EQ(score, expected.scores(0).score()) << a;
    EXPECT_EQ(Field(a, "is_anomaly"), expected.scores(0).is_anomaly() ? "true" : "false");
  }
  // Anomalies go to their own subject too, with the record and top errors.
  const std::vector<std::string> flagged = Read("strata.anomalies", anomalies, 30);
  EXPECT_EQ(flagged.size(), static_cast<size_t>(anomalies));
  if (!flagged.empty()) {
    EXPECT_THAT(flagged[0], HasSubstr("\"record\":{\"f0\":"));
    EXPECT_THAT(flagged[0], HasSubstr("\"top_feature_errors\":[{\"feature\":"));
  }
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("strata_stream_records_total{outcome=\"answered\"} ",
                                              kRecords)));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("strata_stream_anomalies_total ", anomalies)));
  EXPECT_THAT(metrics, HasSubstr("strata_stream_lag_records 0"));
  EXPECT_THAT(metrics, HasSubstr("strata_stream_batch_seconds_count"));
  // The drift window saw the records, as it sees RPC traffic.
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("strata_drift_records_total{model=\"m\",version=\"1\"} ",
                                              kRecords)));
}

// kill -9 mid-stream, then a new reader on the same durable consumer: every
// record is answered at least once. Records delivered to the killed reader
// and not acknowledged come again after --ack_wait (2 s here), so some may
// be answered twice: counted, and at most the records in flight.
TEST_F(NatsStreamTest, KillNineMidStreamLosesNoRecord) {
  constexpr int kRecords = 20000;
  ASSERT_NO_FATAL_FAILURE(PublishRecords(0, kRecords));
  ASSERT_NO_FATAL_FAILURE(StartReader());
  ASSERT_GE(Read("strata.answers", 2000, 60).size(), 2000u);
  reader_->Kill();
  reader_.reset();
  metrics_port_ = 0;
  const size_t before = Read("strata.answers", 0, 0).size();
  ASSERT_LT(before, static_cast<size_t>(kRecords)) << "the reader finished before the kill";
  ASSERT_NO_FATAL_FAILURE(StartReader());
  std::set<uint64_t> sequences;
  std::vector<std::string> answers;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (sequences.size() < static_cast<size_t>(kRecords) && absl::Now() < deadline) {
    answers = Read("strata.answers", answers.size() + 1, 2);
    sequences.clear();
    for (const std::string& a : answers) {
      uint64_t s = 0;
      if (absl::SimpleAtoi(Field(a, "sequence"), &s)) sequences.insert(s);
    }
  }
  EXPECT_EQ(sequences.size(), static_cast<size_t>(kRecords)) << "records lost";
  EXPECT_EQ(*sequences.begin(), 1u);
  EXPECT_EQ(*sequences.rbegin(), static_cast<uint64_t>(kRecords));
  const size_t duplicates = answers.size() - sequences.size();
  // At most what the killed reader held: one batch fetched, unacknowledged.
  EXPECT_LE(duplicates, 256u);
  std::cout << "killed after " << before << " answers; " << duplicates
            << " records answered twice" << std::endl;
  EXPECT_THAT(Metrics(), HasSubstr("strata_stream_records_redelivered_total"));
}

// Records that cannot be scored go to strata.dead with the reason and the
// record as it came; the others are answered, in order, around them.
TEST_F(NatsStreamTest, MalformedRecordsAreDeadLetteredWithTheReason) {
  ASSERT_NO_FATAL_FAILURE(StartReader());
  const std::vector<std::pair<std::string, std::string>> records = {
      {RecordJson(1), ""},
      {"{\"f0\": 1, \"f1\":", "not a JSON object of named fields"},
      {"{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5}", "1 of the model's 6 features are missing: f5"},
      {"{\"f0\":\"1\",\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":6}", "field 'f0' is not a number"},
      {"f5,f4,f3,f2,f1,f0,id\n0.1,0.2,0.3,0.4,0.5,0.6,c-1\n", ""},
      {"f0,f1,f2,f3,f4,f5\n1,2,3,x,5,6", "field 'f3' is 'x', not a number"},
      {"f0,f1\n1,2,3", "the CSV header names 2 fields and the values line has 3"},
      {"{\"f0\":1e39,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":6}", "not a finite 32-bit float"},
      {"", "the record is empty"},
      {RecordJson(2), ""},
  };
  for (const auto& [data, why] : records) PublishRaw(data);
  jsPubOptions options;
  jsPubOptions_Init(&options);
  ASSERT_EQ(js_PublishAsyncComplete(js_, &options), NATS_OK);
  const std::vector<std::string> answers = Read("strata.answers", 3, 30);
  const std::vector<std::string> dead = Read("strata.dead", 7, 30);
  ASSERT_EQ(answers.size(), 3u);
  ASSERT_EQ(dead.size(), 7u);
  EXPECT_EQ(Field(answers[0], "id"), "r1");
  EXPECT_EQ(Field(answers[1], "id"), "c-1");  // CSV, its columns taken by name
  EXPECT_EQ(Field(answers[2], "id"), "r2");
  size_t d = 0;
  for (const auto& [data, why] : records) {
    if (why.empty()) continue;
    ASSERT_LT(d, dead.size());
    EXPECT_THAT(dead[d], HasSubstr(why)) << dead[d];
    EXPECT_THAT(dead[d], HasSubstr("\"subject\":\"records.a\""));
    ++d;
  }
  EXPECT_THAT(Metrics(),
              HasSubstr("strata_stream_records_total{outcome=\"dead_lettered\"} 7"));
}

// A new version published mid-stream: the reader moves to it at the next
// batch after the store's poll; every record is answered, by version 1 up
// to some point and by version 2 after it.
TEST_F(NatsStreamTest, HotSwappedModelAnswersFromTheNextBatch) {
  ASSERT_NO_FATAL_FAILURE(StartReader("--batch=64"));
  ASSERT_NO_FATAL_FAILURE(PublishRecords(0, 3000));
  ASSERT_EQ(Read("strata.answers", 3000, 60).size(), 3000u);
  ASSERT_TRUE(store_->Publish("m", *testing::SmallModel(6, 2)).ok());
  absl::SleepFor(absl::Milliseconds(500));  // five polls
  ASSERT_NO_FATAL_FAILURE(PublishRecords(3000, 3000));
  const std::vector<std::string> answers = Read("strata.answers", 6000, 60);
  ASSERT_EQ(answers.size(), 6000u);
  int64_t previous = 1;
  for (size_t i = 0; i < answers.size(); ++i) {
    int64_t version = 0;
    ASSERT_TRUE(absl::SimpleAtoi(Field(answers[i], "version"), &version));
    ASSERT_GE(version, previous) << "answer " << i << " went back to an older version";
    previous = version;
    if (i < 3000) EXPECT_EQ(version, 1) << i;
    if (i >= 3000) EXPECT_EQ(version, 2) << i;
  }
}

}  // namespace
}  // namespace strata

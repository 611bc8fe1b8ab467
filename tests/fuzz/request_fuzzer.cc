// Fuzzes the request path: a request built from the input goes through a
// real strata-server (in this process, on a loopback port) and its
// InferenceService / ModelService handlers. Any input gets an answer or an
// error status; the server must never crash.
//
// Input: byte 0 picks the call (and, with bit 7, names the served model "m"
// so that mutations reach the model); the rest is the request message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>

#include "client/strata_client.h"
#include "core/model/model_store.h"
#include "core/train/trainer.h"
#include "server/strata_server.h"

namespace {

struct Harness {
  std::unique_ptr<strata::StrataServer> server;
  std::unique_ptr<strata::StrataClient> client;
};

Harness* Start() {
  char dir_template[] = "/tmp/strata_request_fuzzer_XXXXXX";
  const std::string root = std::string(mkdtemp(dir_template)) + "/models";
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  strata::Matrix data(300, 6);
  for (Eigen::Index i = 0; i < data.size(); ++i) data.data()[i] = normal(rng);
  strata::Trainer::Options options;
  options.input_dim = 6;
  options.config.add_encoder_widths(4);
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(2);
  auto model = (*strata::Trainer::Create(options))->Train(data);
  auto store = strata::ModelStore::Create({root});
  if (!model.ok() || !store.ok() || !(*store)->Publish("m", **model).ok()) std::abort();
  strata::StrataServer::Options server_options;
  server_options.address = "127.0.0.1:0";
  server_options.model_root = root;
  server_options.max_request_rows = 1000;
  auto h = new Harness;
  h->server = *strata::StrataServer::Create(server_options);
  strata::StrataClient::Options client_options;
  client_options.target = "127.0.0.1:" + std::to_string(h->server->port());
  client_options.timeout = absl::Seconds(10);
  h->client = *strata::StrataClient::Create(client_options);
  return h;
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, bool name_model, Request* request) {
  if (!request->ParseFromArray(data, static_cast<int>(size))) return false;
  if (name_model) request->mutable_model()->set_name("m");
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = Start();
  if (size < 1) return 0;
  const bool name_model = data[0] & 0x80;
  const uint8_t call = data[0] & 0x7f;
  ++data;
  --size;
  switch (call % 5) {
    case 0: {
      strata::v1::EncodeRequest r;
      if (Parse(data, size, name_model, &r)) (void)h->client->Encode(r);
      break;
    }
    case 1: {
      strata::v1::ReconstructRequest r;
      if (Parse(data, size, name_model, &r)) (void)h->client->Reconstruct(r);
      break;
    }
    case 2: {
      strata::v1::AnomalyScoreRequest r;
      if (Parse(data, size, name_model, &r)) (void)h->client->AnomalyScore(r);
      break;
    }
    case 3: {
      // The same message three times down one stream.
      strata::v1::AnomalyScoreRequest r;
      if (!Parse(data, size, name_model, &r)) break;
      int sent = 0;
      (void)h->client->StreamAnomalyScore(
          [&](strata::v1::AnomalyScoreRequest* next) {
            if (sent++ == 3) return false;
            *next = r;
            return true;
          },
          [](const strata::v1::AnomalyScoreResponse&) {});
      break;
    }
    case 4: {
      strata::v1::GetModelRequest r;
      if (Parse(data, size, name_model, &r)) (void)h->client->GetModel(r.model());
      break;
    }
  }
  return 0;
}

// The manifests that run strata beside other engines: KServe (deploy/k8s/kserve)
// and NATS JetStream with strata-stream (deploy/k8s/nats,
// deploy/compose.nats.yaml). Their promises to deploy/k8s and to the real
// binaries, which run with the flags the manifests pass.
#include "tests/e2e/deploy_manifests.h"

namespace strata {
namespace {

// deploy/k8s/kserve/: a ClusterServingRuntime and an InferenceService that
// uses it. Not in the kustomization (they need KServe's CRDs), so their
// promises to deploy/k8s and to strata-server are checked here.
class KServeManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_docs_ = Documents("deploy/k8s/kserve/cluster-serving-runtime.yaml");
    service_docs_ = Documents("deploy/k8s/kserve/inference-service.yaml");
    ASSERT_EQ(runtime_docs_.size(), 1u);
    ASSERT_EQ(service_docs_.size(), 1u);
    for (const Value& a : At(Container(), "args").list_value().values()) {
      args_.push_back(a.string_value());
    }
  }
  const Value& Runtime() const { return runtime_docs_[0]; }
  const Value& Service() const { return service_docs_[0]; }
  const Value& Container() const { return At(Runtime(), "spec.containers.0"); }

  std::vector<Value> runtime_docs_;
  std::vector<Value> service_docs_;
  std::vector<std::string> args_;  // the runtime container's
};

TEST_F(KServeManifestsTest, RuntimeRunsTheServingImageOnItsH2cPort) {
  EXPECT_EQ(Str(Runtime(), "apiVersion"), "serving.kserve.io/v1alpha1");
  EXPECT_EQ(Str(Runtime(), "kind"), "ClusterServingRuntime");
  // KServe merges the predictor's settings into the container of this name.
  EXPECT_EQ(Str(Container(), "name"), "kserve-container");
  // The serving replicas' image, and the binary its ENTRYPOINT runs.
  const std::vector<Value> deployment = Documents("deploy/k8s/deployment.yaml");
  ASSERT_EQ(deployment.size(), 1u);
  EXPECT_EQ(Str(Container(), "image"), Str(deployment[0], "spec.template.spec.containers.0.image"));
  EXPECT_EQ(Str(Container(), "command.0"), "strata-server");
  EXPECT_THAT(testing::ReadAll("Dockerfile"), HasSubstr("ENTRYPOINT [\"strata-server\""));
  // The store where KServe mounts the storageUri.
  EXPECT_EQ(FlagValue(args_, "model_root"), "/mnt/models");
  // One port (Knative routes one per container), named h2c (plaintext
  // HTTP/2), where the server listens: the --port given, else its default.
  ASSERT_EQ(At(Container(), "ports").list_value().values_size(), 1);
  std::string port = FlagValue(args_, "port");
  if (port.empty()) port = FlagDefault("port");
  ASSERT_FALSE(port.empty());
  EXPECT_EQ(Str(Container(), "ports.0.containerPort"), port);
  EXPECT_EQ(Str(Container(), "ports.0.name"), "h2c");
  EXPECT_EQ(Str(Container(), "ports.0.protocol"), "TCP");
  EXPECT_EQ(Str(Container(), "readinessProbe.grpc.port"), port);
  EXPECT_EQ(Str(Container(), "livenessProbe.grpc.port"), port);
  // KServe's scrape annotations name the metrics port the server opens.
  std::string metrics_port = FlagValue(args_, "metrics_port");
  if (metrics_port.empty()) metrics_port = FlagDefault("metrics_port");
  const auto& annotations = At(Runtime(), "spec.annotations").struct_value().fields();
  ASSERT_TRUE(annotations.contains("prometheus.kserve.io/port"));
  EXPECT_EQ(annotations.at("prometheus.kserve.io/port").string_value(), metrics_port);
  // A runtime cannot set the pod's grace period: calls in flight must finish
  // within Kubernetes' default 30s.
  const double grace = ShutdownGraceSeconds(absl::StrJoin(args_, "\n"));
  ASSERT_GT(grace, 0);
  EXPECT_LT(grace, 30);
  // The image's user.
  EXPECT_EQ(Str(Container(), "securityContext.runAsUser"), "10001");
}

TEST_F(KServeManifestsTest, InferenceServiceSelectsTheRuntimeAndTheStore) {
  EXPECT_EQ(Str(Service(), "apiVersion"), "serving.kserve.io/v1beta1");
  EXPECT_EQ(Str(Service(), "kind"), "InferenceService");
  const Value& model = At(Service(), "spec.predictor.model");
  EXPECT_EQ(Str(model, "runtime"), Str(Runtime(), "metadata.name"));
  // The model format and the protocol are ones the runtime declares.
  std::vector<std::string> formats, protocols;
  for (const Value& f : At(Runtime(), "spec.supportedModelFormats").list_value().values()) {
    formats.push_back(Str(f, "name"));
  }
  for (const Value& p : At(Runtime(), "spec.protocolVersions").list_value().values()) {
    protocols.push_back(p.string_value());
  }
  EXPECT_THAT(formats, ::testing::Contains(Str(model, "modelFormat.name")));
  EXPECT_EQ(Str(model, "protocolVersion"), "grpc-v2");
  EXPECT_THAT(protocols, ::testing::Contains("grpc-v2"));
  // The store is deploy/k8s/pvc.yaml's claim, which the trainer publishes
  // into (the whole volume: the store's root).
  const std::vector<Value> pvc = Documents("deploy/k8s/pvc.yaml");
  ASSERT_EQ(pvc.size(), 1u);
  EXPECT_EQ(Str(model, "storageUri"), absl::StrCat("pvc://", Str(pvc[0], "metadata.name"), "/"));
}

TEST_F(KServeManifestsTest, StrataServerRunsWithTheRuntimeArgsAndServesOnly) {
  const std::string dir = testing::ScratchDir("kserve_args");
  std::system(("mkdir -p " + dir + "/data").c_str());
  // Kubernetes passes each argument as is (no shell): quote each. The test's
  // loopback port and store come after them and win.
  std::string flags;
  for (const std::string& a : args_) absl::StrAppend(&flags, " '", a, "'");
  testing::ServerProcess server(dir, "", absl::StrCat(STRATA_SERVER_PATH, flags));
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.Strata("health").exit_code, 0);
  // KServe mounts the store read-only: TrainJobs go to the trainer.
  const ShellResult refused = server.Strata(
      "train --model thyroid --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("trainer"));
}

// ---------------------------------------------------------------------------
// strata-stream on NATS JetStream: deploy/k8s/nats/ and deploy/compose.nats.yaml.

// The strings of a YAML list (empty if it is not one).
std::vector<std::string> Strings(const Value& list) {
  std::vector<std::string> strings;
  for (const Value& v : list.list_value().values()) strings.push_back(v.string_value());
  return strings;
}

// Whether the NATS subject filter `filter` covers `subject`, itself perhaps
// a filter (as --subject is). Tokens are split on '.'; `*` matches one,
// `>` the rest (at least one).
bool SubjectCovers(const std::string& filter, const std::string& subject) {
  const std::vector<std::string> f = absl::StrSplit(filter, '.');
  const std::vector<std::string> s = absl::StrSplit(subject, '.');
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == ">") return i < s.size();
    if (i >= s.size() || s[i] == ">" || (f[i] != "*" && f[i] != s[i])) return false;
  }
  return f.size() == s.size();
}

bool AnyCovers(const std::vector<std::string>& filters, const std::string& subject) {
  return std::any_of(filters.begin(), filters.end(),
                     [&](const std::string& f) { return SubjectCovers(f, subject); });
}

// The streams that the lines `nats stream add NAME --subjects 'S1,S2' ...
// --defaults` of a set-up script create: name -> subjects. A line without
// --defaults creates nothing: the nats CLI prompts, and with no terminal it
// fails.
std::map<std::string, std::vector<std::string>> StreamsAdded(const std::string& script) {
  std::map<std::string, std::vector<std::string>> streams;
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    const std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() < 4 || words[0] != "nats" || words[1] != "stream" || words[2] != "add" ||
        std::find(words.begin(), words.end(), "--defaults") == words.end()) {
      continue;
    }
    std::vector<std::string>& subjects = streams[words[3]];
    for (size_t i = 4; i + 1 < words.size(); ++i) {
      if (words[i] != "--subjects") continue;
      for (absl::string_view s : absl::StrSplit(words[i + 1], ',')) {
        subjects.push_back(std::string(absl::StripSuffix(absl::StripPrefix(s, "'"), "'")));
      }
    }
  }
  return streams;
}

// strata-stream's --helpfull: abseil's --help lists only the flags of a
// file named after the binary or main.cc, and stream_main.cc is neither.
std::string StrataStreamHelp() {
  return testing::Shell(absl::StrCat(STRATA_STREAM_PATH, " --helpfull")).output;
}

// A flag strata-stream runs with: the last --name=... of `args`, else its
// default from `help` ("--batch (...);\n      default: 256;", strings
// quoted); "" if neither.
std::string StreamFlag(const std::vector<std::string>& args, const std::string& name,
                       const std::string& help) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (auto a = args.rbegin(); a != args.rend(); ++a) {
    if (absl::StartsWith(*a, prefix)) return a->substr(prefix.size());
  }
  const size_t flag = help.find(absl::StrCat("--", name, " ("));
  if (flag == std::string::npos) return "";
  const size_t at = help.find("default: ", flag);
  if (at == std::string::npos) return "";
  const std::string value = help.substr(at + 9, help.find(';', at) - at - 9);
  return std::string(absl::StripSuffix(absl::StripPrefix(value, "\""), "\""));
}

// The streams a set-up creates carry what strata-stream with `args` reads
// and writes: the --stream stream exists and its subjects cover --subject
// (or it has one subject, which strata-stream then reads); each subject it
// publishes to is in a stream (JetStream confirms a publish only into one),
// and not in the records' stream, which would hand it back as a record.
void ExpectStreamsCarry(const std::vector<std::string>& args,
                        const std::map<std::string, std::vector<std::string>>& streams,
                        const std::string& help) {
  const std::string records = StreamFlag(args, "stream", help);
  const auto read = streams.find(records);
  ASSERT_TRUE(read != streams.end()) << "the set-up creates no stream --stream=" << records;
  const std::string subject = StreamFlag(args, "subject", help);
  if (subject.empty()) {
    EXPECT_EQ(read->second.size(), 1u) << records << " needs --subject";
  } else {
    EXPECT_TRUE(AnyCovers(read->second, subject)) << subject << " is not in " << records;
  }
  for (const char* flag : {"answer_subject", "anomaly_subject", "dead_letter_subject"}) {
    const std::string published = StreamFlag(args, flag, help);
    if (published.empty()) continue;  // --anomaly_subject= publishes no anomalies
    EXPECT_FALSE(AnyCovers(read->second, published))
        << "--" << flag << "=" << published << " would be read back from " << records;
    bool stored = false;
    for (const auto& stream : streams) stored = stored || AnyCovers(stream.second, published);
    EXPECT_TRUE(stored) << "--" << flag << "=" << published << " is in no stream";
  }
}

// strata-stream takes `args` as a manifest passes them: each is
// --name=value with a name it defines, and run with them, then a scratch
// store, a free metrics port and a NATS URL where nothing listens (those
// win), it passes its checks of the flags and stops only at connecting.
void ExpectStrataStreamTakes(const std::vector<std::string>& args, const std::string& help,
                             const std::string& scratch) {
  ASSERT_THAT(help, HasSubstr("--nats_url (")) << help;
  ASSERT_FALSE(args.empty());
  for (const std::string& a : args) {
    const size_t eq = a.find('=');
    EXPECT_TRUE(absl::StartsWith(a, "--") && eq != std::string::npos) << a;
    EXPECT_THAT(help, HasSubstr(absl::StrCat(a.substr(0, eq), " (")))
        << "strata-stream has no " << a;
  }
  const std::string dir = testing::ScratchDir(scratch);
  // Kubernetes and Compose pass each argument as is (no shell): quote each.
  std::string flags;
  for (const std::string& a : args) absl::StrAppend(&flags, " '", a, "'");
  const ShellResult ran = testing::Shell(absl::StrCat(
      STRATA_STREAM_PATH, flags, " --model_root=", dir,
      "/models --metrics_host=127.0.0.1 --metrics_port=0 --nats_url=nats://127.0.0.1:1"));
  EXPECT_EQ(ran.exit_code, 1) << ran.output;
  EXPECT_THAT(ran.output, HasSubstr("cannot connect to NATS at nats://127.0.0.1:1")) << flags;
}

// deploy/k8s/nats/: NATS with JetStream, the Job that creates the streams
// and the strata-stream Deployment, with deploy/k8s's objects (the serving
// Deployment, the store's claim, the Services) to check them against.
class NatsManifestsTest : public DeployManifestsTest {
 protected:
  void SetUp() override {
    DeployManifestsTest::SetUp();
    for (const char* file : {"nats", "streams-job", "strata-stream"}) {
      for (Value& doc : Documents(absl::StrCat("deploy/k8s/nats/", file, ".yaml"))) {
        objects_.push_back(std::move(doc));
      }
    }
    if (const Value* d = Find("Deployment", "strata-stream"); d != nullptr) {
      args_ = Strings(At(*d, "spec.template.spec.containers.0.args"));
    }
    help_ = StrataStreamHelp();
  }

  std::vector<std::string> args_;  // strata-stream's
  std::string help_;               // strata-stream --helpfull
};

TEST_F(NatsManifestsTest, KustomizationListsEveryManifestAndEachParses) {
  const std::vector<Value> k = Documents("deploy/k8s/nats/kustomization.yaml");
  ASSERT_EQ(k.size(), 1u);
  std::string resources;
  for (const Value& r : At(k[0], "resources").list_value().values()) {
    resources += r.string_value() + " ";
    EXPECT_EQ(testing::Shell("test -f deploy/k8s/nats/" + r.string_value()).exit_code, 0)
        << r.string_value();
  }
  EXPECT_EQ(resources, "nats.yaml streams-job.yaml strata-stream.yaml ");
  // SetUp parsed them into these objects.
  for (const auto& [kind, name] :
       {std::pair{"ConfigMap", "nats-config"}, std::pair{"Service", "nats"},
        std::pair{"StatefulSet", "nats"}, std::pair{"Job", "nats-streams"},
        std::pair{"Deployment", "strata-stream"}}) {
    EXPECT_NE(Find(kind, name), nullptr);
  }
}

TEST_F(NatsManifestsTest, NatsRunsJetStreamOnTheServicePortWithItsStoreOnAClaim) {
  const Value* config = Find("ConfigMap", "nats-config");
  const Value* service = Find("Service", "nats");
  const Value* server = Find("StatefulSet", "nats");
  ASSERT_NE(config, nullptr);
  ASSERT_NE(service, nullptr);
  ASSERT_NE(server, nullptr);
  const Value& pod = At(*server, "spec.template");
  const Value& c = At(pod, "spec.containers.0");
  EXPECT_EQ(Str(c, "image"), "nats:2.9");
  // The server reads the ConfigMap's nats.conf...
  std::map<std::string, std::string> mounts, config_maps;
  for (const Value& m : At(c, "volumeMounts").list_value().values()) {
    mounts[Str(m, "name")] = Str(m, "mountPath");
  }
  for (const Value& v : At(pod, "spec.volumes").list_value().values()) {
    if (v.struct_value().fields().contains("configMap")) {
      config_maps[Str(v, "name")] = Str(v, "configMap.name");
    }
  }
  EXPECT_THAT(Strings(At(c, "args")),
              ::testing::ElementsAre("--config", mounts["config"] + "/nats.conf"));
  EXPECT_EQ(config_maps["config"], "nats-config");
  const std::vector<std::string> conf = absl::StrSplit(Data(*config, "nats.conf"), '\n');
  // ...which turns JetStream on, its store on the StatefulSet's claim...
  EXPECT_THAT(conf, ::testing::Contains("jetstream {"));
  EXPECT_THAT(conf, ::testing::Contains("  store_dir: /data"));
  EXPECT_EQ(mounts["data"], "/data");
  EXPECT_EQ(Str(*server, "spec.volumeClaimTemplates.0.metadata.name"), "data");
  EXPECT_EQ(Str(*server, "spec.serviceName"), "nats");
  // ...and opens the client port, which the Service forwards.
  std::string client_port;
  for (const Value& p : At(c, "ports").list_value().values()) {
    if (Str(p, "name") == "client") client_port = Str(p, "containerPort");
  }
  ASSERT_FALSE(client_port.empty());
  EXPECT_THAT(conf, ::testing::Contains("port: " + client_port));
  EXPECT_EQ(Str(*service, "spec.ports.0.port"), client_port);
  EXPECT_EQ(Str(*service, "spec.ports.0.targetPort"), "client");
  for (const auto& [key, value] : At(*service, "spec.selector").struct_value().fields()) {
    const auto& labels = At(pod, "metadata.labels").struct_value().fields();
    ASSERT_TRUE(labels.contains(key)) << key;
    EXPECT_EQ(labels.at(key).string_value(), value.string_value()) << key;
  }
}

TEST_F(NatsManifestsTest, StrataStreamUsesTheStreamsTheJobCreatesOnTheNatsService) {
  const Value* service = Find("Service", "nats");
  const Value* job = Find("Job", "nats-streams");
  ASSERT_NE(service, nullptr);
  ASSERT_NE(job, nullptr);
  // strata-stream and the Job's nats CLI reach the Service on its client port.
  const std::string url = absl::StrCat("nats://", Str(*service, "metadata.name"), ":",
                                       Str(*service, "spec.ports.0.port"));
  EXPECT_EQ(StreamFlag(args_, "nats_url", help_), url);
  const Value& box = At(*job, "spec.template.spec.containers.0");
  EXPECT_TRUE(absl::StartsWith(Str(box, "image"), "natsio/nats-box:")) << Str(box, "image");
  std::string job_url;
  for (const Value& e : At(box, "env").list_value().values()) {
    if (Str(e, "name") == "NATS_URL") job_url = Str(e, "value");
  }
  EXPECT_EQ(job_url, url);
  // -e: a stream the CLI fails to create fails the Job.
  EXPECT_THAT(Strings(At(box, "command")), ::testing::ElementsAre("/bin/sh", "-ec"));
  ExpectStreamsCarry(args_, StreamsAdded(Str(box, "args.0")), help_);
}

TEST_F(NatsManifestsTest, StrataStreamSharesTheServingImageAndStoreAndIsScrapedOnItsPort) {
  const Value* serving = Find("Deployment", "strata");
  const Value* stream = Find("Deployment", "strata-stream");
  ASSERT_NE(serving, nullptr);
  ASSERT_NE(stream, nullptr);
  const Value& serving_pod = At(*serving, "spec.template");
  const Value& pod = At(*stream, "spec.template");
  const Value& c = At(pod, "spec.containers.0");
  EXPECT_EQ(Str(c, "image"), Str(serving_pod, "spec.containers.0.image"));
  EXPECT_EQ(Str(c, "command.0"), "strata-stream");
  EXPECT_EQ(Str(pod, "spec.securityContext.runAsUser"),
            Str(serving_pod, "spec.securityContext.runAsUser"));
  // Two replicas share one durable consumer: each record goes to one.
  EXPECT_EQ(Str(*stream, "spec.replicas"), "2");
  EXPECT_FALSE(StreamFlag(args_, "durable", help_).empty());
  // The serving replicas' store (deployment.yaml's first volume) where
  // --model_root points, read-only.
  const std::string model_root = StreamFlag(args_, "model_root", help_);
  std::string volume;
  for (const Value& m : At(c, "volumeMounts").list_value().values()) {
    if (Str(m, "mountPath") != model_root) continue;
    volume = Str(m, "name");
    EXPECT_TRUE(At(m, "readOnly").bool_value());
  }
  ASSERT_FALSE(volume.empty()) << "nothing mounted at --model_root=" << model_root;
  std::string claim;
  for (const Value& v : At(pod, "spec.volumes").list_value().values()) {
    if (Str(v, "name") != volume) continue;
    claim = Str(v, "persistentVolumeClaim.claimName");
    EXPECT_TRUE(At(v, "persistentVolumeClaim.readOnly").bool_value());
  }
  EXPECT_EQ(claim, Str(serving_pod, "spec.volumes.0.persistentVolumeClaim.claimName"));
  // Readiness, the container port and Prometheus' annotations on the
  // metrics port strata-stream opens, on every address.
  const std::string metrics_port = StreamFlag(args_, "metrics_port", help_);
  ASSERT_FALSE(metrics_port.empty());
  EXPECT_EQ(StreamFlag(args_, "metrics_host", help_), "0.0.0.0");
  EXPECT_EQ(Str(c, "readinessProbe.httpGet.port"), metrics_port);
  EXPECT_EQ(Str(c, "readinessProbe.httpGet.path"), "/metrics");
  EXPECT_EQ(Str(c, "ports.0.containerPort"), metrics_port);
  const auto& annotations = At(pod, "metadata.annotations").struct_value().fields();
  ASSERT_TRUE(annotations.contains("prometheus.io/port"));
  EXPECT_EQ(annotations.at("prometheus.io/port").string_value(), metrics_port);
  ASSERT_TRUE(annotations.contains("prometheus.io/scrape"));
  EXPECT_EQ(annotations.at("prometheus.io/scrape").string_value(), "true");
  // No gRPC Service of deploy/k8s sends calls to these pods, which serve none.
  const auto& labels = At(pod, "metadata.labels").struct_value().fields();
  for (const char* name : {"strata", "strata-headless", "strata-trainer"}) {
    const Value* s = Find("Service", name);
    ASSERT_NE(s, nullptr);
    bool selects = true;
    for (const auto& [key, value] : At(*s, "spec.selector").struct_value().fields()) {
      selects =
          selects && labels.contains(key) && labels.at(key).string_value() == value.string_value();
    }
    EXPECT_FALSE(selects) << "Service " << name << " selects strata-stream's pods";
  }
}

TEST_F(NatsManifestsTest, StrataStreamTakesTheDeploymentArgs) {
  ExpectStrataStreamTakes(args_, help_, "nats_deployment_args");
}

// deploy/compose.nats.yaml, merged with deploy/compose.yaml.
TEST(ComposeNatsTest, StrataStreamStartsAfterTheStreamsOnNatsWithComposesImageAndStore) {
  const std::vector<Value> base = Documents("deploy/compose.yaml");
  const std::vector<Value> docs = Documents("deploy/compose.nats.yaml");
  ASSERT_EQ(base.size(), 1u);
  ASSERT_EQ(docs.size(), 1u);
  const Value& services = At(docs[0], "services");
  for (const char* service : {"nats", "nats-streams", "strata-stream"}) {
    ASSERT_TRUE(services.struct_value().fields().contains(service)) << service;
  }
  const Value& nats = At(services, "nats");
  const Value& setup = At(services, "nats-streams");
  const Value& stream = At(services, "strata-stream");
  const std::string help = StrataStreamHelp();
  const std::vector<std::string> args = Strings(At(stream, "command"));

  // The volume a service mounts at `target` ("models:/path:ro" ->
  // {"models", "ro"}).
  const auto mounted_at = [](const Value& service, const std::string& target) {
    for (const std::string& v : Strings(At(service, "volumes"))) {
      const std::vector<std::string> parts = absl::StrSplit(v, ':');
      if (parts.size() >= 2 && parts[1] == target) {
        return std::pair{parts[0], parts.size() > 2 ? parts[2] : std::string()};
      }
    }
    return std::pair{std::string(), std::string()};
  };
  const auto& volumes = At(docs[0], "volumes").struct_value().fields();

  // NATS with JetStream, its store (-sd) on a named volume.
  EXPECT_EQ(Str(nats, "image"), "nats:2.9");
  const std::vector<std::string> nats_command = Strings(At(nats, "command"));
  EXPECT_THAT(nats_command, ::testing::Contains("-js"));
  const auto sd = std::find(nats_command.begin(), nats_command.end(), "-sd");
  ASSERT_TRUE(sd != nats_command.end() && sd + 1 != nats_command.end()) << "no -sd DIR";
  const std::string nats_volume = mounted_at(nats, *(sd + 1)).first;
  EXPECT_FALSE(nats_volume.empty()) << "no volume at " << *(sd + 1);
  EXPECT_TRUE(volumes.contains(nats_volume)) << nats_volume;

  // strata-stream and the set-up's nats CLI reach the service nats on its
  // client port (4222 unless -p).
  std::string nats_port = "4222";
  for (auto a = nats_command.begin(); a != nats_command.end(); ++a) {
    if ((*a == "-p" || *a == "--port") && a + 1 != nats_command.end()) nats_port = *(a + 1);
  }
  const std::string url = absl::StrCat("nats://nats:", nats_port);
  EXPECT_EQ(StreamFlag(args, "nats_url", help), url);
  EXPECT_EQ(Str(setup, "environment.NATS_URL"), url);
  EXPECT_TRUE(absl::StartsWith(Str(setup, "image"), "natsio/nats-box:")) << Str(setup, "image");
  // -e: a stream the CLI fails to create fails the set-up.
  EXPECT_THAT(Strings(At(setup, "entrypoint")), ::testing::ElementsAre("/bin/sh", "-ec"));
  ExpectStreamsCarry(args, StreamsAdded(Str(setup, "command.0")), help);

  // Start order: the set-up after nats; strata-stream after nats and after
  // the set-up has exited 0 (it runs once).
  EXPECT_EQ(Str(setup, "depends_on.nats.condition"), "service_started");
  EXPECT_EQ(Str(setup, "restart"), "no");
  EXPECT_EQ(Str(stream, "depends_on.nats.condition"), "service_started");
  EXPECT_EQ(Str(stream, "depends_on.nats-streams.condition"), "service_completed_successfully");

  // compose.yaml's image, with strata-stream as the entrypoint, and its
  // store: strata's volume at --model_root, read-only.
  const Value& strata = At(base[0], "services.strata");
  EXPECT_EQ(Str(stream, "image"), Str(strata, "image"));
  EXPECT_EQ(Str(stream, "entrypoint.0"), "strata-stream");
  const std::string model_root = StreamFlag(args, "model_root", help);
  const auto [store, mode] = mounted_at(stream, model_root);
  EXPECT_FALSE(store.empty()) << "nothing mounted at --model_root=" << model_root;
  EXPECT_EQ(store, mounted_at(strata, model_root).first);
  EXPECT_EQ(mode, "ro");
  EXPECT_TRUE(volumes.contains(store)) << store;  // declared here too
  EXPECT_TRUE(At(base[0], "volumes").struct_value().fields().contains(store)) << store;

  // /metrics published on --metrics_port.
  const std::string metrics_port = StreamFlag(args, "metrics_port", help);
  EXPECT_THAT(Strings(At(stream, "ports")),
              ::testing::Contains(absl::StrCat(metrics_port, ":", metrics_port)));

  ExpectStrataStreamTakes(args, help, "compose_nats_args");
}

}  // namespace
}  // namespace strata

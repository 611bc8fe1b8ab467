// The Kubernetes and compose files hold together (no cluster or Docker engine
// runs here): the promises between them are checked, and strata-server runs
// with the very flag files the ConfigMap mounts. The KServe and NATS
// manifests: stream_manifests_test.cc.
#include "tests/e2e/deploy_manifests.h"

namespace strata {
namespace {

TEST_F(DeployManifestsTest, KustomizationListsEveryManifest) {
  const std::vector<Value> k = Documents("deploy/k8s/kustomization.yaml");
  ASSERT_EQ(k.size(), 1u);
  std::string resources;
  for (const Value& r : At(k[0], "resources").list_value().values()) {
    resources += r.string_value() + " ";
    EXPECT_EQ(testing::Shell("test -f deploy/k8s/" + r.string_value()).exit_code, 0)
        << r.string_value();
  }
  EXPECT_EQ(resources,
            "configmap.yaml pvc.yaml deployment.yaml trainer.yaml service.yaml hpa.yaml ");
}

TEST_F(DeployManifestsTest, DeploymentsProbeGrpcOutwaitTheGraceAndShareTheStore) {
  const Value* flags = Find("ConfigMap", "strata-flags");
  ASSERT_NE(flags, nullptr);
  for (const auto& [name, flag_file] :
       {std::pair{"strata", "serving.flags"}, std::pair{"strata-trainer", "trainer.flags"}}) {
    SCOPED_TRACE(name);
    const Value* d = Find("Deployment", name);
    ASSERT_NE(d, nullptr);
    const Value& pod = At(*d, "spec.template");
    const Value& c = At(pod, "spec.containers.0");
    EXPECT_EQ(Str(c, "args.0"), absl::StrCat("--flagfile=/etc/strata/", flag_file));
    // The pod outlives --shutdown_grace, so calls in flight finish.
    const std::string text = Data(*flags, flag_file);
    const double grace = ShutdownGraceSeconds(text);
    ASSERT_GT(grace, 0) << text;
    EXPECT_GT(At(pod, "spec.terminationGracePeriodSeconds").number_value(), grace);
    // gRPC health probes on the gRPC port; Prometheus annotations on the
    // metrics port.
    EXPECT_EQ(Str(c, "ports.0.containerPort"), "50051");
    EXPECT_EQ(Str(c, "ports.1.containerPort"), "9464");
    EXPECT_EQ(Str(c, "readinessProbe.grpc.port"), "50051");
    EXPECT_EQ(Str(c, "livenessProbe.grpc.port"), "50051");
    const auto& annotations = At(pod, "metadata.annotations").struct_value().fields();
    EXPECT_EQ(annotations.at("prometheus.io/scrape").string_value(), "true");
    EXPECT_EQ(annotations.at("prometheus.io/port").string_value(), "9464");
    // The image's user and store.
    EXPECT_EQ(Str(pod, "spec.securityContext.runAsUser"), "10001");
    EXPECT_EQ(Str(c, "volumeMounts.0.mountPath"), "/var/lib/strata/models");
    EXPECT_EQ(Str(pod, "spec.volumes.0.persistentVolumeClaim.claimName"), "strata-models");
  }
  const Value* pvc = Find("PersistentVolumeClaim", "strata-models");
  ASSERT_NE(pvc, nullptr);
  EXPECT_EQ(Str(*pvc, "spec.accessModes.0"), "ReadWriteMany");
  // Serving replicas do not train; the trainer is one replica.
  EXPECT_THAT(Data(*flags, "serving.flags"), HasSubstr("--max_concurrent_jobs=0"));
  EXPECT_THAT(Data(*flags, "trainer.flags"), HasSubstr("--max_concurrent_jobs=1"));
  EXPECT_EQ(Str(*Find("Deployment", "strata-trainer"), "spec.replicas"), "1");
}

TEST_F(DeployManifestsTest, ServicesAndAutoscalerSelectTheRightPods) {
  const Value* serving = Find("Deployment", "strata");
  const Value* trainer = Find("Deployment", "strata-trainer");
  ASSERT_NE(serving, nullptr);
  ASSERT_NE(trainer, nullptr);
  for (const auto& [service, deployment] :
       {std::pair{"strata", serving}, std::pair{"strata-headless", serving},
        std::pair{"strata-trainer", trainer}}) {
    SCOPED_TRACE(service);
    const Value* s = Find("Service", service);
    ASSERT_NE(s, nullptr);
    // The selector matches the pods' labels, and the ports name real ones.
    for (const auto& [key, value] : At(*s, "spec.selector").struct_value().fields()) {
      const auto& labels = At(*deployment, "spec.template.metadata.labels").struct_value().fields();
      ASSERT_TRUE(labels.contains(key)) << key;
      EXPECT_EQ(labels.at(key).string_value(), value.string_value()) << key;
    }
    EXPECT_EQ(Str(*s, "spec.ports.0.targetPort"), "grpc");
  }
  EXPECT_EQ(Str(*Find("Service", "strata-headless"), "spec.clusterIP"), "None");
  const Value* hpa = Find("HorizontalPodAutoscaler", "strata");
  ASSERT_NE(hpa, nullptr);
  EXPECT_EQ(Str(*hpa, "spec.scaleTargetRef.name"), "strata");
  EXPECT_EQ(Str(*hpa, "spec.metrics.0.resource.name"), "cpu");
  // The HPA scales on CPU utilization, which needs CPU requests.
  EXPECT_FALSE(Str(*serving, "spec.template.spec.containers.0.resources.requests.cpu").empty());
}

TEST_F(DeployManifestsTest, StrataServerRunsWithTheConfigMapFlagFiles) {
  const Value* flags = Find("ConfigMap", "strata-flags");
  ASSERT_NE(flags, nullptr);
  const std::string dir = testing::ScratchDir("deploy_flags");
  std::system(("mkdir -p " + dir + "/data").c_str());
  for (const char* file : {"serving.flags", "trainer.flags"}) {
    std::ofstream(dir + "/" + file) << Data(*flags, file);
  }
  const std::string train =
      "train --model thyroid --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet";
  {
    // The serving replica's flags: it serves and refuses TrainJobs.
    testing::ServerProcess serving(
        dir, "", absl::StrCat(STRATA_SERVER_PATH, " --flagfile=", dir, "/serving.flags"));
    ASSERT_GT(serving.port(), 0);
    EXPECT_EQ(serving.Strata("health").exit_code, 0);
    const ShellResult refused = serving.Strata(train);
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_THAT(refused.output, HasSubstr("trainer"));
  }
  // The trainer's flags: it trains.
  testing::ServerProcess trainer(
      dir, "", absl::StrCat(STRATA_SERVER_PATH, " --flagfile=", dir, "/trainer.flags"));
  ASSERT_GT(trainer.port(), 0);
  const ShellResult trained = trainer.Strata(train);
  EXPECT_EQ(trained.exit_code, 0) << trained.output;
}

TEST(MpiJobManifestTest, LaunchesOneRankPerWorkerIntoTheServingStoreAndItsCommandTrains) {
  const std::vector<Value> docs = Documents("deploy/k8s/training/mpijob.yaml");
  const Value* job = FindKind(docs, "MPIJob");
  const Value* config_map = FindKind(docs, "ConfigMap");
  ASSERT_NE(job, nullptr);
  ASSERT_NE(config_map, nullptr);
  EXPECT_EQ(Str(*job, "apiVersion"), "kubeflow.org/v2beta1");
  EXPECT_EQ(Str(*job, "spec.mpiImplementation"), "OpenMPI");
  // A rank that dies fails the job; nothing retries half a training.
  EXPECT_EQ(Str(*job, "spec.runPolicy.backoffLimit"), "0");
  const Value& launcher = At(*job, "spec.mpiReplicaSpecs.Launcher.template.spec");
  const Value& worker = At(*job, "spec.mpiReplicaSpecs.Worker.template.spec");
  std::vector<std::string> args;
  for (const Value& a : At(launcher, "containers.0.args").list_value().values()) {
    args.push_back(a.string_value());
  }
  EXPECT_EQ(Str(launcher, "containers.0.command.0"), "mpirun");
  // One rank per worker slot.
  ASSERT_GE(args.size(), 2u);
  EXPECT_EQ(args[0], "-np");
  EXPECT_EQ(std::stod(args[1]), At(*job, "spec.mpiReplicaSpecs.Worker.replicas").number_value() *
                                    At(*job, "spec.slotsPerWorker").number_value());
  const std::string command = absl::StrJoin(args, " ");
  EXPECT_THAT(command, HasSubstr("strata train --local"));
  // Workers mount the serving replicas' store where --store points, and the
  // shards where --data points; the image's user.
  const std::map<std::string, std::string> flag = [&] {
    std::map<std::string, std::string> f;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (absl::StartsWith(args[i], "--")) f[args[i]] = args[i + 1];
    }
    return f;
  }();
  std::map<std::string, std::string> mounts, claims;
  for (const Value& m : At(worker, "containers.0.volumeMounts").list_value().values()) {
    mounts[Str(m, "name")] = Str(m, "mountPath");
  }
  for (const Value& v : At(worker, "volumes").list_value().values()) {
    if (v.struct_value().fields().contains("persistentVolumeClaim")) {
      claims[Str(v, "name")] = Str(v, "persistentVolumeClaim.claimName");
    }
  }
  EXPECT_EQ(flag.at("--store"), mounts["models"]);
  EXPECT_EQ(claims["models"], "strata-models");  // deploy/k8s/pvc.yaml's
  EXPECT_TRUE(absl::StartsWith(flag.at("--data"), mounts["shards"] + "/")) << flag.at("--data");
  EXPECT_EQ(Str(worker, "securityContext.runAsUser"), "10001");
  EXPECT_EQ(Str(launcher, "securityContext.runAsUser"), "10001");
  EXPECT_TRUE(absl::StartsWith(Str(*job, "spec.sshAuthMountPath"), "/var/lib/strata/"));
  // sshd and the launcher's ssh agree on the port.
  const std::string sshd = Data(*config_map, "sshd_config");
  const std::string ssh = Data(*config_map, "ssh_config");
  EXPECT_THAT(sshd, HasSubstr("Port 2222"));
  EXPECT_THAT(ssh, HasSubstr("Port 2222"));
  EXPECT_THAT(command, HasSubstr("-F /etc/strata-train/ssh_config"));
  // The config is a TrainConfig that data-parallel training takes.
  const std::string config_json = Data(*config_map, "config.json");
  absl::StatusOr<v1::TrainConfig> config = ParseTrainConfigJson(config_json);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->batch_norm(), v1::BATCH_NORM_NONE);

  // The launcher's command, on this machine: 2 ranks, the paths moved into
  // a scratch directory, no ssh.
  const std::string dir = testing::ScratchDir("mpijob_command");
  std::system(("mkdir -p " + dir + "/shards").c_str());
  const Matrix data = testing::ManifoldData(600, 8, 3, 2);
  for (int s = 0; s < 2; ++s) {
    std::ofstream out(absl::StrCat(dir, "/shards/s", s, ".csv"));
    out << "a,b,c,d,e,f,g,h\n";
    for (Eigen::Index r = s * 300; r < (s + 1) * 300; ++r) {
      for (Eigen::Index c = 0; c < 8; ++c) out << (c ? "," : "") << data(r, c);
      out << "\n";
    }
  }
  std::ofstream(dir + "/config.json") << config_json;
  // Kubernetes passes each argument as is (no shell): quote each.
  std::string local;
  const auto strata_at = std::find(args.begin(), args.end(), "strata");
  ASSERT_NE(strata_at, args.end());
  for (auto a = strata_at + 1; a != args.end(); ++a) {
    absl::StrAppend(
        &local, " '",
        absl::StrReplaceAll(*a, {{mounts["shards"], dir + "/shards"},
                                 {mounts["models"], dir + "/models"},
                                 {"/etc/strata-train/config.json", dir + "/config.json"}}),
        "'");
  }
  const ShellResult ran = testing::Shell(absl::StrCat(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe ",
      STRATA_CLI_PATH, local));
  ASSERT_EQ(ran.exit_code, 0) << local << "\n" << ran.output;
  EXPECT_TRUE(ReadModelFile(dir + "/models/" + flag.at("--model") + "/1/model.strata").ok())
      << ran.output;
}

TEST(ComposeTest, ComposeMountsFilesThatExistAndOutwaitsTheGrace) {
  const std::vector<Value> docs = Documents("deploy/compose.yaml");
  ASSERT_EQ(docs.size(), 1u);
  const Value& services = At(docs[0], "services");
  for (const char* service : {"strata", "prometheus", "grafana"}) {
    ASSERT_TRUE(services.struct_value().fields().contains(service)) << service;
  }
  const Value& strata = At(services, "strata");
  const double grace = ShutdownGraceSeconds(Str(strata, "command.0"));
  ASSERT_GT(grace, 0);
  absl::Duration stop;
  ASSERT_TRUE(absl::ParseDuration(Str(strata, "stop_grace_period"), &stop));
  EXPECT_GT(absl::ToDoubleSeconds(stop), grace);
  // Every host file mounted into Prometheus and Grafana exists (paths are
  // relative to deploy/).
  for (const char* service : {"prometheus", "grafana"}) {
    for (const Value& v : At(services, std::string(service) + ".volumes").list_value().values()) {
      const std::string host = v.string_value().substr(0, v.string_value().find(':'));
      EXPECT_EQ(testing::Shell("test -e deploy/" + host).exit_code, 0) << host;
    }
  }
  // Grafana's data source uid is the one the dashboard's panels use.
  const std::vector<Value> datasources =
      Documents("deploy/grafana/provisioning/datasources/prometheus.yml");
  ASSERT_EQ(datasources.size(), 1u);
  EXPECT_EQ(Str(datasources[0], "datasources.0.uid"), "prometheus");
  EXPECT_EQ(Str(datasources[0], "datasources.0.url"), "http://prometheus:9090");
  EXPECT_THAT(testing::ReadAll("deploy/grafana/strata-dashboard.json"),
              HasSubstr("\"uid\": \"prometheus\""));
}

}  // namespace
}  // namespace strata

// The container recipe, run on the host (no Docker engine runs here): the
// Dockerfile only calls deploy/image/build.sh and deploy/image/runtime.sh, so
// running those scripts, then the staged server with the Dockerfile's own
// ENTRYPOINT flags and its HEALTHCHECK command, tests what the image does.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::ShellResult;

// The words of the JSON array after `instruction` in the Dockerfile, e.g.
// ENTRYPOINT ["a", "b"] -> {a, b}. Empty if the instruction is missing.
std::vector<std::string> ExecForm(const std::string& dockerfile, const std::string& instruction) {
  const size_t at = dockerfile.find("\n" + instruction);
  if (at == std::string::npos) return {};
  const size_t open = dockerfile.find('[', at);
  const size_t close = dockerfile.find(']', open);
  std::vector<std::string> words;
  for (size_t q = dockerfile.find('"', open); q < close; q = dockerfile.find('"', q)) {
    const size_t end = dockerfile.find('"', q + 1);
    words.push_back(dockerfile.substr(q + 1, end - q - 1));
    q = end + 1;
  }
  return words;
}

TEST(ImageRecipeTest, ScriptsStageAServerThatPassesTheDockerfileHealthCheck) {
  const std::string dockerfile = testing::ReadAll("Dockerfile");
  // The recipe's promises: the two scripts, an unprivileged user, the store
  // as a volume, both ports.
  EXPECT_THAT(dockerfile, HasSubstr("RUN bash deploy/image/build.sh /stage"));
  EXPECT_THAT(dockerfile, HasSubstr("RUN bash /usr/share/strata/image/runtime.sh install"));
  EXPECT_THAT(dockerfile, HasSubstr("\nUSER strata\n"));
  EXPECT_THAT(dockerfile, HasSubstr("\nVOLUME /var/lib/strata/models\n"));
  EXPECT_THAT(dockerfile, HasSubstr("\nEXPOSE 50051 9464\n"));
  const std::vector<std::string> entrypoint = ExecForm(dockerfile, "ENTRYPOINT");
  const std::vector<std::string> healthcheck = ExecForm(dockerfile, "  CMD");
  ASSERT_GE(entrypoint.size(), 2u);
  ASSERT_EQ(entrypoint[0], "strata-server");
  ASSERT_GE(healthcheck.size(), 2u);
  ASSERT_EQ(healthcheck[0], "strata");
  EXPECT_EQ(healthcheck[1], "health");

  // The build stage, into a scratch root.
  const std::string dir = testing::ScratchDir("image_recipe");
  const std::string root = dir + "/root";
  const ShellResult build = testing::Shell(
      absl::StrCat("BUILD_DIR=", STRATA_IMAGE_BUILD_DIR, " bash deploy/image/build.sh ", root));
  ASSERT_EQ(build.exit_code, 0) << build.output.substr(build.output.size() > 3000 ? build.output.size() - 3000 : 0);
  const std::string bin = root + "/usr/local/bin";
  // The runtime stage's package list covers every library the binaries load.
  const ShellResult check =
      testing::Shell("bash " + root + "/usr/share/strata/image/runtime.sh check " + root);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("every library of strata strata-server strata-stream "));
  // The staged strata-stream loads and parses its flags: without the
  // required ones it names the first (exit 2), where a missing library
  // would stop the loader (127).
  const ShellResult stream = testing::Shell(bin + "/strata-stream");
  EXPECT_EQ(stream.exit_code, 2) << stream.output;
  EXPECT_THAT(stream.output, HasSubstr("--stream is required"));

  // The staged server with the ENTRYPOINT's flags (this test's loopback port,
  // store and data root come after them and win).
  std::system(("mkdir -p " + dir + "/data").c_str());
  const std::string entry_flags =
      absl::StrJoin(std::vector<std::string>(entrypoint.begin() + 1, entrypoint.end()), " ");
  std::string health_command = absl::StrCat("PATH=", bin, ":/usr/bin:/bin");
  for (const std::string& word : healthcheck) absl::StrAppend(&health_command, " ", word);
  std::string health_env;
  {
    testing::ServerProcess server(dir, "", absl::StrCat(bin, "/strata-server ", entry_flags));
    ASSERT_GT(server.port(), 0);
    health_env = absl::StrCat("STRATA_SERVER=127.0.0.1:", server.port(), " ");
    const ShellResult healthy = testing::Shell(health_env + health_command);
    EXPECT_EQ(healthy.exit_code, 0) << healthy.output;

    // The staged CLI trains the staged demo data set through the server.
    const std::string data = root + "/usr/share/strata/data";
    const ShellResult train = testing::Shell(absl::StrCat(
        health_env, bin, "/strata train --model thyroid --data ", data,
        "/thyroid.csv --drop_columns label --config ", data, "/configs/thyroid.json --wait --quiet"));
    EXPECT_EQ(train.exit_code, 0) << train.output;
    EXPECT_THAT(train.output, HasSubstr("published thyroid version 1"));
  }
  // Stopped: the health check fails, so the container would be restarted.
  const ShellResult stopped = testing::Shell(health_env + health_command);
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
}

}  // namespace
}  // namespace strata

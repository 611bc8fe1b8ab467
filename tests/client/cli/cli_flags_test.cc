#include "client/cli/cli_flags.h"

#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;

// The global flags go through the same FlagSet as a subcommand's, stopping
// at the subcommand (or at a word main takes as one).
TEST(FlagSetTest, ParseLeadingTakesTheGlobalFlagsUpToTheSubcommand) {
  GlobalFlags global;
  FlagSet flags("", "");
  global.Add(&flags);
  const std::vector<std::string> words = {"--server", "h:1",     "--tls_ca=ca.pem",
                                          "score",    "--model", "m"};
  absl::StatusOr<size_t> at = flags.ParseLeading(words);
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, 3u);
  EXPECT_EQ(global.server, "h:1");
  EXPECT_EQ(global.tls_ca, "ca.pem");

  for (const char* word : {"--help", "--version", "--unknown", "-h"}) {
    FlagSet again("", "");
    global.Add(&again);
    EXPECT_EQ(*again.ParseLeading({"--token_file=t", word, "models"}), 1u) << word;
  }
  FlagSet none("", "");
  global.Add(&none);
  EXPECT_EQ(*none.ParseLeading({"--server=x"}), 1u);  // no subcommand

  FlagSet missing("", "");
  global.Add(&missing);
  EXPECT_EQ(missing.ParseLeading({"--server"}).status().message(), "--server needs a value");
}

TEST(FlagSetTest, AGlobalFlagAfterTheSubcommandSaysWhereItGoes) {
  std::string model;
  FlagSet flags("models", "Lists the models.");
  flags.AddString("model", &model, "NAME", "the model");
  const absl::Status s = flags.Parse({"--tls_cert=c.pem"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("--tls_cert is a global flag: give it before the subcommand, as in "
                        "'strata --tls_cert=... models ...'"));
  EXPECT_THAT(std::string(flags.Parse({"--epochs=3"}).message()),
              HasSubstr("unknown flag --epochs for 'strata models'"));
}

}  // namespace
}  // namespace strata::cli

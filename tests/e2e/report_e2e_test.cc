// strata report against the real server, rendered the way a person sees it:
// headless Chromium takes a screenshot and the test looks for each chart's
// colours in its pixels.
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/png.h"
#include "tests/testing/server_process.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ShellResult;

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The page as headless Chromium draws it in a window 1000 pixels wide and
// `height` high (saved next to it as .png); an error quotes Chromium's
// output when it fails.
absl::StatusOr<testing::Image> Screenshot(const std::string& html_path, int height) {
  const std::string png = html_path + ".png";
  const ShellResult shot = testing::Shell(
      absl::StrCat("timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
                   "--window-size=1000,",
                   height, " --screenshot=", png, " file://", html_path));
  if (shot.exit_code != 0) {
    return absl::InternalError(absl::StrCat("chromium exited ", shot.exit_code, ": ", shot.output));
  }
  return testing::ReadPng(png);
}

// Before any record is scored: the report and `strata drift` say so rather
// than showing a score of 0.
void ExpectNothingScoredYet(const testing::ServerProcess& server, const std::string& dir) {
  const std::string empty_path = dir + "/empty.html";
  ASSERT_EQ(server.Strata("report --model thyroid --out " + empty_path).exit_code, 0);
  const std::string empty = testing::ReadAll(empty_path);
  EXPECT_THAT(empty, HasSubstr("no records seen since this version was loaded"));
  EXPECT_THAT(empty, HasSubstr("No records have been seen"));
  EXPECT_THAT(empty, Not(HasSubstr("drift score")));
  const ShellResult no_drift = server.Strata("drift --model thyroid");
  EXPECT_EQ(no_drift.exit_code, 0) << no_drift.output;
  EXPECT_THAT(no_drift.output, HasSubstr("no records have been seen"));
  EXPECT_THAT(no_drift.output, Not(HasSubstr("drift score")));
  // In JSON too: no drift_score at all, rather than a 0 that reads as stable.
  const ShellResult no_drift_json = server.Strata("drift --model thyroid --output json");
  EXPECT_EQ(no_drift_json.exit_code, 0) << no_drift_json.output;
  EXPECT_THAT(no_drift_json.output, HasSubstr("\"window_rows\": \"0\""));
  EXPECT_THAT(no_drift_json.output, Not(HasSubstr("drift_score")));
}

// After records with f3 raised: `strata drift` in every output format leads
// with f3, --top applies to each, and the anomaly ratio names its score.
void ExpectDriftLeadsWithF3(const testing::ServerProcess& server) {
  const ShellResult json = server.Strata("drift --model thyroid --top 2 --output json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(CountOf(json.output, "\"out_of_range_psi\""), 2) << json.output;
  EXPECT_EQ(CountOf(json.output, "\"drift_score\""), 1) << json.output;
  const ShellResult csv = server.Strata("drift --model thyroid --top 2 --output csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(CountOf(csv.output, "\n"), 3) << csv.output;
  EXPECT_THAT(csv.output, HasSubstr("FEATURE,PSI,MEAN_SHIFT,OUT_OF_RANGE,DRIFT,STATUS\nf3,"));
  // The anomaly ratio names the score it counts by (not the ENSEMBLE
  // default, which the drift monitor does not run), in the table and JSON.
  const ShellResult table = server.Strata("drift --model thyroid");
  EXPECT_THAT(table.output, ::testing::ContainsRegex("anomaly ratio [0-9.]+ by the combined score"))
      << table.output;
  EXPECT_THAT(json.output, HasSubstr("\"anomaly_score\": \"combined\""));
}

TEST(ReportTest, HtmlReportRendersEveryChartInHeadlessChromium) {
  const std::string dir = testing::ScratchDir("report");
  std::system(("mkdir -p " + dir + "/data").c_str());
  testing::ServerProcess server(dir);
  ASSERT_GT(server.port(), 0);
  const ShellResult train = server.Strata(
      "train --model thyroid --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --labels stable --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  ASSERT_NO_FATAL_FAILURE(ExpectNothingScoredYet(server, dir));
  // Live records with feature f3 raised: the drift chart should lead with it.
  const ShellResult score = testing::Shell(absl::StrCat(
      "awk -F, 'NR > 1 { print $1\",\"$2\",\"$3\",\"$4 + 0.3\",\"$5\",\"$6 }' data/thyroid.csv | ",
      STRATA_CLI_PATH, " --server=127.0.0.1:", server.port(), " score --model thyroid --stream"));
  ASSERT_EQ(score.exit_code, 0) << score.output.substr(0, 500);

  ASSERT_NO_FATAL_FAILURE(ExpectDriftLeadsWithF3(server));

  const std::string html_path = dir + "/report.html";
  const ShellResult report =
      server.Strata("report --label stable --model thyroid --out " + html_path);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_THAT(report.output, HasSubstr("wrote " + html_path));
  const std::string html = testing::ReadAll(html_path);
  for (const char* id : {"loss-chart", "error-chart", "drift-chart", "code-chart"}) {
    EXPECT_THAT(html, HasSubstr(absl::StrCat("<svg id='", id, "'"))) << id;
  }
  // Self-contained: nothing is fetched.
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
  // Three pretraining segments and fine-tuning.
  EXPECT_THAT(html, HasSubstr("pretrain h3"));
  EXPECT_THAT(html, HasSubstr("fine-tune"));
  // One point per code in the model's sample: its training and validation
  // rows (as `strata inspect` reads them from the model file) are the CSV's
  // rows, sampled evenly at every ceil(rows / 2000)-th row.
  const int csv_rows = CountOf(testing::ReadAll("data/thyroid.csv"), "\n") - 1;
  const ShellResult inspect =
      testing::Shell(absl::StrCat(STRATA_CLI_PATH, " inspect --model ", dir, "/models/thyroid/1"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  std::smatch rows;
  ASSERT_TRUE(std::regex_search(
      inspect.output, rows, std::regex("training: +([0-9]+) rows \\(\\+([0-9]+) validation\\)")))
      << inspect.output;
  const int model_rows = std::stoi(rows[1]) + std::stoi(rows[2]);
  EXPECT_EQ(model_rows, csv_rows);
  const int stride = (model_rows + 1999) / 2000;
  const size_t pca_at = html.find("<svg id='code-chart'");
  ASSERT_NE(pca_at, std::string::npos);
  const std::string pca = html.substr(pca_at, html.find("</svg>", pca_at) - pca_at);
  EXPECT_EQ(CountOf(pca, "<circle"), (model_rows + stride - 1) / stride);
  // The t-SNE map of the same sample, coloured as the PCA view (no classes).
  EXPECT_EQ(CountOf(html, "<circle"), 2 * ((model_rows + stride - 1) / stride));
  EXPECT_THAT(html, HasSubstr("Coloured as the PCA view, by the anomaly threshold."));
  EXPECT_THAT(html, HasSubstr(absl::StrFormat("Codes of %d training rows",
                                              (model_rows + stride - 1) / stride)));
  EXPECT_THAT(html, HasSubstr("<title>f3: PSI"));
  EXPECT_LT(html.find("<title>f3: PSI"), html.find("<title>f0: PSI")) << "f3 drifted most";
  // One score throughout, the one `score` uses, named; its threshold in the
  // header, on the chart and in `score`'s summary alike.
  const size_t at = score.output.find("above the ensemble threshold ");
  ASSERT_NE(at, std::string::npos) << score.output.substr(score.output.size() - 300);
  const double threshold = std::stod(score.output.substr(at + 29));
  const std::string shown = absl::StrFormat("%.4g", threshold);
  EXPECT_THAT(html, HasSubstr(absl::StrCat("(the default score), threshold ", shown)));
  EXPECT_THAT(html, HasSubstr(absl::StrCat("ensemble threshold ", shown)));
  // Except the code chart, which colours the training sample by COMBINED
  // (the ensemble score needs every network) and says so.
  EXPECT_THAT(html, HasSubstr("above the combined threshold ("));
  EXPECT_THAT(html, Not(HasSubstr("MSE 0.0")));
  // The threshold's label stays inside the chart (900 px wide, 24 px margin).
  std::smatch label;
  ASSERT_TRUE(
      std::regex_search(html, label,
                        std::regex("<text x='([0-9.]+)' y='48' fill='#d62728' "
                                   "text-anchor='(start|end)'>(ensemble threshold[^<]*)<")));
  if (label[2] == "start") {
    EXPECT_LE(std::stod(label[1]) + 7.0 * label[3].length(), 876) << label[0];
  }
  // Each feature's name ends left of the axis and its value starts right of
  // its bar: never "f40.000".
  std::smatch pair;
  ASSERT_TRUE(std::regex_search(
      html, pair,
      std::regex(
          "<text x='([0-9.]+)' y='[0-9.]+' text-anchor='end' fill='#333'>f[0-9]</text>\n"
          "<text x='([0-9.]+)' y='[0-9.]+' text-anchor='start' fill='#333'>[0-9.]+</text>")));
  EXPECT_GE(std::stod(pair[2]) - std::stod(pair[1]), 10) << pair[0];

  // The screenshot.
  absl::StatusOr<testing::Image> image = Screenshot(html_path, 1900);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 1000);
  EXPECT_EQ(image->height, 1900);
  // Each chart's own colour, drawn: loss lines and code points (blue), the
  // validation line (orange), the histogram bars (light blue), the threshold,
  // the drifted feature's bar and anomalous codes (red).
  EXPECT_GT(image->Count(0x1f77b4), 2000) << "training loss and codes";
  EXPECT_GT(image->Count(0xff7f0e), 200) << "validation loss";
  EXPECT_GT(image->Count(0x9ecae1), 20000) << "error histogram";
  EXPECT_GT(image->Count(0xd62728), 5000) << "threshold, drifted bar, anomalies";
}

// A version published by a sweep on labelled rows: the report maps its
// codes with t-SNE, coloured by class, states the map's trustworthiness,
// and lists the sweep's trials; Chromium draws the classes' colours.
TEST(ReportTest, ASweepsVersionShowsTheTsneMapByClassAndTheSweepTable) {
  const std::string dir = testing::ScratchDir("report_sweep");
  std::system(("mkdir -p " + dir + "/data").c_str());
  const testing::Blobs blobs = testing::GaussianBlobs(800, 8, 4, 41, 0.4);
  const char* names[] = {"a", "b", "c", "d"};
  {
    std::ofstream out(dir + "/blobs.csv");
    out << "f0,f1,f2,f3,f4,f5,f6,f7,kind\n";
    for (int r = 0; r < 800; ++r) {
      for (int c = 0; c < 8; ++c) out << blobs.rows(r, c) << ",";
      out << (r % 5 == 0 ? "" : names[r % 4]) << "\n";
    }
    std::ofstream(dir + "/config.json")
        << R"({"encoder_widths": [6, 3], "finetune_epochs": 20, "supervised": {"epochs": 20},)"
        << R"( "anomaly": {"ensemble_size": 1}})";
    std::ofstream(dir + "/sweep.json")
        << R"({"parameters": [{"field": "encoder_widths", "values": ["[6, 2]", "[6, 3]"]},)"
        << R"( {"field": "weight_decay", "values": ["0", "1e38"]}]})";
  }
  testing::ServerProcess server(dir);
  ASSERT_GT(server.port(), 0);
  const ShellResult sweep = server.Strata(
      absl::StrCat("sweep --model blobs --data ", dir, "/blobs.csv --label_column kind --config ",
                   dir, "/config.json --sweep ", dir, "/sweep.json --quiet"));
  ASSERT_EQ(sweep.exit_code, 0) << sweep.output;
  const std::string html_path = dir + "/report.html";
  const ShellResult report = server.Strata("report --model blobs --out " + html_path);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string html = testing::ReadAll(html_path);

  // The t-SNE map: one dot per sampled code (all 800 rows), a legend entry
  // per class and one for the unlabelled rows, and its trustworthiness.
  const size_t map_at = html.find("<svg id='tsne-chart'");
  ASSERT_NE(map_at, std::string::npos);
  const std::string map = html.substr(map_at, html.find("</svg>", map_at) - map_at);
  EXPECT_EQ(CountOf(map, "<circle"), 800);
  EXPECT_THAT(map, HasSubstr("Codes of 800 training rows: t-SNE map"));
  for (const char* legend : {">a</text>", ">d</text>", ">unlabelled</text>"}) {
    EXPECT_THAT(map, HasSubstr(legend)) << legend;
  }
  EXPECT_EQ(CountOf(map, "fill='#c7c7c7'"), 160 + 1) << "unlabelled dots and their legend";
  EXPECT_EQ(CountOf(map, "fill='#2ca02c'"), 160 + 1) << "class c's dots and its legend";
  std::smatch trust;
  ASSERT_TRUE(std::regex_search(html, trust, std::regex("Trustworthiness ([0-9.]+) at k = 10")));
  EXPECT_GT(std::stod(trust[1]), 0.9);
  EXPECT_THAT(html, HasSubstr("perplexity 30"));

  // The sweep's table: four trials, two of which diverged, the best marked.
  const size_t table_at = html.find("<table id='sweep-table'>");
  ASSERT_NE(table_at, std::string::npos);
  const std::string table = html.substr(table_at, html.find("</table>", table_at) - table_at);
  EXPECT_EQ(CountOf(table, "<tr"), 5);
  EXPECT_EQ(CountOf(table, "<td>SUCCEEDED</td>"), 2);
  EXPECT_EQ(CountOf(table, "<td>FAILED</td>"), 2);
  EXPECT_EQ(CountOf(table, " (best)"), 1);
  EXPECT_THAT(table, HasSubstr("encoder_widths=[6, 3] weight_decay=0"));
  EXPECT_THAT(html, HasSubstr("4 trials scored on HEAD_ACCURACY (highest wins)"));
  EXPECT_THAT(html, HasSubstr("classifier</th><td>4 classes"));
  // The supervised phase's objective has a chart of its own, named for what
  // it is, and the reconstruction-loss chart leaves it out.
  EXPECT_THAT(html, HasSubstr("<svg id='supervised-chart'"));
  EXPECT_THAT(html, HasSubstr("supervised phase: cross-entropy + 1 x MSE reconstruction loss"));
  const size_t loss_at = html.find("<svg id='loss-chart'");
  ASSERT_NE(loss_at, std::string::npos);
  EXPECT_THAT(html.substr(loss_at, html.find("</svg>", loss_at) - loss_at),
              Not(HasSubstr(">supervised<")));

  absl::StatusOr<testing::Image> image = Screenshot(html_path, 3000);
  ASSERT_TRUE(image.ok()) << image.status();
  // Class c's green (no drift bars without live records) and the
  // unlabelled grey appear only on the map.
  EXPECT_GT(image->Count(0x2ca02c), 1000) << "class c";
  EXPECT_GT(image->Count(0xc7c7c7), 1000) << "unlabelled rows";
}

TEST(ReportTest, BadRequestsFailWithoutWritingAFile) {
  const std::string dir = testing::ScratchDir("report_bad");
  std::system(("mkdir -p " + dir + "/data").c_str());
  testing::ServerProcess server(dir);
  ASSERT_GT(server.port(), 0);
  const ShellResult unknown = server.Strata("report --model nope --out " + dir + "/r.html");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_THAT(unknown.output, HasSubstr("strata report: model 'nope'"));
  const ShellResult usage = server.Strata("report --model nope");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_THAT(usage.output, HasSubstr("--out"));
  EXPECT_EQ(testing::Shell("ls " + dir + "/r.html").exit_code, 2);
}

}  // namespace
}  // namespace strata

// The Python client's package and its newer calls against the real
// strata-server: pip install ./client/python into a fresh venv works without
// PYTHONPATH; sweeps publish their best trial; evaluate() computes what
// `strata eval` prints. The fixture: python_client_fixture.h.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/python_client_fixture.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::PythonClientTest;
using testing::ShellResult;

// A sweep through train(sweep=...): every trial trains, the best one (the
// lowest validation loss) is published, and job() gives the same table.
// Values are JSON text or Python values; a str value that is not JSON, a
// None or a sweep that is not JSON is a ValueError before any RPC.
TEST_F(PythonClientTest, SweepPublishesTheBestTrialAndJobShowsItsTable) {
  const ShellResult py = Script(R"py(
from strata.v1 import model_pb2, train_config_pb2
rng = np.random.default_rng(5)
rows = rng.normal(0, 1, (300, 4)) @ rng.normal(0, 1, (4, 6))
config = {'encoder_widths': [4, 2], 'finetune_epochs': 10, 'anomaly': {'ensemble_size': 1}}
job = c.train('swept', rows, config=config,
              sweep={'parameters': [{'field': 'encoder_widths', 'values': [[4, 1], '[4,3]']}]})
s = job.sweep
print('objective', train_config_pb2.SweepObjective.Name(s.objective))
print('trials', [(t.trial, model_pb2.SweepTrial.State.Name(t.state), t.settings[0].field,
                  t.settings[0].value) for t in s.trials])
best = s.trials[s.best_trial - 1]
print('best is the lowest validation loss:',
      best.trial == min(s.trials, key=lambda t: t.validation_loss).trial)
print('published version %d with the best widths:' % job.version,
      list(c.model('swept', version=job.version).architecture.encoder_widths) ==
      json.loads(best.settings[0].value))
print('job() gives the table:', c.job(job.id).sweep == s)
queued = c.train('swept', rows, config=config, wait=False, sweep=json.dumps(
    {'search': 'random', 'trials': 3, 'seed': 2, 'parameters': [
        {'field': 'optimizer.learning_rate', 'min': 1e-4, 'max': 1e-2, 'log_scale': True}]}))
done = c.wait(queued.id)
rates = [json.loads(t.settings[0].value) for t in done.sweep.trials]
print('random: %d trials, all in range: %s, version %d' % (
    len(rates), all(1e-4 <= r <= 1e-2 for r in rates), done.version))
jobs = len(c.jobs('swept'))
for sweep in ({'parameters': [{'field': 'hidden_activations', 'values': ['tanh']}]},
              {'parameters': None}, '{"parameters": ['):
    try: c.train('swept', rows, config=config, sweep=sweep); print('no error')
    except ValueError as e: print('ValueError:', e)
print('jobs after them:', len(c.jobs('swept')) - jobs)
try: c.train('swept', rows, config=config,
             sweep={'parameters': [{'field': 'widths', 'values': [[4, 1]]}]})
except StrataError as e: print('StrataError:', e)
)py");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  // No class labels: trials are scored on their validation loss.
  EXPECT_THAT(py.output, HasSubstr("objective VALIDATION_LOSS\n"));
  // A Python value goes as json.dumps writes it, JSON text as written.
  EXPECT_THAT(py.output, HasSubstr("trials [(1, 'SUCCEEDED', 'encoder_widths', '[4, 1]'), "
                                   "(2, 'SUCCEEDED', 'encoder_widths', '[4,3]')]\n"));
  EXPECT_THAT(py.output, HasSubstr("best is the lowest validation loss: True\n"));
  EXPECT_THAT(py.output, HasSubstr("published version 1 with the best widths: True\n"));
  EXPECT_THAT(py.output, HasSubstr("job() gives the table: True\n"));
  // Lower-case enum names, as the CLI takes them.
  EXPECT_THAT(py.output, HasSubstr("random: 3 trials, all in range: True, version 2\n"));
  EXPECT_THAT(py.output,
              HasSubstr("ValueError: sweep parameters[0] (hidden_activations): the value 'tanh' "
                        "is not JSON; a str is taken as JSON text (write an enum or a string as "
                        "'\"tanh\"'), any other value is sent as json.dumps writes it\n"
                        "ValueError: sweep field parameters: is None; leave the field out for "
                        "its default\n"
                        "ValueError: sweep: not JSON: "));
  EXPECT_THAT(py.output, HasSubstr("jobs after them: 0\n"));
  EXPECT_THAT(py.output,
              HasSubstr("StrataError: INVALID_ARGUMENT: spec.sweep.parameters[0] (widths): not "
                        "a TrainConfig field"));
}

// evaluate() sends the rows to AnomalyScore (and Predict) and computes the
// figures client-side: the lines `strata eval` prints for the same version
// and rows, digit for digit, for 0/1 labels and for a classifier head.
TEST_F(PythonClientTest, EvaluatePrintsWhatStrataEvalPrints) {
  ASSERT_NO_FATAL_FAILURE(TrainThyroid());
  const ShellResult py = Script(absl::StrCat("BLOBS = '", dir_, "/data/blobs.csv'\n", R"py(
table = list(csv.reader(open('data/thyroid.csv')))
header, rows = table[0], [[float(v) for v in r] for r in table[1:]]
e = c.evaluate('m', rows, [r[6] for r in rows], columns=header, drop_columns=['label'])
print('%s version %d: task %s, %d rows' % (e['model'], e['version'], e['task'], e['rows']))
print('reconstruction MSE per row: mean %.6g, p50 %.6g, p95 %.6g, max %.6g' % (
    e['mse']['mean'], e['mse']['p50'], e['mse']['p95'], e['mse']['max']))
print('anomaly score %s: %d above the threshold %.6g' % (e['metric'], e['flagged'],
                                                         e['threshold']))
print('RESULT auc=%.4f average_precision=%.4f precision=%.4f recall=%.4f mse_mean=%.6g' % (
    e['auc'], e['average_precision'], e['precision'], e['recall'], e['mse']['mean']))
# Three noisy blobs, a quarter of the rows without a label (None, NaN, NA).
rng = np.random.default_rng(3)
truth = np.arange(450) % 3
blobs = rng.normal(0, 2, (3, 5))[truth] + rng.normal(0, 1.5, (450, 5))
names = ['red', 'green', 'blue']
labels = ['NA' if i % 12 == 0 else (None if i % 8 else float('nan')) if i % 4 == 0
          else names[k] for i, k in enumerate(truth)]
columns = ['a', 'b', 'c', 'd', 'e']
c.train('blobs', blobs, feature_names=columns, class_labels=labels, config={
    'encoder_widths': [4, 3], 'finetune_epochs': 30, 'optimizer': {'learning_rate': 0.01},
    'supervised': {'epochs': 30}, 'anomaly': {'ensemble_size': 1}})
with open(BLOBS, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(columns + ['kind'])
    for row, label in zip(blobs.tolist(), labels):
        w.writerow(['%.9g' % v for v in row] + ['' if label is None or label != label else label])
blobs = np.array([[float(v) for v in r[:5]] for r in list(csv.reader(open(BLOBS)))[1:]])
# Columns by name, in another order.
h = c.evaluate('blobs', blobs[:, ::-1], labels, task='head', columns=columns[::-1])
print('RESULT head_accuracy=%.4f labelled_rows=%d unlabelled_rows=%d classes=%d mse_mean=%.6g' % (
    h['accuracy'], h['labelled_rows'], h['unlabelled_rows'], len(h['class_names']),
    h['mse']['mean']))
print('confusion adds up:', sum(map(sum, h['confusion'])) == h['labelled_rows'],
      sum(h['confusion'][k][k] for k in range(3)) == round(h['accuracy'] * h['labelled_rows']))
for call in (lambda: c.evaluate('blobs', blobs, labels),
             lambda: c.evaluate('blobs', blobs, [k for k in truth]),
             lambda: c.evaluate('blobs', blobs, ['purple'] + labels[1:], task='head'),
             lambda: c.evaluate('blobs', blobs, [0, 1] * 225, task='classes'),
             lambda: c.evaluate('m', [r[:6] for r in rows], [r[6] for r in rows], task='head')):
    try: call(); print('no error')
    except (ValueError, StrataError) as e: print('%s: %s' % (type(e).__name__, e))
)py"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_THAT(py.output, HasSubstr("m version 1: task anomaly, 3772 rows\n"));
  const ShellResult cli =
      server_->Strata("eval --model m --data data/thyroid.csv --label_column label");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  for (const char* start : {"reconstruction MSE per row: ", "anomaly score ", "RESULT "}) {
    const size_t at = cli.output.find(start);
    ASSERT_NE(at, std::string::npos) << cli.output;
    const std::string line = cli.output.substr(at, cli.output.find('\n', at) + 1 - at);
    EXPECT_THAT(py.output, HasSubstr(line)) << "CLI:\n" << cli.output;
  }
  const ShellResult head = server_->Strata(absl::StrCat(
      "eval --model blobs --data ", dir_, "/data/blobs.csv --label_column kind --task head"));
  ASSERT_EQ(head.exit_code, 0) << head.output;
  const size_t at = head.output.find("RESULT ");
  ASSERT_NE(at, std::string::npos) << head.output;
  EXPECT_THAT(py.output, HasSubstr(head.output.substr(at))) << "CLI:\n" << head.output;
  EXPECT_THAT(py.output, HasSubstr("unlabelled_rows=113 classes=3"));
  EXPECT_THAT(py.output, HasSubstr("confusion adds up: True True\n"));
  EXPECT_THAT(py.output,
              HasSubstr("ValueError: labels[0]: no label ('NA'); evaluating anomaly scores needs "
                        "one on every row (task='head' skips rows without one)\n"));
  EXPECT_THAT(py.output, HasSubstr("ValueError: task 'auto' needs 0/1 labels (1 = anomaly), and "
                                   "these hold 3 classes [0, 1, 2]"));
  EXPECT_THAT(py.output, HasSubstr("ValueError: labels[0]: 'purple' is not one of the model's "
                                   "classes ['blue', 'green', 'red']\n"));
  EXPECT_THAT(py.output, HasSubstr("ValueError: task must be auto, anomaly or head, not "
                                   "'classes'; the linear probe over class numbers is strata "
                                   "eval --task classes\n"));
  EXPECT_THAT(py.output, HasSubstr("StrataError: FAILED_PRECONDITION: task 'head' measures a "
                                   "classifier head, and m version 1 has none"));
}

// strata_evaluation's figures are core/scoring/evaluation.cc's: the values
// worked out by hand in evaluation_test.cc and eval_e2e_test.cc, ties and
// NaN scores included.
TEST_F(PythonClientTest, EvaluationFiguresAreTheValuesWorkedOutByHand) {
  const ShellResult py = Script(R"py(
from strata_evaluation import roc_auc, average_precision, classifier_metrics, head_labels
nan = float('nan')
hand = [1, 2, 2, 4, 5, 5, 9, 8], [0, 1, 0, 0, 1, 1, 0, 1]
print('auc', roc_auc(*hand), [roc_auc(s, y) for s, y in [
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), ([1] * 5, [0, 1, 0, 1, 0]), ([0.5, 0.5, 0.1], [1, 0, 0]),
    ([nan, 0.1, 0.2, nan], [1, 0, 0, 1]), ([nan, 0.1, nan], [1, 0, 0]), ([0.1, 0.2], [0, 0])]])
print('ap %.6f' % average_precision(*hand), [average_precision(s, y) for s, y in [
    ([1, 1, 1, 1], [1, 0, 0, 0]), ([0.9, nan, 0.1], [0, 1, 0]),
    ([nan, nan, 0.1, 0.2], [1, 0, 0, 0]), ([0.1, 0.2], [0, 0])]])
print('head', classifier_metrics(head_labels(['a', None, 'NA', ' b', 'b', 3.0], ['a', 'b', '3']),
                                 [0, 1, 1, 1, 2, 2], 3))
)py");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  // eval_e2e_test.cc: (1.5 + 3 + 3 + 3) / 16 and 9/14; evaluation_test.cc the rest.
  EXPECT_THAT(py.output, HasSubstr("auc 0.65625 [0.75, 0.5, 0.75, 1.0, 0.75, nan]\n"));
  EXPECT_THAT(py.output, HasSubstr("ap 0.642857 [0.25, 1.0, 0.5, nan]\n"));
  // Rows without a label (None, NA) are left out; 3.0 is the class "3".
  EXPECT_THAT(py.output, HasSubstr("head {'rows': 4, 'accuracy': 0.75, 'confusion': [[1, 0, 0], "
                                   "[0, 1, 1], [0, 0, 1]], 'precision': [1.0, 1.0, 0.5], "
                                   "'recall': [1.0, 0.5, 1.0]}\n"));
}

// pip install ./client/python into a fresh venv (offline: Debian's grpcio
// and protobuf through --system-site-packages; protoc and
// grpc_python_plugin generate the stubs) installs strata_client with its
// stubs: run outside the repository without PYTHONPATH, it trains, scores,
// sweeps and lists the jobs.
TEST_F(PythonClientTest, InstalledPackageWorksWithoutPythonPath) {
  const std::string venv = dir_ + "/venv";
  const ShellResult made =
      testing::Shell("/usr/bin/python3 -m venv --system-site-packages " + venv);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const ShellResult pip = testing::Shell(
      absl::StrCat("timeout -k 5 150 ", venv, "/bin/pip install --no-build-isolation --no-index ",
                   STRATA_SOURCE_DIR, "/client/python"));
  ASSERT_EQ(pip.exit_code, 0) << pip.output;
  EXPECT_THAT(pip.output, HasSubstr("Successfully installed strata-client-0.1.0"));
  ASSERT_EQ(std::system(("mkdir -p " + dir_ + "/elsewhere").c_str()), 0);
  const ShellResult py = testing::Shell(
      absl::StrCat("cd ", dir_, "/elsewhere && env -u PYTHONPATH timeout -k 5 150 ", venv,
                   "/bin/python -c \"$(cat <<'PYEOF'\n", "VENV, SRC, TARGET = '", venv, "', '",
                   STRATA_SOURCE_DIR, "', '", Target(), "'\n", R"py(
import csv, json, os, sys
import strata, strata_client
from strata.v1 import service_pb2
from strata_client import StrataClient
print('from the venv:', [os.path.relpath(m.__file__, VENV).split('site-packages/')[-1]
                         for m in (strata_client, strata, service_pb2)])
print('PYTHONPATH:', os.environ.get('PYTHONPATH'),
      [p for p in sys.path if p.rstrip('/').endswith(('client/python', 'build/python'))])
c = StrataClient(TARGET)
table = list(csv.reader(open(SRC + '/data/thyroid.csv')))
header, rows = table[0][:6], [[float(v) for v in r[:6]] for r in table[1:]]
config = json.load(open(SRC + '/data/configs/thyroid.json'))
job = c.train('m', rows, feature_names=header, config=config)
scored = c.score('m', rows[:10])
print('trained version %d; %d rows scored by version %d, threshold %s' % (
    job.version, len(scored.scores), scored.model.version, scored.threshold > 0))
swept = c.train('m', rows, config=dict(config, finetune_epochs=10),
                sweep={'parameters': [{'field': 'encoder_widths', 'values': [[8, 2], [8, 3]]}]})
best = swept.sweep.trials[swept.sweep.best_trial - 1]
print('sweep: version %d, %d trials, serves the best: %s' % (
    swept.version, len(swept.sweep.trials),
    list(c.model('m').architecture.encoder_widths) == json.loads(best.settings[0].value)))
print('jobs', [(j.id == swept.id, service_pb2.TrainJob.State.Name(j.state), len(j.sweep.trials))
               for j in c.jobs('m')])
)py",
                   "PYEOF\n)\""));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_THAT(py.output, HasSubstr("from the venv: ['strata_client.py', 'strata/__init__.py', "
                                   "'strata/v1/service_pb2.py']\n"));
  // Neither client/python nor the build's python/ directory is on the path.
  EXPECT_THAT(py.output, HasSubstr("PYTHONPATH: None []\n"));
  EXPECT_THAT(py.output,
              HasSubstr("trained version 1; 10 rows scored by version 1, threshold True\n"));
  EXPECT_THAT(py.output, HasSubstr("sweep: version 2, 2 trials, serves the best: True\n"));
  // Newest first: the sweep, then the training.
  EXPECT_THAT(py.output, HasSubstr("jobs [(True, 'SUCCEEDED', 2), (False, 'SUCCEEDED', 0)]\n"));
}

}  // namespace
}  // namespace strata

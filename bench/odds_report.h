// The ODDS bench's report (bench/odds_auc.cc): each set's figures, the
// per-method tables, and the panel and its two halves against the classical
// detectors, ending with the RESULT line.
//
//   std::vector<SetResult> results = ...;  // one per set, alphabetical
//   PrintTable("ROC-AUC", &Figures::auc, /*gaps=*/true, results, methods);
//   PrintSummary(results, methods, seeds);  // ... RESULT mean_auc=... met=...
//
// Half a of the panel is the sets at odd positions of `results`, half b the
// even ones. The classical ensemble (bench/odds_baselines.py's "Ensemble")
// is a baseline of its own, never the best single detector.
//
// Functions only; no state.
#ifndef STRATA_BENCH_ODDS_REPORT_H_
#define STRATA_BENCH_ODDS_REPORT_H_

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata::bench {

struct Figures {
  double auc = std::nan("");
  double ap = std::nan("");
};

// Per set: strata's and each detector's figures, each the mean over seeds.
struct SetResult {
  std::string name;
  int rows = 0, cols = 0;
  double anomaly_pct = 0, seconds = 0;
  Figures strata;
  std::map<std::string, Figures> baselines;
};

// The mean of `v`; NaN when it is empty.
double Mean(const std::vector<double>& v);

// One row per set, one column per method (with `gaps`, also strata's AUC
// minus the best single detector's on the set); then the means, a method
// marked * when it ran on fewer sets.
void PrintTable(const char* title, double Figures::*field, bool gaps,
                const std::vector<SetResult>& results, const std::vector<std::string>& methods);

// The panel and its halves against the best single detector and the
// classical ensemble, whether issue 33's bar is met, and the RESULT line.
void PrintSummary(const std::vector<SetResult>& results, const std::vector<std::string>& methods,
                  const std::vector<uint64_t>& seeds);

}  // namespace strata::bench

#endif  // STRATA_BENCH_ODDS_REPORT_H_

#include "bench/odds_report.h"

#include <cstdio>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace strata::bench {
namespace {

// bench/odds_baselines.py's name for the classical ensemble (IForest, kNN and
// MCD standardised by their training scores, averaged).
constexpr char kEnsembleBaseline[] = "Ensemble";

// The classical ensemble is a baseline of its own, not a single detector.
bool IsSingleDetector(const std::string& method) { return method != kEnsembleBaseline; }

// The best single detector's AUC on one set (NaN when none ran).
double BestSingleAuc(const SetResult& r) {
  double top = std::nan("");
  for (const auto& [m, fig] : r.baselines) {
    if (IsSingleDetector(m) && !std::isnan(fig.auc) && (std::isnan(top) || fig.auc > top)) {
      top = fig.auc;
    }
  }
  return top;
}

// The figures of a group of sets (the panel, or one half of it).
struct Group {
  Figures strata, best, ensemble;
  std::string best_name = "none";
  double oracle = std::nan(""), worst_gap = std::nan("");
  std::string worst_set;
};

// strata's means over `sets`; the best single detector and the ensemble
// among the methods that ran on every one of them; the oracle (the mean of
// each set's best single detector) and strata's worst gap to it.
Group Summarise(const std::vector<const SetResult*>& sets,
                const std::vector<std::string>& methods) {
  Group g;
  std::vector<double> auc, ap, oracle;
  for (const SetResult* r : sets) {
    auc.push_back(r->strata.auc);
    ap.push_back(r->strata.ap);
    const double top = BestSingleAuc(*r);
    if (!std::isnan(top)) oracle.push_back(top);
    const double gap = r->strata.auc - top;
    if (!std::isnan(gap) && (std::isnan(g.worst_gap) || gap < g.worst_gap)) {
      g.worst_gap = gap;
      g.worst_set = r->name;
    }
  }
  g.strata = {Mean(auc), Mean(ap)};
  g.oracle = oracle.size() == sets.size() ? Mean(oracle) : std::nan("");
  // Every method's means over the group, if it ran on every set of it.
  for (const auto& m : methods) {
    std::vector<double> m_auc, m_ap;
    for (const SetResult* r : sets) {
      const auto it = r->baselines.find(m);
      if (it == r->baselines.end() || std::isnan(it->second.auc)) break;
      m_auc.push_back(it->second.auc);
      m_ap.push_back(it->second.ap);
    }
    if (m_auc.size() != sets.size()) continue;
    const Figures f{Mean(m_auc), Mean(m_ap)};
    if (!IsSingleDetector(m)) {
      g.ensemble = f;
    } else if (g.best_name == "none" || f.auc > g.best.auc) {
      g.best_name = m;
      g.best = f;
    }
  }
  return g;
}

std::string FormatFigure(double v) {
  return std::isnan(v) ? std::string("n/a") : absl::StrFormat("%.4f", v);
}

}  // namespace

double Mean(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

void PrintTable(const char* title, double Figures::*field, bool gaps,
                const std::vector<SetResult>& results, const std::vector<std::string>& methods) {
  std::printf("\n%s\n%-18s %8s", title, "set", "strata");
  for (const auto& m : methods) std::printf(" %8s", m.c_str());
  if (gaps) std::printf(" %8s", "gap");
  std::printf("\n");
  std::vector<double> strata_col, gap_col;
  std::map<std::string, std::vector<double>> cols;
  for (const SetResult& r : results) {
    std::printf("%-18s %8.4f", r.name.c_str(), r.strata.*field);
    strata_col.push_back(r.strata.*field);
    for (const auto& m : methods) {
      const auto it = r.baselines.find(m);
      const double v = it == r.baselines.end() ? std::nan("") : it->second.*field;
      if (std::isnan(v)) {
        std::printf(" %8s", "n/a");
      } else {
        std::printf(" %8.4f", v);
        cols[m].push_back(v);
      }
    }
    if (gaps) {
      gap_col.push_back(r.strata.auc - BestSingleAuc(r));
      std::printf(" %+8.4f", gap_col.back());
    }
    std::printf("\n");
  }
  std::printf("%-18s %8.4f", "mean", Mean(strata_col));
  for (const auto& m : methods) {
    std::printf(" %7.4f%s", Mean(cols[m]), cols[m].size() == results.size() ? " " : "*");
  }
  std::printf("\n");
}

void PrintSummary(const std::vector<SetResult>& results, const std::vector<std::string>& methods,
                  const std::vector<uint64_t>& seeds) {
  // Half a: the sets at odd positions (1st, 3rd, ...) of the alphabetical
  // order; half b: the even ones.
  std::vector<const SetResult*> all, half[2];
  for (size_t i = 0; i < results.size(); ++i) {
    all.push_back(&results[i]);
    half[i % 2].push_back(&results[i]);
  }
  const Group panel = Summarise(all, methods), a = Summarise(half[0], methods),
              b = Summarise(half[1], methods);
  const auto fmt = FormatFigure;
  const auto names_of = [](const std::vector<const SetResult*>& sets) {
    std::vector<std::string> out;
    for (const SetResult* r : sets) out.push_back(r->name);
    return absl::StrJoin(out, ", ");
  };
  std::printf("\nhalf a: %s\nhalf b: %s\n", names_of(half[0]).c_str(), names_of(half[1]).c_str());
  std::printf("\n%-8s %8s %8s %-9s %9s %9s\n", "", "strata", "best", "(single)", "ensemble",
              "oracle");
  for (const auto& [label, g] :
       {std::pair<const char*, const Group&>{"panel", panel}, {"half a", a}, {"half b", b}}) {
    std::printf("%-8s %8s %8s %-9s %9s %9s\n", label, fmt(g.strata.auc).c_str(),
                fmt(g.best.auc).c_str(), absl::StrCat("(", g.best_name, ")").c_str(),
                fmt(g.ensemble.auc).c_str(), fmt(g.oracle).c_str());
  }
  // The bar (bench/README.md, issue 33): on the panel and on each
  // half, at least the best single detector's mean + 0.01 and the classical
  // ensemble's; on every set, at most 0.10 below the best single detector.
  const auto beats = [](const Group& g) {
    return g.strata.auc >= g.best.auc + 0.01 && g.strata.auc >= g.ensemble.auc;
  };
  const bool met =
      !methods.empty() && beats(panel) && beats(a) && beats(b) && panel.worst_gap >= -0.10;
  std::printf("worst gap %s (%s); goal %s\n", fmt(panel.worst_gap).c_str(), panel.worst_set.c_str(),
              met ? "met" : "NOT met");
  absl::PrintF(
      "RESULT mean_auc=%s mean_ap=%s best_baseline=%s best_baseline_auc=%s best_baseline_ap=%s "
      "ensemble_baseline_auc=%s ensemble_baseline_ap=%s mean_auc_half_a=%s mean_auc_half_b=%s "
      "best_baseline_auc_half_a=%s best_baseline_auc_half_b=%s ensemble_baseline_auc_half_a=%s "
      "ensemble_baseline_auc_half_b=%s worst_gap=%s worst_gap_set=%s oracle_auc=%s met=%s "
      "sets=%d seeds=%s\n",
      fmt(panel.strata.auc), fmt(panel.strata.ap), panel.best_name, fmt(panel.best.auc),
      fmt(panel.best.ap), fmt(panel.ensemble.auc), fmt(panel.ensemble.ap), fmt(a.strata.auc),
      fmt(b.strata.auc), fmt(a.best.auc), fmt(b.best.auc), fmt(a.ensemble.auc), fmt(b.ensemble.auc),
      fmt(panel.worst_gap), panel.worst_set.empty() ? "none" : panel.worst_set, fmt(panel.oracle),
      met ? "true" : "false", static_cast<int>(results.size()), absl::StrJoin(seeds, ","));
}

}  // namespace strata::bench

// An isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008)
// over scaled rows: the ensemble score's second detector (ensemble_score.h).
//
// Each tree is grown on a sample of the training rows. A node splits on a
// feature drawn among those not constant on its rows, at a value drawn
// between their least and greatest. A row that few splits separate from the
// rest is anomalous: its score is 2^(-h / c(psi)), with h its path length
// averaged over the trees and c(psi) the average path length of a tree
// grown on psi rows. The score depends on where a row sits relative to the
// bulk of the data, not on a distance or a Gaussian, so it fails on other
// data than the autoencoder's terms do (bench/README.md, issue 33).
//
//   v1::IsolationForest f = *FitIsolationForest(scaled_training_rows, seed);
//   Eigen::VectorXf s = IsolationScores(f, scaler.Transform(batch));
#ifndef STRATA_CORE_SCORING_ISOLATION_FOREST_H_
#define STRATA_CORE_SCORING_ISOLATION_FOREST_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/nn/matrix.h"
#include "strata/v1/model.pb.h"

namespace strata {

// Trees, and the most training rows each is grown on: the paper's (and
// scikit-learn's) defaults, which its authors found enough at every data
// size they tried. A forest is then at most 100 x 511 nodes (12 bytes
// each, 0.6 MB) whatever the number of training rows.
inline constexpr int kForestTrees = 100;
inline constexpr int kForestSampleSize = 256;

// c(n): the average path length of an unsuccessful search in a binary
// search tree of n keys, 2 H(n - 1) - 2 (n - 1) / n with H the harmonic
// number; c(1) = 0, c(2) = 1. The expected depth below a leaf that n
// training rows reached. REQUIRES: n >= 1.
double AveragePathLength(int64_t n);

// Grows kForestTrees trees, tree t on min(rows, kForestSampleSize) rows
// drawn without replacement, until a node holds one row, rows all equal, or
// depth ceil(log2(psi)) (where most rows are no longer anomalies). Draws
// come from a std::mt19937_64 seeded with `seed`, by integer arithmetic
// only: the same rows and seed grow the same forest on every machine.
// Cancelled once *cancel (may be null) is true. REQUIRES: scaled has a row
// and finite values.
absl::StatusOr<v1::IsolationForest> FitIsolationForest(const Matrix& scaled, uint64_t seed,
                                                       const std::atomic<bool>* cancel = nullptr);

// Per row: 2^(-h / c(psi)), h its path length (the splits down to its leaf
// plus c(rows that reached the leaf)) averaged over the trees in order. In
// (0, 1]: about 0.5 or less for ordinary rows, towards 1 for rows isolated
// at once. Each row alone: its score does not depend on the others in the
// batch. REQUIRES: f passing ValidateIsolationForest(f, scaled.cols()).
Eigen::VectorXf IsolationScores(const v1::IsolationForest& f, const Matrix& scaled);

// What IsolationScores relies on: sample_size in [1, kForestSampleSize];
// ascending tree starts from 0; node arrays of one length; every tree a
// whole binary tree in preorder over its range, no deeper than 64, with
// split features in [0, input_dim), finite thresholds, and leaf counts in
// [1, sample_size]. InvalidArgument naming the tree and node.
absl::Status ValidateIsolationForest(const v1::IsolationForest& f, int input_dim);

}  // namespace strata

#endif  // STRATA_CORE_SCORING_ISOLATION_FOREST_H_

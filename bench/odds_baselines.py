#!/usr/bin/python3
"""Classical detectors for bench/odds_auc.sh, on one split.

  odds_baselines.py TRAIN.csv TEST.csv

TRAIN.csv holds the training rows' features, TEST.csv the test rows'
features then their 0/1 label (no headers). Every detector is fitted on the
standard-scaled training rows (the training part's mean and deviation; a
constant column is left centred) and scores the test rows, higher = more
anomalous. Prints one line per detector: `name auc ap` (`name nan nan` when it
does not run on this set).

  IForest  IsolationForest, scikit-learn's defaults (100 trees, 256 samples), random_state=0
  PCA      PyOD's PCA score, which ADBench reports: the sum over all principal components of
           the row's distance to the component, each over its share of the variance (a
           reconstruction error that weights the low-variance directions most; the
           reconstruction error from the top components alone scored 0.63-0.76 here)
  kNN      distance to the 5th nearest training row
  LOF      LocalOutlierFactor(n_neighbors=20, novelty=True)
  MCD      Mahalanobis distance under MinCovDet(random_state=0) (constant columns left out)
  OCSVM    OneClassSVM, scikit-learn's defaults (rbf, gamma='scale', nu=0.5); sets of at
           most 20,000 rows
  ECOD     Li et al. 2022: per-feature empirical-CDF tail probabilities of the training
           rows, -log summed over features, for the left, right and skew-chosen tails; the
           largest of the three
"""
import sys

import numpy as np
from sklearn.covariance import MinCovDet
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM

MAX_OCSVM_ROWS = 20000


def ecod(train, test):
    n = train.shape[0]
    sorted_cols = np.sort(train, axis=0)
    left = np.empty_like(test)
    right = np.empty_like(test)
    for j in range(train.shape[1]):
        # Share of training values <= x (left tail) and >= x (right tail),
        # never 0: one pseudo-count, as for an unseen value.
        left[:, j] = (np.searchsorted(sorted_cols[:, j], test[:, j], side="right") + 1) / (n + 1)
        right[:, j] = (n - np.searchsorted(sorted_cols[:, j], test[:, j], side="left") + 1) / (n + 1)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    skew = np.where(std > 0, ((train - mean) ** 3).mean(axis=0) / np.maximum(std, 1e-12) ** 3, 0)
    auto = np.where(skew < 0, left, right)
    o_left = -np.log(left).sum(axis=1)
    o_right = -np.log(right).sum(axis=1)
    o_auto = -np.log(auto).sum(axis=1)
    return np.maximum(np.maximum(o_left, o_right), o_auto)


def main():
    train = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2)
    test_all = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2)
    test, labels = test_all[:, :-1], test_all[:, -1].astype(int)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    varying = std > 0
    scale = np.where(varying, std, 1.0)
    train = (train - mean) / scale
    test = (test - mean) / scale

    def pca():
        p = PCA(svd_solver="full").fit(train)
        keep = p.explained_variance_ratio_ > 0
        distance = np.sqrt(((test[:, None, :] - p.components_[None, keep, :]) ** 2).sum(axis=2))
        return (distance / p.explained_variance_ratio_[keep]).sum(axis=1)

    def knn():
        return NearestNeighbors(n_neighbors=5).fit(train).kneighbors(test)[0][:, -1]

    def mcd():
        fit = MinCovDet(random_state=0).fit(train[:, varying])
        return fit.mahalanobis(test[:, varying])

    def ocsvm():
        if train.shape[0] + test.shape[0] > MAX_OCSVM_ROWS:
            return None
        return -OneClassSVM().fit(train).score_samples(test)

    detectors = [
        ("IForest", lambda: -IsolationForest(random_state=0).fit(train).score_samples(test)),
        ("PCA", pca),
        ("kNN", knn),
        ("LOF", lambda: -LocalOutlierFactor(n_neighbors=20, novelty=True).fit(train).score_samples(test)),
        ("MCD", mcd),
        ("OCSVM", ocsvm),
        ("ECOD", lambda: ecod(train, test)),
    ]
    for name, fit in detectors:
        try:
            scores = fit()
        except Exception as e:  # a detector that cannot fit this set (singular, say)
            print(f"{name}: {e}", file=sys.stderr)
            scores = None
        if scores is None or not np.all(np.isfinite(scores)):
            print(f"{name} nan nan")
        else:
            print(f"{name} {roc_auc_score(labels, scores):.6f} {average_precision_score(labels, scores):.6f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

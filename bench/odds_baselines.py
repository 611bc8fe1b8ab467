#!/usr/bin/python3
"""Classical detectors for bench/odds_auc.sh, on one split.

  odds_baselines.py TRAIN.csv TEST.csv [--scores_out=FILE.npz]

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
  MCD      Mahalanobis distance under MinCovDet(random_state=0) (constant columns left out;
           where the varying columns are at least half the training rows, on their n/5
           leading principal components: see mcd())
  OCSVM    OneClassSVM, scikit-learn's defaults (rbf, gamma='scale', nu=0.5); sets of at
           most 20,000 rows
  ECOD     Li et al. 2022: per-feature empirical-CDF tail probabilities of the training
           rows, -log summed over features, for the left, right and skew-chosen tails; the
           largest of the three
  Ensemble the classical ensemble: IForest, kNN and log(MCD), each standardised by the mean
           and deviation of its own scores of the training rows, then averaged (a
           training row's kNN distance leaves the row itself out). Not a candidate for
           the best single detector.

Results are cached under $STRATA_BENCH_CACHE (default ~/.cache/strata-bench),
keyed by the SHA-256 of both files and of this script: the detectors do not
change between runs of strata, and on the 19-set panel they take most of the
bench's time. --scores_out also writes every detector's training and test
scores (for experiments; never cached).
"""
import hashlib
import os
import sys

import numpy as np

MAX_OCSVM_ROWS = 20000
ENSEMBLE = ("IForest", "kNN", "MCD")


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


def standardised(train_scores, test_scores):
    """Test scores in units of the training scores' deviation from their mean. Over the
    finite training scores: MinCovDet gives NaN for a few of campaign's training rows."""
    finite = train_scores[np.isfinite(train_scores)]
    sd = finite.std()
    return (test_scores - finite.mean()) / (sd if sd > 0 else 1.0)


def detectors(train, test, varying):
    """(name, fit) pairs; fit() gives (training scores or None, test scores), or None
    when the detector does not run on this set. Training scores are computed where the
    ensemble or an experiment needs them."""
    # Imported here: a cached answer needs no scikit-learn.
    from sklearn.covariance import MinCovDet
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
    from sklearn.svm import OneClassSVM

    def iforest():
        f = IsolationForest(random_state=0).fit(train)
        return -f.score_samples(train), -f.score_samples(test)

    def pca():
        p = PCA(svd_solver="full").fit(train)
        keep = p.explained_variance_ratio_ > 0
        comps = p.components_[keep]

        def score(rows):
            # |x - c|^2 = |x|^2 - 2 x.c + |c|^2 with |c| = 1: PyOD's distance of the row to
            # each component, without a rows x components x columns array.
            sq = (rows ** 2).sum(axis=1)[:, None] - 2 * rows @ comps.T + 1.0
            return (np.sqrt(np.maximum(sq, 0)) / p.explained_variance_ratio_[keep]).sum(axis=1)
        return score(train), score(test)

    def knn():
        nn = NearestNeighbors(n_neighbors=6).fit(train)
        # A training row's own distance (0) is left out: its 5th other neighbour.
        return nn.kneighbors(train)[0][:, -1], nn.kneighbors(test, n_neighbors=5)[0][:, -1]

    def lof():
        return None, -LocalOutlierFactor(n_neighbors=20, novelty=True).fit(train).score_samples(test)

    def mcd():
        tr, te = train[:, varying], test[:, varying]
        n, p = tr.shape
        if 2 * p >= n:
            # MCD's half-samples (h = (n + p + 1) / 2 rows) cannot span p dimensions: every
            # subset's covariance is singular, and scikit-learn ran for over 20 minutes on
            # InternetAds (1,529 varying columns, 1,377 rows) without an answer. There it
            # runs on the leading principal components, five rows to each (Rousseeuw and
            # Van Driessen's rule of thumb for MCD).
            pca = PCA(n_components=max(1, n // 5), svd_solver="full", random_state=0).fit(tr)
            tr, te = pca.transform(tr), pca.transform(te)
        fit = MinCovDet(random_state=0).fit(tr)
        return fit.mahalanobis(tr), fit.mahalanobis(te)

    def ocsvm():
        if train.shape[0] + test.shape[0] > MAX_OCSVM_ROWS:
            return None
        return None, -OneClassSVM().fit(train).score_samples(test)

    return [("IForest", iforest), ("PCA", pca), ("kNN", knn), ("LOF", lof), ("MCD", mcd),
            ("OCSVM", ocsvm), ("ECOD", lambda: (ecod(train, train), ecod(train, test)))]


def run(train, test, labels, scores_out):
    from sklearn.metrics import average_precision_score, roc_auc_score
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    varying = std > 0
    scale = np.where(varying, std, 1.0)
    train = (train - mean) / scale
    test = (test - mean) / scale
    lines, saved, members = [], {}, []
    for name, fit in detectors(train, test, varying):
        try:
            scores = fit()
        except Exception as e:  # a detector that cannot fit this set (singular, say)
            print(f"{name}: {e}", file=sys.stderr)
            scores = None
        if scores is not None and not np.all(np.isfinite(scores[1])):
            scores = None
        if scores is None:
            lines.append(f"{name} nan nan")
            continue
        train_scores, test_scores = scores
        lines.append(f"{name} {roc_auc_score(labels, test_scores):.6f} "
                     f"{average_precision_score(labels, test_scores):.6f}")
        saved[f"{name}_test"] = test_scores
        if train_scores is not None:
            saved[f"{name}_train"] = train_scores
        if name in ENSEMBLE:
            if name == "MCD":
                # Its log, as the ensemble's definition says. Squared distances of rows
                # repeated in the robust fit's support can be 0 (campaign's one-hot rows):
                # floored at a millionth of the training median, not at -inf.
                floor = 1e-6 * max(np.nanmedian(train_scores), np.finfo(float).tiny)
                train_scores = np.log(np.maximum(train_scores, floor))
                test_scores = np.log(np.maximum(test_scores, floor))
            members.append(standardised(train_scores, test_scores))
    if len(members) == len(ENSEMBLE):
        z = np.mean(members, axis=0)
        lines.append(f"Ensemble {roc_auc_score(labels, z):.6f} {average_precision_score(labels, z):.6f}")
        saved["Ensemble_test"] = z
    else:
        lines.append("Ensemble nan nan")
    if scores_out:
        np.savez(scores_out, labels=labels, **saved)
    return lines


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--scores_out=")]
    scores_out = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--scores_out=")), "")
    if len(args) != 2:
        sys.exit(__doc__)
    digest = hashlib.sha256()
    for path in (args[0], args[1], __file__):
        with open(path, "rb") as f:
            digest.update(f.read())
    cache_dir = os.environ.get("STRATA_BENCH_CACHE", os.path.expanduser("~/.cache/strata-bench"))
    cache = os.path.join(cache_dir, "odds_baselines", digest.hexdigest())
    if not scores_out and os.path.exists(cache):
        with open(cache) as f:
            sys.stdout.write(f.read())
        return
    train = np.loadtxt(args[0], delimiter=",", ndmin=2)
    test_all = np.loadtxt(args[1], delimiter=",", ndmin=2)
    lines = run(train, test_all[:, :-1], test_all[:, -1].astype(int), scores_out)
    text = "".join(line + "\n" for line in lines)
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache + ".tmp", "w") as f:
        f.write(text)
    os.replace(cache + ".tmp", cache)


if __name__ == "__main__":
    main()

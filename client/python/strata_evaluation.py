"""The figures of StrataClient.evaluate(), computed as `strata eval` computes
them (client/cli/eval_command.cc, core/scoring/evaluation.cc), from what
AnomalyScore and Predict answered; plain Python, no RPC.

    >>> roc_auc([0.1, 0.9, 0.4], [0, 1, 0])
    1.0
    >>> anomaly_labels(["0", 1, 1.0, False])
    [0, 1, 1, 0]

roc_auc and average_precision rank a NaN score above every other score
(tied with NaN), as the server's percentiles read it.
"""

from __future__ import annotations

import math
import numbers
from typing import Dict, List, Sequence

__all__ = ["roc_auc", "average_precision", "classifier_metrics", "anomaly_labels",
           "head_labels", "is_missing_label", "mse_summary", "precision_recall_at",
           "UNLABELLED"]

# A row without a label (core/data/class_labels.h's kUnlabelled).
UNLABELLED = -1

# As core/data/class_labels.cc's IsMissingLabel, in any case.
_MISSING_MARKERS = {"", "na", "nan", "n/a", "null", "none", "<na>", "#n/a"}


def _score_key(score: float):
    """A sort key with NaN above every number, tied with NaN."""
    return (1, 0.0) if math.isnan(score) else (0, score)


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: the probability that a random positive
    (label 1) scores above a random negative, ties counting one half (Mann-
    Whitney U with average ranks). NaN unless both classes occur."""
    order = sorted(range(len(scores)), key=lambda i: _score_key(scores[i]))
    positive_rank_sum, positives, i = 0.0, 0, 0
    while i < len(order):
        j = i
        while j < len(order) and _score_key(scores[order[j]]) == _score_key(scores[order[i]]):
            j += 1
        rank = (i + (j - 1)) / 2 + 1
        for k in range(i, j):
            if labels[order[k]] == 1:
                positive_rank_sum += rank
                positives += 1
        i = j
    negatives = len(scores) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def average_precision(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Sum over distinct score thresholds, highest first, of the precision
    there times the recall gained there (as scikit-learn computes it). NaN
    without positives."""
    positives = sum(1 for y in labels if y == 1)
    if positives == 0:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: _score_key(scores[i]), reverse=True)
    ap, true_positives, seen, last_recall, i = 0.0, 0, 0, 0.0, 0
    while i < len(order):
        j = i
        # All rows tied at this threshold come in together.
        while j < len(order) and _score_key(scores[order[j]]) == _score_key(scores[order[i]]):
            true_positives += labels[order[j]] == 1
            seen += 1
            j += 1
        recall = true_positives / positives
        ap += (recall - last_recall) * (true_positives / seen)
        last_recall = recall
        i = j
    return ap


def classifier_metrics(truth: Sequence[int], predicted: Sequence[int],
                       classes: int) -> Dict[str, object]:
    """A dict of a classifier's figures against the true classes, leaving
    out rows whose truth is UNLABELLED: "rows" (compared), "accuracy" (NaN
    without rows), "confusion" (classes lists of classes counts: row i, the
    rows truly of class i, column j, those predicted as j), "precision" and
    "recall" (one float per class; NaN where no row was predicted as, or is
    truly of, the class)."""
    confusion = [[0] * classes for _ in range(classes)]
    for t, p in zip(truth, predicted):
        if t >= 0:
            confusion[t][p] += 1
    rows = sum(map(sum, confusion))
    right = sum(confusion[c][c] for c in range(classes))
    predicted_as = [sum(confusion[i][c] for i in range(classes)) for c in range(classes)]
    actual = [sum(confusion[c]) for c in range(classes)]
    return {
        "rows": rows,
        "accuracy": right / rows if rows else math.nan,
        "confusion": confusion,
        "precision": [confusion[c][c] / predicted_as[c] if predicted_as[c] else math.nan
                      for c in range(classes)],
        "recall": [confusion[c][c] / actual[c] if actual[c] else math.nan
                   for c in range(classes)],
    }


def is_missing_label(label: object) -> bool:
    """Whether a label says "no label": None, a float NaN, or text that is
    empty or NA, NaN, N/A, null, None, <NA> or #N/A (any case, surrounding
    spaces ignored), as the server and the CLI read it."""
    if label is None:
        return True
    if isinstance(label, numbers.Real) and not isinstance(label, bool):
        return label != label
    return str(label).strip().lower() in _MISSING_MARKERS


def _label_text(label: object) -> str:
    """A label as text: an integral number as its integer (3.0 -> "3"), as
    the client sends class labels."""
    if isinstance(label, numbers.Real) and not isinstance(label, bool) and \
            float(label).is_integer():
        return str(int(label))
    return str(label).strip()


def anomaly_labels(labels: Sequence[object]) -> List[int]:
    """Labels as class numbers 0, 1, 2, ... (strata eval's --task anomaly and
    classes): each an integral number from 0 to 1e6, as a number, a bool or
    text. A one-line ValueError naming the row for a missing label or any
    other value."""
    out = []
    for r, label in enumerate(labels):
        if is_missing_label(label):
            raise ValueError("labels[%d]: no label (%r); evaluating anomaly scores needs one on "
                             "every row (task='head' skips rows without one)" % (r, label))
        try:
            value = float(label)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or not value.is_integer() or not 0 <= value <= 1e6:
            raise ValueError("labels[%d]: %.40r is not a class number (0, 1, 2, ...); class "
                             "names are for task='head', which measures a classifier head"
                             % (r, label))
        out.append(int(value))
    return out


def head_labels(labels: Sequence[object], class_names: Sequence[str]) -> List[int]:
    """Each row's class among `class_names` (a head's classes, in its output
    order), or UNLABELLED for a missing label that is not itself a class
    name. A one-line ValueError naming the row and the classes for any other
    label."""
    index = {name: k for k, name in enumerate(class_names)}
    out = []
    for r, label in enumerate(labels):
        text = "" if label is None else _label_text(label)
        if text in index:
            out.append(index[text])
        elif is_missing_label(label):
            out.append(UNLABELLED)
        else:
            raise ValueError("labels[%d]: %.40r is not one of the model's classes %s"
                             % (r, label, list(class_names)))
    return out


def mse_summary(mse: Sequence[float]) -> Dict[str, float]:
    """{"mean", "p50", "p95", "max"} of per-row reconstruction MSEs; a
    percentile p is the sorted values' element int(p * (n - 1)), as the CLI
    prints it."""
    s = sorted(mse)
    at = lambda p: s[int(p * (len(s) - 1))]
    return {"mean": sum(s) / len(s), "p50": at(0.5), "p95": at(0.95), "max": s[-1]}


def precision_recall_at(flagged: Sequence[bool], labels: Sequence[int]) -> Dict[str, float]:
    """{"precision", "recall"} of the rows flagged as anomalies against 0/1
    labels; precision 0.0 when no row is flagged, as the CLI prints it."""
    tp = sum(1 for f, y in zip(flagged, labels) if f and y == 1)
    flagged_count = sum(1 for f in flagged if f)
    positives = sum(1 for y in labels if y == 1)
    return {"precision": tp / flagged_count if flagged_count else 0.0,
            "recall": tp / positives if positives else math.nan}

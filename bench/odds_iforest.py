#!/usr/bin/python3
"""IsolationForest baseline for bench/odds_auc.sh: fits on TRAIN.csv (features
only, no header), scores TEST.csv (features, then the 0/1 label), prints the
ROC-AUC. scikit-learn's defaults (100 trees, 256 samples), random_state=0, as
ADBench runs it."""
import sys

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

train = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2)
test = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2)
forest = IsolationForest(random_state=0).fit(train)
print("%.6f" % roc_auc_score(test[:, -1], -forest.score_samples(test[:, :-1])))

#!/usr/bin/env bash
# The main job: builds strata, then trains a stacked autoencoder on the bundled
# ODDS thyroid set (label column left out) and prints its training curve and
# reconstruction error. The model lands in $DEMO_DIR/thyroid/1 (default build/demo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/build.sh >/dev/null
DEMO_DIR=${DEMO_DIR:-build/demo}
rm -rf "$DEMO_DIR/thyroid/1"
build/bin/strata train --local \
  --data data/thyroid.csv --drop_columns label \
  --config data/configs/thyroid.json \
  --out "$DEMO_DIR/thyroid/1"

#!/usr/bin/python3
"""Trains a model from a CSV on a strata-server, then encodes and scores the rows.

    PYTHONPATH=build/python /usr/bin/python3 client/python/example.py \
        --server 127.0.0.1:50051 --data data/thyroid.csv --label_column label \
        --config data/configs/thyroid.json --model thyroid

With --label_column (0/1, 1 = anomaly) it also says how many labelled
anomalies the calibrated threshold catches. Exit 0 on success, 1 when a call
fails (the reason on stderr).
"""

import argparse
import csv
import json
import sys

from strata_client import StrataClient, StrataError


def read_csv(path, label_column):
    """(feature names, rows of floats, labels or None) from a CSV with a header."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        label_at = header.index(label_column) if label_column else -1
        names = [h for i, h in enumerate(header) if i != label_at]
        rows, labels = [], []
        for line_no, record in enumerate(reader, start=2):
            try:
                values = [float(v) for v in record]
            except ValueError as e:
                raise SystemExit("%s:%d: %s" % (path, line_no, e))
            if label_at >= 0:
                labels.append(int(values.pop(label_at)))
            rows.append(values)
    return names, rows, (labels if label_at >= 0 else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--data", required=True, help="CSV with a header row")
    parser.add_argument("--label_column", default="", help="a 0/1 column to leave out")
    parser.add_argument("--config", help="TrainConfig as JSON (default: all defaults)")
    parser.add_argument("--model", default="example")
    parser.add_argument("--token", help="bearer token, if the server requires one")
    args = parser.parse_args()

    names, rows, labels = read_csv(args.data, args.label_column)
    config = json.load(open(args.config)) if args.config else None
    with StrataClient(args.server, token=args.token).wait_until_ready() as client:
        try:
            printed = set()

            def progress(job):
                # Updates come on every change, not once an epoch: the job's
                # end repeats its last epoch. Print each tenth epoch once.
                p = job.progress
                if p.epochs_done and p.epochs_done % 10 == 0 and p.epochs_done not in printed:
                    printed.add(p.epochs_done)
                    print("  epoch %d/%d  loss %.5f" % (p.epochs_done, p.epochs_planned,
                                                       p.train_loss), flush=True)

            job = client.train(args.model, rows, feature_names=names, config=config,
                               on_progress=progress)
            # The version's summary, as `strata inspect` shows it: every
            # network's epochs and the whole training's seconds.
            print("trained %s version %d in %d epochs (%.1f s)" % (
                args.model, job.version, job.summary.epochs, job.summary.seconds))

            codes = client.encode(args.model, rows, version=job.version)
            h1 = client.encode(args.model, rows[:3], version=job.version, layer=1)
            print("encoded %d rows: code width %d, h1 width %d; first code %s" % (
                len(codes), len(codes[0]), len(h1[0]), ["%.3f" % v for v in codes[0]]))

            # Columns by name: the CSV's order need not be the model's.
            batches = [rows[i:i + 256] for i in range(0, len(rows), 256)]
            scores = [s for response in client.stream_scores(args.model, batches, columns=names)
                      for s in response.scores]
            threshold = client.score(args.model, rows[:1]).threshold
            flagged = [i for i, s in enumerate(scores) if s.is_anomaly]
            print("scored %d rows on a stream: %d above the threshold %.6g" % (
                len(scores), len(flagged), threshold))
            if labels is not None:
                caught = sum(1 for i in flagged if labels[i] == 1)
                print("labelled anomalies caught: %d of %d" % (caught, sum(labels)))

            top = client.drift(args.model).features[0]
            print("most drifted feature: %s (PSI %.4f)" % (top.name, top.psi))

            # Bad input comes back as a StrataError naming what is wrong.
            try:
                client.encode(args.model, [rows[0][:-1]])
            except StrataError as e:
                print("a row one value short: %s" % e)
        except StrataError as e:
            print("example.py: %s" % e, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

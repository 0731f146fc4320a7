"""Are the consensus strategy's accuracy estimates and 95% intervals right?

Usage (from the repository root)::

    python benchmarks/accuracy_estimates.py                                   # every collection
    python benchmarks/accuracy_estimates.py --collections emocontext --realizations 50 --labels 0,20,50

The ranking the backend writes into Label Studio shows each candidate's
estimated accuracy on the batch with a 95% interval
(``Consensus.accuracy_estimate``).  For every realisation of the harness's
pool setting (same seeds as ``run_all.py``), the strategy labels the items it
chooses, and at each of ``--labels`` the estimates of every model are
compared with its true accuracy on the pool.

Writes ``--out`` (default ``benchmarks/results/accuracy_estimates.json``) and
prints, per collection and label count: mean error (estimate - truth), mean
absolute error, the share of intervals that contain the truth, and the mean
interval width, over all models and realisations; and per collection the
share of items every model predicts alike ("unanimous") and how many of
those are wrong (the error the strategy cannot learn without labelling them).
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from benchmarks import calibration, run_all
from modelpicker_core.cli.bench import bounded_int, comma_list
from modelpicker_core.loaders import load_collection


def realisation(task) -> np.ndarray:
    """``(n_marks, 4, n_models)``: estimate, low, high, truth at every mark."""
    seed, index, size, marks, params = task
    preds, labels, _, strategy = calibration.pool_realisation("consensus", seed, index, size, params)
    truth = (preds == labels[:, None]).mean(axis=0)
    strategy.set_pool(preds)
    unlabelled = np.ones(size, dtype=bool)
    out = np.empty((len(marks), 4, preds.shape[1]))
    done = 0
    for m, mark in enumerate(marks):
        while done < mark:
            i = strategy.select(preds, None, candidates=unlabelled)
            strategy.observe(preds[i], labels[i], item=i)
            unlabelled[i] = False
            done += 1
        acc, low, high, _ = strategy.accuracy_estimate()
        out[m] = acc, low, high, truth
    return out


def summarise(rows: np.ndarray, marks: list[int]) -> list[dict]:
    """``rows`` ``(R, n_marks, 4, n_models)`` -> one summary per mark."""
    out = []
    for m, mark in enumerate(marks):
        est, low, high, truth = (rows[:, m, k] for k in range(4))
        err = est - truth
        out.append({"labels": mark, "mean_error": round(float(err.mean()), 4),
                    "mean_abs_error": round(float(np.abs(err).mean()), 4),
                    "max_abs_error": round(float(np.abs(err).max()), 4),
                    "interval_contains_truth": round(float(((low <= truth) & (truth <= high)).mean()), 4),
                    "mean_interval_width": round(float((high - low).mean()), 4)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default="emocontext,imbalanced,near-ties,many-models,many-classes")
    ap.add_argument("--realizations", type=lambda t: bounded_int(t, 1, "--realizations"), default=50)
    ap.add_argument("--labels", type=lambda t: sorted({bounded_int(p, 0, "label count") for p in comma_list(t)}),
                    default="0,20,50,100", help="label counts at which the estimates are read")
    ap.add_argument("--params", type=run_all.json_object, default={}, help="JSON object of consensus parameters")
    run_all.add_realisation_arguments(ap)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "accuracy_estimates.json"))
    args = ap.parse_args(argv)
    marks, params = args.labels, args.params
    wanted = [c.strip() for c in args.collections.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in run_all.MAX_LABELS]
    if unknown:
        ap.error(f"unknown collection(s) {', '.join(unknown)}; choose from {', '.join(run_all.MAX_LABELS)}")
    dirs = run_all.collection_dirs(args)
    results = {}
    for name in wanted:
        col = load_collection(dirs[name])
        size = min(args.pool_size, col.n_items)
        tasks = [(args.seed, r, size, marks, params) for r in range(args.realizations)]
        start = time.perf_counter()
        rows = np.array(calibration.map_realisations(realisation, tasks, dirs[name], args.workers))
        unanimous = np.all(col.predictions == col.predictions[:, :1], axis=1)
        results[name] = {"realizations": args.realizations, "pool_size": size, "seed": args.seed,
                         "seconds": round(time.perf_counter() - start, 1),
                         "unanimous_items": round(float(unanimous.mean()), 4),
                         "unanimous_items_wrong": round(float((col.predictions[unanimous, 0]
                                                               != col.labels[unanimous]).mean()), 4)
                         if unanimous.any() else None,
                         "marks": summarise(rows, marks)}
        print(f"{name:>13}: {100 * results[name]['unanimous_items']:.1f}% of the collection's items are unanimous, "
              f"{100 * (results[name]['unanimous_items_wrong'] or 0):.2f}% of those are wrong", flush=True)
        for row in results[name]["marks"]:
            print(f"{name:>13} labels {row['labels']:>4}: error {row['mean_error']:+.4f}  |error| "
                  f"{row['mean_abs_error']:.4f} (max {row['max_abs_error']:.4f})  interval holds truth "
                  f"{row['interval_contains_truth']:.3f}  width {row['mean_interval_width']:.4f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"params": params, "collections": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

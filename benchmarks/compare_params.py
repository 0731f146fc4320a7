"""Paired comparison of consensus parameter settings on the same realisations.

Usage (from the repository root)::

    python benchmarks/compare_params.py --collection many-models --seed 1 --realizations 100 --max-labels 200 \\
        --from-label 50 '{"n_evaluated": 32}' '{"n_evaluated": 128}' '{"n_evaluated": 256}'

Every setting runs the harness's pool realisations (``calibration.realisation``:
the same items, seeds and pick rule as ``run_all.py``).  Because the
realisations are shared, the difference of two settings is measured per
realisation: the output gives, per setting, the mean identification (pick is
a true best) over labels ``--from-label``..``--max-labels``, its labels to
0.9, and the paired difference to the first setting with its standard error.
Differences within two standard errors are noise.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import multiprocessing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from benchmarks import calibration, run_all
from modelpicker_core import harness
from modelpicker_core.cli.bench import bounded_int
from modelpicker_core.loaders import load_collection


def hits_of(data: Path, params: dict, args) -> np.ndarray:
    """``(realisations, max_labels)`` 1 where the pick after that label is a true best."""
    size = min(args.pool_size, load_collection(data).n_items)
    tasks = [("consensus", args.seed, r, size, args.max_labels, params) for r in range(args.realizations)]
    if args.workers > 1:
        with multiprocessing.get_context().Pool(args.workers, initializer=calibration._init,
                                                initargs=(str(data),)) as pool:
            rows = pool.map(calibration.realisation, tasks, chunksize=1)
    else:
        calibration._init(str(data))
        rows = [calibration.realisation(task) for task in tasks]
    return np.array([row[0] for row in rows], dtype=float)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("settings", nargs="+", type=run_all.json_object,
                    help="JSON objects of consensus parameters; the first is the reference")
    ap.add_argument("--collection", default="emocontext")
    ap.add_argument("--realizations", type=lambda t: bounded_int(t, 2, "--realizations"), default=100)
    ap.add_argument("--max-labels", type=lambda t: bounded_int(t, 1, "--max-labels"), default=100)
    ap.add_argument("--from-label", type=lambda t: bounded_int(t, 1, "--from-label"), default=1)
    run_all.add_realisation_arguments(ap)
    ap.add_argument("--out", default=None, help="write the summary as JSON here")
    args = ap.parse_args(argv)
    if args.collection not in run_all.MAX_LABELS:
        ap.error(f"unknown collection {args.collection!r}; choose from {', '.join(run_all.MAX_LABELS)}")
    if args.from_label > args.max_labels:
        ap.error(f"--from-label ({args.from_label}) is above --max-labels ({args.max_labels})")
    settings = args.settings
    data = run_all.collection_dirs(args)[args.collection]
    budgets = list(range(1, args.max_labels + 1))
    window = slice(args.from_label - 1, args.max_labels)
    rows, reference = [], None
    for params in settings:
        hits = hits_of(data, params, args)
        per_realisation = hits[:, window].mean(axis=1)
        row = {"params": params, "mean_identification": round(float(per_realisation.mean()), 4),
               "labels_to_0.9": harness.labels_to_target(budgets, hits.mean(axis=0))}
        if reference is None:
            reference = per_realisation
        else:
            diff = per_realisation - reference
            row["paired_difference"] = round(float(diff.mean()), 4)
            row["standard_error"] = round(float(diff.std(ddof=1) / np.sqrt(diff.size)), 4)
        rows.append(row)
        extra = (f"  vs first {row['paired_difference']:+.4f} +- {row['standard_error']:.4f}"
                 if "paired_difference" in row else "")
        print(f"{json.dumps(params)}: mean identification over labels {args.from_label}-{args.max_labels} "
              f"{row['mean_identification']:.4f}, labels to 0.9 {row['labels_to_0.9']}{extra}", flush=True)
    if args.out:
        summary = {"collection": args.collection, "seed": args.seed, "realizations": args.realizations,
                   "labels": [args.from_label, args.max_labels], "settings": rows}
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

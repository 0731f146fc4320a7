"""Certified strategy: fixed vs learned trust in the consensus prior, against random labelling.

Usage (from the repository root)::

    .venv/bin/python benchmarks/prior_trust.py --seeds 101,202 --realizations 100 --budgets 5,10,20,50,80 \\
        --out benchmarks/results/prior_trust.json
    .venv/bin/python benchmarks/prior_trust.py --table-only --out benchmarks/results/prior_trust.json

Runs already in ``--out`` (same collection, seed and variant) are kept, not rerun, whatever their
settings: use another ``--out`` for other realisation counts, budgets or pool sizes.

Every variant runs the harness's pool realisations (the same items and
strategy seeds per realisation as ``bench --setting pool`` and
``calibration.py``: :func:`modelpicker_core.harness.realisation_seed` with
``EVALUATION``), so the variants are compared on the same pools.  Per
collection, seed, variant and budget it prints the identification (the pick
after that many labels is a true best) with its standard error over the
realisations, and writes everything, plus the per-label identification curve,
to ``--out``.  Collections: EmoContext, every synthetic kind and every shifted
collection (built into ``.cache`` when missing, as ``run_all.py`` does).
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
from modelpicker_core import harness
from modelpicker_core.loaders import load_collection

VARIANTS = {"fixed": ("certified", {"prior_trust": "fixed"}),
            "learned": ("certified", {"prior_trust": "learned"}),
            "random": ("random", {})}


def realisation(task) -> np.ndarray:
    """``(n_labels,)`` 1 where the pick after that label is a true best."""
    name, params, seed, index, size, n_labels = task
    preds, labels, probs, strategy = calibration.pool_realisation(name, seed, index, size, params)
    _, best = harness.true_best(preds, labels)
    picks, _ = harness.run_pool(strategy, preds, labels, probs, n_labels)
    return best[picks].astype(np.int8)


def hits_of(data: Path, variant: str, seed: int, args, n_labels: int) -> np.ndarray:
    name, params = VARIANTS[variant]
    size = min(args.pool_size, load_collection(data).n_items)
    tasks = [(name, params, seed, r, size, n_labels) for r in range(args.realizations)]
    return np.array(calibration.map_realisations(realisation, tasks, data, args.workers), dtype=float)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="101,202", help="comma-separated root seeds")
    ap.add_argument("--realizations", type=int, default=100)
    ap.add_argument("--budgets", default="5,10,20,50,80")
    ap.add_argument("--collections", default=None, help="comma-separated (default: all)")
    ap.add_argument("--variants", default="fixed,learned,random")
    ap.add_argument("--emocontext-labels", type=int, default=150,
                    help="labels per EmoContext run of the certified variants (for labels to 0.9)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--table-only", action="store_true", help="print the summary table of --out and exit")
    run_all.add_realisation_arguments(ap)
    args = ap.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    if args.table_only:
        print(table(json.loads(Path(args.out).read_text())))
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    dirs = run_all.collection_dirs(args, None if args.collections is None else args.collections.split(","))
    names = list(dirs) if args.collections is None else args.collections.split(",")
    out = {"seeds": seeds, "realizations": args.realizations, "pool_size": args.pool_size, "budgets": budgets,
           "variants": {k: VARIANTS[k] for k in args.variants.split(",")}, "results": {}}
    if args.out and Path(args.out).is_file():
        out["results"] = json.loads(Path(args.out).read_text()).get("results", {})
    for coll in names:
        for seed in seeds:
            for variant in args.variants.split(","):
                key = f"{coll}|{seed}|{variant}"
                if key in out["results"]:
                    continue
                n_labels = max(budgets)
                if coll == "emocontext" and variant != "random":
                    n_labels = max(n_labels, args.emocontext_labels)
                start = time.perf_counter()
                hits = hits_of(dirs[coll], variant, seed, args, n_labels)
                curve = hits.mean(axis=0)
                se = hits.std(axis=0, ddof=1) / np.sqrt(hits.shape[0])
                res = {"identification": {b: round(float(curve[b - 1]), 4) for b in budgets},
                       "standard_error": {b: round(float(se[b - 1]), 4) for b in budgets},
                       "labels_to_0.9": harness.labels_to_target(list(range(1, n_labels + 1)), curve),
                       "curve": [round(float(c), 4) for c in curve],
                       "seconds": round(time.perf_counter() - start, 1)}
                out["results"][key] = res
                print(f"{coll:26s} seed {seed:4d} {variant:8s} "
                      + "  ".join(f"{b}:{res['identification'][b]:.2f}±{res['standard_error'][b]:.2f}" for b in budgets)
                      + f"  to0.9={res['labels_to_0.9']}  ({res['seconds']}s)", flush=True)
                if args.out:
                    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))
    return 0


def table(out: dict) -> str:
    """Markdown: per collection and budget, each variant's identification pooled over the seeds run
    (mean ± SE, every seed with the same realisation count) and its worst seed; EmoContext's labels to 0.9."""
    results, budgets = out["results"], out["budgets"]
    variants = list(out["variants"])
    colls = list(dict.fromkeys(k.split("|")[0] for k in results))
    lines = ["| collection | seeds | labels | " + " | ".join(f"{v} (worst seed)" for v in variants) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in variants) + " |"]
    for coll in colls:
        seeds = sorted({int(k.split("|")[1]) for k in results if k.startswith(coll + "|")
                        and all(f"{coll}|{k.split('|')[1]}|{v}" in results for v in variants)})
        if not seeds:
            continue
        for b in budgets:
            cells = []
            for v in variants:
                runs = [results[f"{coll}|{s}|{v}"] for s in seeds]
                ids = [r["identification"][str(b)] if str(b) in r["identification"] else r["identification"][b]
                       for r in runs]
                ses = [r["standard_error"][str(b)] if str(b) in r["standard_error"] else r["standard_error"][b]
                       for r in runs]
                se = float(np.sqrt(np.sum(np.square(ses)))) / len(ses)
                cells.append(f"{np.mean(ids):.2f} ± {se:.2f} ({min(ids):.2f})")
            lines.append(f"| {coll} | {','.join(map(str, seeds))} | {b} | " + " | ".join(cells) + " |")
        if coll == "emocontext":
            cells = [", ".join(str(results[f"{coll}|{s}|{v}"]["labels_to_0.9"]) for s in seeds) for v in variants]
            lines.append(f"| {coll} | {','.join(map(str, seeds))} | labels to 0.9 | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

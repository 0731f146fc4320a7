"""Is the reported P(best) calibrated?  Reliability table from harness pool runs.

Usage (from the repository root)::

    python benchmarks/calibration.py --collections emocontext              # 200 realisations, seed 0
    python benchmarks/calibration.py --collections emocontext,imbalanced,near-ties,many-classes,many-models

Every realisation is the harness's pool realisation, run by
:func:`modelpicker_core.harness.run_pool` itself with the harness's seeds
(``realisation_seed(seed, EVALUATION, r)``, ``draw_items``,
``_strategy_seed``), so the picks are exactly those ``run_all.py`` /
``python -m modelpicker_core bench --setting pool`` produce.  The strategy is
wrapped so that every time the harness reads the pick (after every label) the
probability the strategy reports for that pick (``p_top``: the pick is *a*
true best, ties counting) is recorded with whether the pick is a true best of
the pool.

Outputs in ``--out`` (default ``benchmarks/results``):

* ``calibration_<collection>.json``: the reliability table over all decisions
  (every label), the table over the *stopping* decisions (the first label at
  which P(best) >= 0.95 in each realisation: what the stopping rule would
  have done) and the summary at P(best) >= 0.95;
* ``raw/<collection>__consensus.json``: the identification result in the
  harness's format (the same runs), which ``run_all.py`` reuses.
"""
from __future__ import annotations

import os

# One BLAS thread per process: the matrices are small and the runs use worker
# processes, so multi-threaded BLAS only oversubscribes the cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from benchmarks import run_all
from modelpicker_core import harness, registry
from modelpicker_core.loaders import load_collection

BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0 + 1e-9)


class Recording:
    """Proxy around a strategy that records ``p_top[pick]`` whenever the pick is read."""

    def __init__(self, strategy):
        self._strategy = strategy
        self.reported: list[float] = []

    def __getattr__(self, name):
        return getattr(self._strategy, name)

    def best(self) -> int:
        pick = self._strategy.best()
        p = self._strategy.p_top() if hasattr(self._strategy, "p_top") else self._strategy.p_best()
        self.reported.append(float(p[pick]))
        return pick


_COL: dict = {}


def _init(path: str) -> None:
    _COL["c"] = load_collection(path)


def pool_realisation(name: str, seed: int, index: int, size: int, params: dict):
    """Realisation ``index`` of the harness's pool setting on the collection :func:`_init` loaded: the ``size``
    items ``run_all.py`` / ``bench --setting pool`` draw (their predictions, labels and probabilities, None
    without) and strategy ``name`` with ``params``, seeded as the harness seeds it."""
    col = _COL["c"]
    seq = harness.realisation_seed(seed, harness.EVALUATION, index)
    items = harness.draw_items(seq, col.n_items, size)
    probs = None if col.probabilities is None else col.probabilities[items]
    strategy = registry.make(name, col.n_models, col.n_classes, random_state=harness._strategy_seed(seq), **params)
    return col.predictions[items], col.labels[items], probs, strategy


def map_realisations(function, tasks: list, data: str | Path, workers: int) -> list:
    """``function`` of every task, with the collection at ``data`` loaded (:func:`_init`): in a pool of
    ``workers`` processes, or in this process when ``workers`` is 1."""
    if workers > 1:
        with multiprocessing.get_context().Pool(workers, initializer=_init, initargs=(str(data),)) as pool:
            return pool.map(function, tasks, chunksize=1)
    _init(str(data))
    return [function(t) for t in tasks]


def realisation(task):
    name, seed, index, size, n_labels, params = task
    preds, labels, probs, strategy = pool_realisation(name, seed, index, size, params)
    accuracy, best = harness.true_best(preds, labels)
    recorder = Recording(strategy)
    picks, _ = harness.run_pool(recorder, preds, labels, probs, n_labels)
    return best[picks], accuracy.max() - accuracy[picks], np.array(recorder.reported)


def reliability(p: np.ndarray, hit: np.ndarray) -> list[dict]:
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        mask = (p >= lo) & (p < hi)
        if mask.any():
            rows.append({"bin": f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}", "decisions": int(mask.sum()),
                         "mean_reported": round(float(p[mask].mean()), 4),
                         "observed": round(float(hit[mask].mean()), 4)})
    return rows


def table_text(rows: list[dict]) -> str:
    lines = ["| reported P(best) | decisions | mean reported | pick is a true best |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['bin']} | {r['decisions']} | {r['mean_reported']:.3f} | {r['observed']:.3f} |" for r in rows]
    return "\n".join(lines)


def run(name: str, data: Path, args) -> dict:
    n_labels = args.max_labels or run_all.MAX_LABELS[name]
    col = load_collection(data)
    size = min(args.pool_size, col.n_items)
    tasks = [("consensus", args.seed, r, size, n_labels, args.params) for r in range(args.realizations)]
    start = time.perf_counter()
    rows = map_realisations(realisation, tasks, data, args.workers)
    seconds = time.perf_counter() - start
    hits = np.array([r[0] for r in rows], dtype=float)            # (R, n_labels)
    regrets = np.array([r[1] for r in rows])
    reported = np.array([r[2] for r in rows])
    p, h = reported.ravel(), hits.ravel()
    first = [int(np.argmax(r >= args.confidence)) if (r >= args.confidence).any() else -1 for r in reported]
    stop_p = np.array([reported[i, f] for i, f in enumerate(first) if f >= 0])
    stop_hit = np.array([hits[i, f] for i, f in enumerate(first) if f >= 0])
    high = p >= args.confidence
    stopping_rules = []
    for threshold in (args.confidence, 0.97, 0.99):
        for patience in (1, 2, 3, 5):
            stopped, right, used = 0, 0, []
            for rep_p, rep_hit in zip(reported, hits):
                streak = 0
                for step, value in enumerate(rep_p):
                    streak = streak + 1 if value >= threshold else 0
                    if streak >= patience:
                        stopped += 1
                        right += int(rep_hit[step])
                        used.append(step + 1)
                        break
            stopping_rules.append({"threshold": threshold, "patience": patience, "stopped": stopped,
                                   "pick_is_true_best": round(right / stopped, 4) if stopped else None,
                                   "mean_labels": round(float(np.mean(used)), 2) if used else None})
    budgets = list(range(1, n_labels + 1))
    identification = hits.mean(axis=0)
    summary = {
        "collection": name, "realizations": args.realizations, "seed": args.seed, "pool_size": size,
        "labels": n_labels, "confidence": args.confidence, "seconds": round(seconds, 1),
        "all_decisions": reliability(p, h),
        "at_or_above_confidence": {"decisions": int(high.sum()),
                                   "realisations": int((reported >= args.confidence).any(axis=1).sum()),
                                   "mean_reported": round(float(p[high].mean()), 4) if high.any() else None,
                                   "pick_is_true_best": round(float(h[high].mean()), 4) if high.any() else None},
        "stopping_decisions": {"realisations_stopped": int(stop_p.size),
                               "mean_labels_at_stop": (round(float(np.mean([f + 1 for f in first if f >= 0])), 2)
                                                       if stop_p.size else None),
                               "mean_reported": round(float(stop_p.mean()), 4) if stop_p.size else None,
                               "pick_is_true_best": round(float(stop_hit.mean()), 4) if stop_p.size else None},
        "stopping_rules": stopping_rules,
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(Path(args.out) / f"calibration_{name}.npz", reported=reported.astype(np.float32),
                        hit=hits.astype(bool))
    result = {
        "setting": "pool", "data": str(data), "realizations": args.realizations, "seed": args.seed, "pool_size": size,
        "n_items": col.n_items, "n_models": col.n_models, "n_classes": col.n_classes,
        "strategies": {"consensus": {
            "budgets": budgets, "identification": [round(float(v), 6) for v in identification],
            "regret": [round(float(v), 6) for v in regrets.mean(axis=0)], "labels": [float(b) for b in budgets],
            "labels_to_0.9": harness.labels_to_target(budgets, identification), "seconds": round(seconds, 3),
            "protocol": "pool: pick after each label (harness.run_pool, via benchmarks/calibration.py)"}},
        "key": {"realizations": args.realizations, "seed": args.seed, "pool_size": args.pool_size,
                "budgets": n_labels},
        "wall_seconds": round(seconds, 1),
    }
    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "raw" / f"{name}__consensus.json").write_text(json.dumps(result) + "\n")
    (out / f"calibration_{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default="emocontext")
    ap.add_argument("--realizations", type=int, default=200)
    ap.add_argument("--max-labels", type=int, default=None, help="labels per realisation (default: run_all's)")
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--params", type=run_all.json_object, default={}, help="JSON object of consensus parameters")
    run_all.add_realisation_arguments(ap)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    dirs = run_all.collection_dirs(args)
    for name in [c.strip() for c in args.collections.split(",") if c.strip()]:
        if name not in dirs:
            ap.error(f"unknown collection {name!r}; choose from {', '.join(dirs)}")
        s = run(name, dirs[name], args)
        print(f"\n{name}: {args.realizations} realisations, seed {args.seed}, {s['labels']} labels each "
              f"({s['seconds']} s)")
        print(table_text(s["all_decisions"]))
        print("at P(best) >= {:.2f}: {}".format(args.confidence, s["at_or_above_confidence"]))
        print("stopping decisions: {}".format(s["stopping_decisions"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

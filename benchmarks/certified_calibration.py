"""Identification, certified stops and P(best) calibration of pool strategies in one pass.

Usage (from the repository root)::

    python benchmarks/certified_calibration.py --data /work/shared/data/emocontext --strategies certified,random
    python benchmarks/certified_calibration.py --data DIR1,DIR2 --realizations 40 \\
        --params '{"certified": {"guided": 0.6}}'

Each realisation is the harness's pool realisation (same seeds:
``realisation_seed(seed, EVALUATION, r)``, ``draw_items``, ``_strategy_seed``),
run with :func:`modelpicker_core.harness.run_pool` itself, so identification
and stops equal ``python -m modelpicker_core bench --setting pool --stop``.
The strategy is wrapped so that every time the harness reads the pick, the
pick's ``p_top`` is recorded with whether the pick is a true best.

Reported per collection and strategy: identification at each budget with its
standard error, labels to 0.9, stop median / p90 / wrong per epsilon, and the
calibration at ``p_top >= 0.95`` (decisions, share that were a true best).
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

from benchmarks import calibration
from modelpicker_core import harness
from modelpicker_core.loaders import load_collection
from modelpicker_core.stopping import make_rule

LEVEL = 0.95


class Recording:
    """Proxy that records ``(p_top[pick], pick)`` whenever the harness reads the pick."""

    def __init__(self, strategy):
        self._s = strategy
        self.record: list[tuple[float, int]] = []

    def __getattr__(self, name):
        return getattr(self._s, name)

    def best(self) -> int:
        pick = self._s.best()
        p = self._s.p_top() if hasattr(self._s, "p_top") else self._s.p_best()
        self.record.append((float(p[pick]), int(pick)))
        return pick


def _one(task):
    name, seed, r, size, budgets, params, epsilons, horizon = task
    preds, labels, probs, strategy = calibration.pool_realisation(name, seed, r, size, params)
    accuracy, best = harness.true_best(preds, labels)
    rec = Recording(strategy)
    # the certified stop at each epsilon, then the P(best) rule (P(best) >= 0.95 held for 3 labels), a belief
    rules = [make_rule("certified", epsilon=e, delta=0.05) for e in epsilons] + [make_rule("belief")]
    t0 = time.process_time()
    picks, stops = harness.run_pool(rec, preds, labels, probs, max(budgets), rules, horizon)
    cpu = time.process_time() - t0
    p_pick = np.array([p for p, _ in rec.record[:max(budgets)]])
    hit_all = best[picks].astype(float)
    stop_rec = [None if d is None else (d.labels, float(accuracy.max() - accuracy[d.model])) for d in stops]
    return hit_all, p_pick, stop_rec, cpu


def evaluate(path: str, name: str, args, params: dict) -> dict:
    col = load_collection(path)
    size = min(args.pool_size, col.n_items)
    budgets = list(range(1, args.max_labels + 1))
    tasks = [(name, args.seed, r, size, budgets, params, args.epsilon, args.horizon) for r in range(args.realizations)]
    t0 = time.perf_counter()
    rows = calibration.map_realisations(_one, tasks, path, args.workers)
    hits = np.array([r[0] for r in rows])                        # (R, L)
    p_pick = np.array([r[1] for r in rows])
    ident = hits.mean(axis=0)
    se = np.sqrt(ident * (1 - ident) / len(rows))
    sure = p_pick >= LEVEL
    out = {
        "data": path, "strategy": name, "params": params, "realizations": len(rows), "seed": args.seed,
        "pool_size": size, "identification": ident.round(4).tolist(), "se": se.round(4).tolist(),
        "labels_to_0.9": harness.labels_to_target(budgets, ident),
        "calibration": {"decisions": int(sure.sum()), "right": int((hits * sure).sum()),
                        "share": None if not sure.any() else round(float(hits[sure].mean()), 4),
                        "runs_with_wrong_sure": int(np.any(sure & (hits == 0), axis=1).sum()),
                        "reliability": calibration.reliability(p_pick.ravel(), hits.ravel())},
        "stops": {}, "seconds": round(time.perf_counter() - t0, 1),
        "cpu_s_per_run": round(float(np.mean([r[3] for r in rows])), 2),
    }
    for k, (key, e) in enumerate([(f"{e:g}", e) for e in args.epsilon] + [("belief", 0.0)]):
        recs = [r[2][k] for r in rows]
        done = [x for x in recs if x is not None]
        used = np.array([x[0] for x in done], dtype=float)
        out["stops"][key] = {
            "stopped": len(done), "runs": len(recs), "wrong": sum(x[1] > e + 1e-12 for x in done),
            "median": None if not done else float(np.median(used)),
            "p90": None if not done else float(np.percentile(used, 90))}
    return out


def line(res: dict, show: tuple[int, ...]) -> str:
    ident = res["identification"]
    cells = " ".join(f"{ident[b - 1]:.2f}" for b in show if b <= len(ident))
    stops = " ".join(f"e{e}:{s['median']}/{s['p90']}({s['stopped']}/{s['runs']},w{s['wrong']})"
                     for e, s in res["stops"].items())
    cal = res["calibration"]
    return (f"{Path(res['data']).name:>14} {res['strategy']:>15} id[{cells}] l90={res['labels_to_0.9']} "
            f"cal={cal['share']}({cal['decisions']}) {stops} {res['cpu_s_per_run']}s/run")


def reliability_tables(paths: list[str]) -> str:
    """Markdown: per collection and strategy (the JSON lines of ``--json`` runs), the summary at
    ``p_top >= 0.95`` and the reliability table of every decision."""
    out = ["| collection | seed | strategy | realisations | decisions at >= 0.95 | a true best "
           "| runs with a wrong one |",
           "| --- " * 7 + "|"]
    tables = []
    for path in paths:
        for text in Path(path).read_text().splitlines():
            res = json.loads(text)
            cal, name = res["calibration"], f"{Path(res['data']).name} ({res['strategy']}, seed {res['seed']})"
            share = "-" if cal["share"] is None else f"{100 * cal['share']:.1f}%"
            out.append(f"| {Path(res['data']).name} | {res['seed']} | {res['strategy']} | {res['realizations']} "
                       f"| {cal['decisions']} "
                       f"| {share} | {cal['runs_with_wrong_sure']} |")
            if "reliability" in cal:
                tables.append(f"{name}, {res['realizations']} realisations, labels 1..{len(res['identification'])}:"
                              f"\n\n{calibration.table_text(cal['reliability'])}")
    return "\n".join(out) + "\n\n" + stops_table(paths) + "\n\n" + "\n\n".join(tables)


def stops_table(paths: list[str]) -> str:
    """Markdown: per collection, seed and stopping rule, the runs that stopped, the wrong stops and the labels."""
    out = ["| collection | seed | rule | stopped / runs | wrong | labels median / p90 |", "| --- " * 6 + "|"]
    for path in paths:
        for text in Path(path).read_text().splitlines():
            res = json.loads(text)
            for key, st in res["stops"].items():
                rule = "P(best) >= 0.95 for 3 labels" if key == "belief" else f"certified, epsilon {key}"
                labels = "-" if st["median"] is None else f"{st['median']:g} / {st['p90']:g}"
                out.append(f"| {Path(res['data']).name} | {res['seed']} | {rule} | {st['stopped']} / {st['runs']} | "
                           f"{st['wrong']} | {labels} |")
    return "\n".join(out)


def as_cells(paths: list[str], tag: str, budgets: tuple[int, ...] = (5, 20, 50, 80, 100, 150, 200)) -> list[dict]:
    """The runs of ``paths`` as the identification cells of ``benchmarks/identification.py`` (``--curves`` merges them
    with other strategies' cells): identification at ``budgets`` and the labels from which it stays >= 0.9 on
    that grid."""
    cells = []
    for path in paths:
        for text in Path(path).read_text().splitlines():
            res = json.loads(text)
            ident = {str(b): res["identification"][b - 1] for b in budgets if b <= len(res["identification"])}
            cells.append({"tag": tag, "coll": Path(res["data"]).name, "strategy": res["strategy"],
                          "params": res["params"], "seed": res["seed"], "n": res["realizations"], "ident": ident,
                          "l09": harness.labels_to_target([int(b) for b in ident], list(ident.values()))})
    return cells


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="comma-separated collection directories")
    ap.add_argument("--strategies", default="certified")
    ap.add_argument("--realizations", type=int, default=40)
    ap.add_argument("--pool-size", type=int, default=1000)
    ap.add_argument("--max-labels", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epsilon", type=lambda s: [float(x) for x in s.split(",")], default=[0.01, 0.0])
    ap.add_argument("--horizon", type=int, default=300, help="keep labelling up to here until every rule stopped")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--params", default="{}", help="JSON {strategy: {param: value}}")
    ap.add_argument("--json", default=None, help="append the results (JSON lines) here")
    ap.add_argument("--table", nargs="+", default=None, help="print the reliability tables of these JSON-lines files")
    ap.add_argument("--cells", nargs=2, metavar=("TAG", "OUT"), default=None,
                    help="with --table: write its runs as identification cells tagged TAG to OUT (JSON lines)")
    args = ap.parse_args(argv)
    if args.table and args.cells:
        Path(args.cells[1]).write_text("".join(json.dumps(c) + "\n" for c in as_cells(args.table, args.cells[0])))
        return 0
    if args.table:
        print(reliability_tables(args.table))
        return 0
    params = json.loads(args.params)
    show = (1, 5, 10, 20, 30, 50, 80, 100)
    for path in args.data.split(","):
        for name in args.strategies.split(","):
            res = evaluate(path, name, args, params.get(name, {}))
            print(line(res, show), flush=True)
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Certified stops and identification on every collection: the figures of docs/certified-stop.md.

Usage (from the repository root)::

    python benchmarks/certified_stops.py                              # every collection, seed 1
    python benchmarks/certified_stops.py --collections emocontext,shared-failure --realizations 100
    python benchmarks/certified_stops.py --table-only                 # rebuild the table from saved runs

Per collection, two harness runs in the pool setting (pool ``--pool-size``):

* ``certified`` (the backend's default strategy) with the backend's default
  stopping rule in every realisation (``bench --stop``), once per epsilon of
  ``--epsilons``; a realisation keeps labelling until every rule stopped or
  ``--horizon`` labels; a stop is wrong when the named candidate is more than
  epsilon below the best of that pool;
* the anchors ``random``, ``model_selector`` and ``modelpicker`` (identification
  only, ``--anchor-realizations``).

Outputs in ``--out`` (default ``benchmarks/results/stops``): ``<collection>.json``
(both runs; reused unless ``--force`` or the settings, the certified strategy's
defaults included, changed), ``<collection>__anchors.json`` (the anchors' run,
reused while their own settings stay) and
``certified_stops.md`` (the table).  Same arguments, same numbers.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from benchmarks import run_all
from modelpicker_core import registry
from modelpicker_core.harness import BELIEF_RULE, BenchConfig, run_benchmark
from modelpicker_core.loaders import load_collection

ANCHORS = ("random", "model_selector", "modelpicker")
BUDGETS = (5, 10, 20, 30, 50, 80, 100, 150, 200)


def settings_key(args) -> dict:
    """What the certified run of a collection depends on (the strategy's defaults included)."""
    return {"realizations": args.realizations, "anchor_realizations": args.anchor_realizations,
            "seed": args.seed, "data_seed": args.data_seed, "pool_size": args.pool_size,
            "epsilons": args.epsilons, "delta": args.delta, "horizon": args.horizon, "budgets": list(BUDGETS),
            "certified": registry.make("certified", 2, 2).get_params(), "belief_rule": BELIEF_RULE}


def anchors_key(args) -> dict:
    """What the anchors' run depends on: not the certified strategy, so a change there reuses them."""
    return {"anchor_realizations": args.anchor_realizations, "seed": args.seed, "data_seed": args.data_seed,
            "pool_size": args.pool_size, "budgets": list(BUDGETS)}


def run_collection(name: str, data: Path, args) -> dict:
    path = Path(args.out) / f"{name}.json"
    key = settings_key(args)
    saved = run_all.saved_run(path, key, args)
    if saved is not None:
        return saved
    collection = load_collection(data)
    size = min(args.pool_size, collection.n_items)
    budgets = [b for b in BUDGETS if b <= size]
    common = dict(setting="pool", budgets=budgets, size=size, seed=args.seed, workers=args.workers,
                  progress=not args.no_progress)
    start = time.perf_counter()
    certified = run_benchmark(collection, BenchConfig(
        strategies=["certified"], realizations=args.realizations, stop=True, epsilons=args.epsilons,
        delta=args.delta, stop_horizon=args.horizon, belief_stop=True, **common))
    anchors_path = Path(args.out) / f"{name}__anchors.json"
    anchors = run_all.saved_run(anchors_path, anchors_key(args), args)
    if not anchors:
        anchors = {"key": anchors_key(args), **run_benchmark(collection, BenchConfig(
            strategies=list(ANCHORS), realizations=args.anchor_realizations, **common))}
        anchors_path.write_text(json.dumps(anchors, indent=1) + "\n")
    result = {"key": key, "collection": name, "n_items": collection.n_items, "n_models": collection.n_models,
              "n_classes": collection.n_classes, "pool_size": size,
              "strategies": {**certified["strategies"], **anchors["strategies"]},
              "wall_seconds": round(time.perf_counter() - start, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _stop_cells(st: dict) -> list[str]:
    """Stopped / runs, wrong (rate, worst gap in points), labels median / p90 of one rule's stops."""
    worst = max(st["wrong_gaps"]) if st["wrong_gaps"] else 0.0
    return [f"{st['stopped']} / {st['runs']}", f"{st['wrong']} ({st['wrong_rate']:.3f}, {100 * worst:.1f} pts)",
            f"{_labels(st['labels_median'])} / {_labels(st['labels_p90'])}"]


def _labels(value: float | None) -> str:
    return "no stop" if value is None else f"{value:.0f}"


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def table(results: dict[str, dict], args) -> str:
    eps = [f"{e:g}" for e in args.epsilons]
    head = ["collection"]
    for e in eps:
        head += [f"eps {e}: stopped / runs", f"eps {e}: wrong (rate, worst gap)", f"eps {e}: labels median / p90"]
    head += ["P(best) rule: stopped / runs", "P(best) rule: wrong (rate, worst gap)",
             "P(best) rule: labels median / p90"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    ident = ["| collection | labels | certified | " + " | ".join(ANCHORS) + " |",
             "|" + " --- |" * (3 + len(ANCHORS))]
    to09 = ["| collection | certified | " + " | ".join(ANCHORS) + " |", "|" + " --- |" * (2 + len(ANCHORS))]
    for name, res in results.items():
        if not res:
            lines.append(f"| {name} |" + " not run |" * (len(head) - 1))
            continue
        strat = res["strategies"]
        row = [name]
        for e in eps:
            st = strat["certified"]["stops_by_epsilon"][e]
            row += _stop_cells(st)
        belief = strat["certified"].get("stops_belief")
        row += _stop_cells(belief) if belief else ["not run"] * 3
        lines.append("| " + " | ".join(row) + " |")
        for j, budget in enumerate(strat["certified"]["budgets"]):
            cells = []
            for s in ("certified", *ANCHORS):
                p = strat[s]["identification"][j]
                n = res["key"]["realizations"] if s == "certified" else res["key"]["anchor_realizations"]
                cells.append(f"{p:.3f} ± {_se(p, n):.3f}")
            ident.append(f"| {name} | {budget} | " + " | ".join(cells) + " |")
        def cell(s, strat=strat):
            if strat[s]["labels_to_0.9"] is None:
                return ">" + str(strat[s]["budgets"][-1])
            return str(strat[s]["labels_to_0.9"])
        to09.append(f"| {name} | " + " | ".join(cell(s) for s in ("certified", *ANCHORS)) + " |")
    key = next((r["key"] for r in results.values() if r), settings_key(args))   # the settings the runs used
    return ("Certified stops (delta {d}, pool {p}, seed {s}, horizon {h} labels, {n} realisations, anchors {a}; "
            "a stop is wrong when the named candidate is more than epsilon below the pool's best), and the P(best) "
            "rule's stops in the same runs (P(best) >= 0.95 held for 3 labels; wrong: not a true best):\n\n".format(
                d=key["delta"], p=key["pool_size"], s=key["seed"], h=key["horizon"], n=key["realizations"],
                a=key["anchor_realizations"])
            + "\n".join(lines)
            + "\n\nIdentification (the pick is a true best) after a number of labels, mean ± one standard error:\n\n"
            + "\n".join(ident)
            + "\n\nLabels until identification stays at or above 0.9 (`>B`: not within the budgets read):\n\n"
            + "\n".join(to09) + "\n")


def epsilon_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default=",".join(run_all.MAX_LABELS))
    ap.add_argument("--realizations", type=int, default=500, help="certified realisations (stops) per collection")
    ap.add_argument("--anchor-realizations", type=int, default=200)
    ap.add_argument("--epsilons", type=epsilon_list, default=[0.01, 0.0])
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--horizon", type=int, default=400, help="labels per realisation at most, waiting for the stops")
    run_all.add_realisation_arguments(ap)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "stops"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    wanted = [c.strip() for c in args.collections.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in run_all.MAX_LABELS]
    if unknown:
        ap.error(f"unknown collection(s) {', '.join(unknown)}; choose from {', '.join(run_all.MAX_LABELS)}")
    dirs = run_all.collection_dirs(args, wanted)
    Path(args.out).mkdir(parents=True, exist_ok=True)   # each collection's runs are saved there as they finish
    results = {}
    for name in wanted:
        results[name] = run_collection(name, dirs[name], args)
        if results[name]:
            cert = results[name]["strategies"]["certified"]["stops_by_epsilon"]
            print(f"{name}: " + "; ".join(f"eps {e}: {v['wrong']}/{v['stopped']} wrong, median {v['labels_median']}"
                                          for e, v in cert.items()) + f" ({results[name]['wall_seconds']} s)",
                  flush=True)
    text = table(results, args)
    (Path(args.out) / "certified_stops.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

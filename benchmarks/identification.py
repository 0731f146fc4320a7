"""Identification cells: pool setting, ``--n`` realisations, identification at ``--budgets`` labels.

Runs each (collection, seed, variant) cell in this process (one worker, one progress bar over the cells) and
appends one JSON line per cell to ``--out`` as soon as it is done: identification per budget, labels to 0.9
and, with ``--horizon`` > 0, the certified stop (epsilon 0.01, delta 0.05) up to that many labels.
``--variants`` is a JSON object ``{tag: parameters}``: a ``"strategy"`` key in the parameters names the
registered strategy to run; else a tag that is a registered strategy's name (``random``, ``disagreement``,
``model_selector``, ``modelpicker``, ...) runs that strategy, and any other tag runs ``certified``; the other
parameters go to the strategy's constructor.

``--table`` prints, from such files, identification at ``--table-budget`` per collection and seed (mean ± one
SE, the difference to random and to the default in SEs of the difference); ``--curves`` the curves (mean over
seeds, worst seed, labels to 0.9 per seed); ``--stops`` the certified stops (benchmarks/identification_tables.py).

    nice -n 19 .venv/bin/python benchmarks/identification.py --seeds 1,2 --n 200 --budgets 5 \\
        --variants '{"default": {}, "random": {}}' --out benchmarks/results/identification/cells.jsonl
    nice -n 19 .venv/bin/python benchmarks/identification.py --collections emocontext --seeds 1 --n 40 \\
        --budgets 5,20,50,100,200 --horizon 200 --variants '{"default": {}, "anchor": {"strategy": "modelpicker"}}'
    .venv/bin/python benchmarks/identification.py --table benchmarks/results/ipw_evidence/reused.jsonl \\
        benchmarks/results/ipw_evidence/id5.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

from benchmarks import identification_tables as tables  # noqa: E402
from benchmarks import run_all  # noqa: E402
from modelpicker_core import registry  # noqa: E402
from modelpicker_core.harness import BenchConfig, run_benchmark  # noqa: E402
from modelpicker_core.loaders import load_collection  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "identification"
#: the collections of issue 10's failures, EmoContext and many-models
COLLECTIONS = ("emocontext", "shared-failure", "shift-tabular-prior", "shift-tabular-subpop", "shift-digits-rotate",
               "shift-digits-occlude", "shift-cancer-recalibrated", "many-models")


def variant(tag: str, params: object) -> tuple[str, dict]:
    """``(strategy, constructor parameters)`` of one ``--variants`` entry (see the module docstring)."""
    if not isinstance(params, dict):
        raise ValueError(f"variant {tag!r}: its parameters must be a JSON object, got {json.dumps(params)}")
    params = dict(params)
    strategy = params.pop("strategy", tag if tag in registry.available() and tag != "certified" else "certified")
    if strategy not in registry.available():
        raise ValueError(f"variant {tag!r}: unknown strategy {strategy!r}; available: "
                         f"{', '.join(registry.available())}")
    return strategy, params


def run_cell(collection, coll: str, tag: str, strategy: str, params: dict, seed: int, n: int,
             budgets: list[int], pool_size: int, horizon: int) -> dict:
    """One (collection, seed, variant) cell; ``horizon`` > 0 also runs the certified stop (epsilon 0.01)."""
    cfg = BenchConfig(setting="pool", strategies=[strategy], budgets=budgets, realizations=n,
                      size=min(pool_size, collection.n_items), seed=seed, workers=1, progress=False,
                      stop=horizon > 0, epsilons=[0.01], delta=0.05, stop_horizon=horizon,
                      params={strategy: params} if params else {})
    start = time.time()
    res = run_benchmark(collection, cfg)["strategies"][strategy]
    cell = {"tag": tag, "coll": coll, "strategy": strategy, "params": params, "seed": seed, "n": n,
            "ident": dict(zip(map(str, res["budgets"]), res["identification"])), "l09": res.get("labels_to_0.9")}
    if horizon > 0:
        st = res["stops_by_epsilon"]["0.01"] if "stops_by_epsilon" in res else res["stops"]
        cell.update(stopped=st["stopped"], wrong=st["wrong"], med=st["labels_median"], p90=st["labels_p90"])
    cell["sec"] = round(time.time() - start)
    return cell


def int_list(text: str) -> list[int]:
    """argparse type: a comma list of integers."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of integers") from None


def load(a: argparse.Namespace, variants: dict[str, tuple[str, dict]]) -> dict:
    """Every wanted collection, each variant's strategy built once on it to check its parameters."""
    known = run_all.collection_dirs(a, [])
    unknown = [name for name in a.collections.split(",") if name not in known]
    if unknown:
        raise ValueError(f"unknown collection {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    if a.n < 1 or min(a.budgets) < 1:
        raise ValueError("--n and every budget of --budgets must be >= 1")
    dirs, collections = run_all.collection_dirs(a, a.collections.split(",")), {}
    for name in a.collections.split(","):
        try:
            collections[name] = load_collection(dirs[name])
        except (OSError, ValueError) as exc:
            raise ValueError(f"collection {name!r}: cannot load {dirs[name]} ({exc})") from None
        if max(a.budgets) > min(a.pool_size, collections[name].n_items):
            raise ValueError(f"budget {max(a.budgets)} exceeds the pool of {name!r} "
                             f"({min(a.pool_size, collections[name].n_items)} items)")
        for tag, (strategy, params) in variants.items():
            try:
                registry.make(strategy, collections[name].n_models, collections[name].n_classes, **params)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"variant {tag!r} ({strategy} {json.dumps(params)}): {exc}") from None
    return collections


def done(path: str) -> set[tuple]:
    """(coll, seed, tag, n, budgets, stop ran) of every cell in ``path`` (none when it does not exist)."""
    if not Path(path).is_file():
        return set()
    return {(r["coll"], r["seed"], r.get("tag"), r["n"], tuple(map(int, r["ident"])), "med" in r)
            for r in tables.cells_of(path)}


def run(a: argparse.Namespace, variants: dict[str, tuple[str, dict]], collections: dict, skip: set) -> None:
    """Every (collection, seed, variant) cell not in ``skip``, each appended to ``a.out`` once done."""
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(collections) * len(a.seeds) * len(variants), desc="cells", unit="cell") as bar:
        for name, collection in collections.items():
            for seed in a.seeds:
                for tag, (strategy, params) in variants.items():
                    bar.set_postfix_str(f"{name} seed {seed} {tag}")
                    if (name, seed, tag, a.n, tuple(sorted(set(a.budgets))), a.horizon > 0) not in skip:
                        cell = run_cell(collection, name, tag, strategy, params, seed, a.n, a.budgets, a.pool_size,
                                        a.horizon)
                        with open(a.out, "a") as fh:
                            fh.write(json.dumps(cell) + "\n")
                        bar.write(json.dumps(cell))
                    bar.update()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default=",".join(COLLECTIONS), help="comma list")
    ap.add_argument("--seeds", type=int_list, default=[1, 2], help="comma list of root seeds")
    ap.add_argument("--n", type=int, default=200, help="realisations per cell")
    ap.add_argument("--budgets", type=int_list, default=[5], help="comma list of label budgets")
    ap.add_argument("--horizon", type=int, default=0, help="> 0: run the certified stop up to this many labels")
    ap.add_argument("--variants", type=run_all.json_object, default={"default": {}, "random": {}},
                    help='JSON {tag: strategy parameters}, optionally with "strategy" (default: %(default)s)')
    ap.add_argument("--out", default=str(RESULTS / "cells.jsonl"), help="JSON-lines file to append to")
    ap.add_argument("--resume", action="store_true",
                    help="skip the cells --out already holds (same collection, seed, tag, n, budgets, stop or not)")
    ap.add_argument("--table", nargs="+", default=None, help="print identification at --table-budget and exit")
    ap.add_argument("--table-budget", default="5")
    ap.add_argument("--curves", nargs="+", default=None, help="print the curves of these files and exit")
    ap.add_argument("--stops", nargs="+", default=None, help="print the certified stops of these files and exit")
    run_all.add_realisation_arguments(ap)
    ap.set_defaults(seed=None)
    return ap


def main(argv=None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    if a.seed is not None:
        ap.error("--seed is not used here: give the root seeds as --seeds")
    try:   # every check before the first cell runs: a bad file, variant, collection or budget is an error
        if a.table or a.curves or a.stops:
            for paths, show in ((a.table, lambda p: tables.table(p, a.table_budget)), (a.curves, tables.curves),
                                (a.stops, tables.stops)):
                if paths:
                    print(show(paths))
            return 0
        variants = {tag: variant(tag, params) for tag, params in a.variants.items()}
        collections, skip = load(a, variants), done(a.out) if a.resume else set()
    except ValueError as exc:
        ap.error(str(exc))
    run(a, variants, collections, skip)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every strategy on every collection: the labels-to-0.9 table and curves of docs/benchmarks.md.

Usage (from the repository root)::

    python benchmarks/run_all.py                         # everything, 200 realisations, seed 0
    python benchmarks/run_all.py --collections emocontext --strategies consensus,model_selector
    python benchmarks/run_all.py --table-only            # rebuild table and PNGs from saved runs

Protocol: the pool setting of :mod:`modelpicker_core.harness` (each
realisation draws a pool of ``--pool-size`` items, the strategy labels one item
at a time, the pick is read after every label).  "labels to 0.9" is the
smallest number of labels from which the pick is a true best model (ties
count) in at least 90% of the realisations for every larger budget up to the
collection's maximum; ``>B`` means never within ``B`` labels.

Collections: EmoContext (``--emocontext``, default the shared data folder)
and the synthetic kinds of :mod:`modelpicker_core.synth`, generated with seed
``--data-seed`` into ``--data-dir`` when missing.

Outputs in ``--out`` (default ``benchmarks/results``):

* ``raw/<collection>__<strategy>.json``: the harness result of one run
  (reused on the next call unless ``--force``; a run is keyed by its
  realisations, seed, pool size and budgets);
* ``labels_to_0.9.md`` / ``.json``: the table;
* ``curves_<collection>.png``: identification against labels, one line per strategy.
"""
from __future__ import annotations

import os

# One BLAS thread per process: the matrices are small and the runs use worker
# processes, so multi-threaded BLAS only oversubscribes the cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from benchmarks import shift_collections
from modelpicker_core import registry
from modelpicker_core.harness import BenchConfig, run_benchmark
from modelpicker_core.loaders import load_collection
from modelpicker_core.plots import plot_identification
from modelpicker_core.synth import KINDS, generate, spec_for, write_collection

STRATEGIES = ("certified", "consensus", "model_selector", "modelpicker", "random", "disagreement", "vote_entropy")
#: largest budget per collection (labels); the curve is read at every label up to it
#: budgets at which the second table reads the identification probability
READ_AT = (20, 50, 80)
MAX_LABELS = {"emocontext": 150, "many-models": 200, "many-classes": 400, "imbalanced": 200, "near-ties": 300,
              "shared-failure": 200}
#: real shifted collections (benchmarks/shift_collections.py), built into --collections-dir when missing
SHIFTED = ("shift-digits-rotate", "shift-digits-occlude", "shift-tabular-subpop", "shift-tabular-prior",
           "shift-cancer-recalibrated")
MAX_LABELS.update({name: 200 for name in SHIFTED})


def add_realisation_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every benchmark script shares: where the collections are, pool size, seeds, workers.

    :func:`collection_dirs` reads ``--emocontext``, ``--data-dir`` and ``--data-seed``.
    """
    ap.add_argument("--pool-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--emocontext", default=str(ROOT.parent / "shared" / "data" / "emocontext"),
                    help="the EmoContext folder (default: ../shared/data/emocontext beside this checkout)")
    ap.add_argument("--data-dir", default=str(ROOT / ".cache" / "synth"))
    ap.add_argument("--collections-dir", default=str(ROOT / ".cache" / "collections"),
                    help="where the real shifted collections are built (benchmarks/shift_collections.py)")


def json_object(text: str) -> dict:
    """argparse type: a JSON object of strategy parameters."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} must be a JSON object")
    return value


def collection_dirs(args, wanted: list[str] | None = None) -> dict[str, Path]:
    """Directory of every collection; synthetic and shifted ones of ``wanted`` are built when missing."""
    dirs = {"emocontext": Path(args.emocontext)}
    for kind in KINDS:
        target = Path(args.data_dir) / kind
        if (wanted is None or kind in wanted) and not (target / "synth.json").is_file():
            write_collection(generate(spec_for(kind), seed=args.data_seed), target)
        dirs[kind] = target
    for name in SHIFTED:
        target = Path(args.collections_dir) / name
        if (wanted is None or name in wanted) and not (target / "summary.json").is_file():
            shift_collections.write(name, Path(args.collections_dir), seed=args.data_seed)
        dirs[name] = target
    return dirs


def saved_run(path: Path, key: dict, args) -> dict | None:
    """The run saved at ``path`` when its ``key`` matches (any saved run with ``--table-only``, ``{}`` when
    none); None when it must be run (``--force`` or other settings)."""
    if path.is_file() and not args.force:
        saved = json.loads(path.read_text())
        if saved.get("key") == key or args.table_only:
            return saved
    return {} if args.table_only else None


def run_one(name: str, strategy: str, data: Path, args, raw: Path) -> dict:
    path = raw / f"{name}__{strategy}.json"
    budgets = list(range(1, (args.max_labels or MAX_LABELS[name]) + 1))
    key = {"realizations": args.realizations, "seed": args.seed, "pool_size": args.pool_size, "budgets": budgets[-1]}
    saved = saved_run(path, key, args)
    if saved is not None:
        return saved
    collection = load_collection(data)
    config = BenchConfig(setting="pool", strategies=[strategy], budgets=budgets, realizations=args.realizations,
                         size=min(args.pool_size, collection.n_items), seed=args.seed, workers=args.workers,
                         progress=not args.no_progress)
    start = time.perf_counter()
    result = run_benchmark(collection, config)
    result["key"] = key
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    raw.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result) + "\n")
    res = result["strategies"][strategy]
    print(f"{name:>13} {strategy:>15}: labels to 0.9 = {res['labels_to_0.9']}  ({result['wall_seconds']} s)",
          flush=True)
    return result


def cell(res: dict | None) -> str:
    if not res:
        return "not run"
    value = res["labels_to_0.9"]
    return f">{res['budgets'][-1]}" if value is None else str(value)


def write_table(results: dict, out: Path, args) -> str:
    names = list(results)
    strategies = [s for s in args.strategies if any(s in results[n] for n in names)]
    lines = [f"| collection | {' | '.join(strategies)} |", "| --- |" + " --- |" * len(strategies)]
    table = {}
    for n in names:
        row = {s: cell(results[n].get(s)) for s in strategies}
        table[n] = row
        lines.append(f"| {n} | " + " | ".join(row[s] for s in strategies) + " |")
    horizons = sorted({(n, s, results[n][s]["budgets"][-1]) for n in names for s in strategies if s in results[n]})
    notes = [f"{n}/{s}: read up to {b} labels" for n, s, b in horizons if b != MAX_LABELS[n]]
    text = "\n".join(lines)
    if notes:
        text += "\n\nShorter horizons: " + "; ".join(notes) + "."
    text += "\n\n`>B`: never at or above 0.9 within the B labels the run read."
    at = [f"| collection | labels | {' | '.join(strategies)} |", "| --- | --- |" + " --- |" * len(strategies)]
    for n in names:
        for budget in READ_AT:
            cells = []
            for s in strategies:
                res = results[n].get(s)
                ok = res and budget <= res["budgets"][-1]
                cells.append(f"{res['identification'][res['budgets'].index(budget)]:.3f}" if ok else "-")
            at.append(f"| {n} | {budget} | " + " | ".join(cells) + " |")
    text += "\n\nIdentification probability (pick is a true best) after a fixed number of labels:\n\n" + "\n".join(at)

    (out / "labels_to_0.9.md").write_text(
        f"Labels until the pick is a true best in >= 90% of realisations (pool setting, pool {args.pool_size}, "
        f"{args.realizations} realisations, seed {args.seed}).\n\n{text}\n")
    (out / "labels_to_0.9.json").write_text(json.dumps(table, indent=2) + "\n")
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default="emocontext," + ",".join(KINDS) + "," + ",".join(SHIFTED))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--realizations", type=int, default=200)
    add_realisation_arguments(ap)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--max-labels", type=int, default=None, help="labels per realisation (default: per collection)")
    ap.add_argument("--force", action="store_true", help="rerun even when a saved run matches")
    ap.add_argument("--table-only", action="store_true", help="only rebuild the table and curves from saved runs")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in args.strategies:
        registry.get(s)
    wanted = [c.strip() for c in args.collections.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in MAX_LABELS]
    if unknown:
        ap.error(f"unknown collection(s) {', '.join(unknown)}; choose from {', '.join(MAX_LABELS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = collection_dirs(args, wanted)
    results: dict[str, dict] = {}
    for name in wanted:
        results[name] = {}
        merged = None
        for strategy in args.strategies:
            result = run_one(name, strategy, dirs[name], args, out / "raw")
            if not result:
                continue
            results[name][strategy] = result["strategies"][strategy]
            merged = merged or {k: v for k, v in result.items() if k != "strategies"}
        if merged:
            merged["strategies"] = results[name]
            merged["data"] = name
            plot_identification(merged, out / f"curves_{name}.png")
    print(write_table(results, out, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

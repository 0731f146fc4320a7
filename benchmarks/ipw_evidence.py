"""Importance-weighted evidence (``Certified(evidence="ipw")``) beside the default and random labelling.

Runs each (collection, seed, variant) cell in this process (one worker, one progress bar over the cells) and
appends one JSON line per cell to ``--out``: identification per budget, labels to 0.9 and, with ``--stop``,
the certified stop (epsilon 0.01, delta 0.05) up to ``--horizon`` labels.  ``--table`` prints, from such
files, identification at one budget per collection and seed (mean ± one SE, the difference to random and to
the default in SEs of the difference); ``--curves`` the curves (mean over seeds, worst seed, labels to 0.9
per seed); ``--stops`` the certified stops.  Used for docs/certified-stop.md "Importance-weighted evidence".

    nice -n 19 .venv/bin/python benchmarks/ipw_evidence.py --seeds 1,2 --n 200 --budgets 5 \\
        --variants '{"ipw": {"evidence": "ipw"}}' --out benchmarks/results/ipw_evidence/id5.jsonl
    nice -n 19 .venv/bin/python benchmarks/ipw_evidence.py --seeds 1,2 --n 40 --budgets 5,20,50,80,100,150,200 \\
        --variants '{"default": {}, "ipw": {"evidence": "ipw"}}' --out benchmarks/results/ipw_evidence/curves.jsonl
    .venv/bin/python benchmarks/ipw_evidence.py --curves benchmarks/results/ipw_evidence/curves.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

from benchmarks import run_all  # noqa: E402
from modelpicker_core.harness import BenchConfig, run_benchmark  # noqa: E402
from modelpicker_core.harness.runner import labels_to_target  # noqa: E402
from modelpicker_core.loaders import load_collection  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ipw_evidence"
#: the collections of issue 10's failures, EmoContext and many-models
COLLECTIONS = ("emocontext", "shared-failure", "shift-tabular-prior", "shift-tabular-subpop", "shift-digits-rotate",
               "shift-digits-occlude", "shift-cancer-recalibrated", "many-models")


def run_cell(collection, coll: str, tag: str, params: dict, seed: int, n: int, budgets: list[int],
             pool_size: int, horizon: int) -> dict:
    """One (collection, seed, variant) cell; ``horizon`` > 0 also runs the certified stop (epsilon 0.01)."""
    strategy = "random" if tag == "random" else "certified"
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


def se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` over ``n`` realisations."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def read(paths: list[str]) -> list[dict]:
    """Every JSON line of ``paths``; a later line replaces an earlier one of the same (coll, seed, tag, n)."""
    cells: dict[tuple, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            cells[(r["coll"], r["seed"], r["tag"], r["n"], tuple(r["ident"]))] = r
    return list(cells.values())


def _diff(p: tuple[float, int], base: tuple[float, int] | None) -> str:
    if base is None:
        return ""
    return f" ({(p[0] - base[0]) / (math.hypot(se(*p), se(*base)) or 1.0):+.1f})"


def table(paths: list[str], budget: str = "5") -> str:
    """Markdown: identification at ``budget`` per collection and seed (the cell of most realisations), each tag's
    mean ± SE, then (in brackets) its difference to random and to the default in SEs of the difference."""
    rows: dict[tuple[str, int], dict[str, tuple[float, int]]] = {}
    tags: list[str] = []
    for r in read(paths):
        cells = rows.setdefault((r["coll"], r["seed"]), {})
        if budget in r["ident"] and r["n"] >= cells.get(r["tag"], (0.0, 0))[1]:   # the most realisations
            cells[r["tag"]] = (r["ident"][budget], r["n"])
            tags += [] if r["tag"] in tags else [r["tag"]]
    tags.sort(key=lambda t: (t != "random", t != "default", t))
    out = ["| collection | seed | " + " | ".join(tags) + " |", "| --- | --- |" + " --- |" * len(tags)]
    for (coll, seed), cells in sorted(rows.items()):
        parts = []
        for tag in tags:
            p = cells.get(tag)
            text = "" if p is None else f"{p[0]:.3f} ± {se(*p):.3f}"
            if p is not None and tag not in ("random", "default"):
                text += _diff(p, cells.get("random")) + (_diff(p, cells.get("default"))[:-1] + " vs default)"
                                                         if "default" in cells else "")
            elif p is not None and tag == "default":
                text += _diff(p, cells.get("random"))
            parts.append(text)
        out.append(f"| {coll} | {seed} | " + " | ".join(parts) + " |")
    return "\n".join(out)


def curves(paths: list[str]) -> str:
    """Markdown: per collection and tag, identification at each budget as the mean over seeds (the worst seed
    in brackets), the largest SE of one seed's proportion, and labels to 0.9 per seed and of the mean curve."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in read(paths):
        if len(r["ident"]) > 1:
            groups.setdefault((r["coll"], r["tag"]), []).append(r)
    header = " / ".join(next(iter(groups.values()))[0]["ident"])
    out = [f"| collection | variant | seeds (n) | identification at {header} labels: mean (worst seed) | max SE "
           "| labels to 0.9 per seed; of the mean |", "| --- " * 6 + "|"]
    for (coll, tag), cells in sorted(groups.items()):
        cells.sort(key=lambda r: r["seed"])
        budgets = list(cells[0]["ident"])
        means = [sum(r["ident"][b] for r in cells) / len(cells) for b in budgets]
        worst = [min(r["ident"][b] for r in cells) for b in budgets]
        top_se = max(se(r["ident"][b], r["n"]) for r in cells for b in budgets)
        l09 = ", ".join(str(r["l09"] or ">" + budgets[-1]) for r in cells)
        mean_l09 = labels_to_target([int(b) for b in budgets], means) or ">" + budgets[-1]
        curve = " / ".join(f"{m:.2f} ({w:.2f})" if len(cells) > 1 else f"{m:.2f}" for m, w in zip(means, worst))
        seeds = ",".join(str(r["seed"]) for r in cells) + f" ({cells[0]['n']})"
        out.append(f"| {coll} | {tag} | {seeds} | {curve} | {top_se:.2f} | {l09}; {mean_l09} |")
    return "\n".join(out)


def stops(paths: list[str]) -> str:
    """Markdown: the certified stops (epsilon 0.01) of every cell that ran them."""
    out = ["| collection | seed | variant | n | median / p90 labels | stopped / wrong | labels to 0.9 |",
           "| --- " * 7 + "|"]
    for r in sorted((r for r in read(paths) if "med" in r), key=lambda r: (r["coll"], r["seed"], r["tag"])):
        out.append(f"| {r['coll']} | {r['seed']} | {r['tag']} | {r['n']} | {r['med']} / {r['p90']} | "
                   f"{r['stopped']} / {r['wrong']} | {r['l09']} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default=",".join(COLLECTIONS))
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--n", type=int, default=200, help="realisations per cell")
    ap.add_argument("--budgets", default="5")
    ap.add_argument("--horizon", type=int, default=0, help="> 0: run the certified stop up to this many labels")
    ap.add_argument("--variants", type=run_all.json_object, default={"ipw": {"evidence": "ipw"}},
                    help='JSON {tag: certified parameters}; the tag "random" runs random labelling')
    ap.add_argument("--out", default=str(RESULTS / "id5.jsonl"))
    ap.add_argument("--table", nargs="+", default=None, help="print identification at --table-budget and exit")
    ap.add_argument("--table-budget", default="5")
    ap.add_argument("--curves", nargs="+", default=None, help="print the curves of these files and exit")
    ap.add_argument("--stops", nargs="+", default=None, help="print the certified stops of these files and exit")
    run_all.add_realisation_arguments(ap)
    a = ap.parse_args()
    for paths, show in ((a.table, lambda p: table(p, a.table_budget)), (a.curves, curves), (a.stops, stops)):
        if paths:
            print(show(paths))
    if a.table or a.curves or a.stops:
        return
    wanted, seeds = a.collections.split(","), [int(s) for s in a.seeds.split(",")]
    dirs, budgets = run_all.collection_dirs(a, wanted), [int(b) for b in a.budgets.split(",")]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(wanted) * len(seeds) * len(a.variants), desc="cells", unit="cell") as bar:
        for name in wanted:
            collection = load_collection(dirs[name])
            for seed in seeds:
                for tag, params in a.variants.items():
                    bar.set_postfix_str(f"{name} seed {seed} {tag}")
                    cell = run_cell(collection, name, tag, params, seed, a.n, budgets, a.pool_size, a.horizon)
                    with open(a.out, "a") as fh:
                        fh.write(json.dumps(cell) + "\n")
                    bar.write(json.dumps(cell))
                    bar.update()


if __name__ == "__main__":
    main()

"""Identification at few labels of certified-strategy variants beside random labelling, on every collection.

Runs each (collection, seed, variant) cell in this process (one worker) and appends one JSON line per cell
to ``--out``; ``--table`` prints the markdown table (mean ± one standard error, the difference to random
and its SE) from such a file.  Used for docs/certified-stop.md "Evidence for the pick at few labels".

    nice -n 19 python benchmarks/pick_evidence.py --seeds 1,2 --n 200 --budgets 5 \\
        --variants '{"old": {}, "new": {"pick_evidence": "h2h"}}'
    python benchmarks/pick_evidence.py --table benchmarks/results/pick_evidence/heldout.jsonl
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

from benchmarks import run_all  # noqa: E402
from modelpicker_core.harness import BenchConfig, run_benchmark  # noqa: E402
from modelpicker_core.loaders import load_collection  # noqa: E402
from modelpicker_core.synth import KINDS  # noqa: E402

#: every collection: EmoContext, the synthetic kinds, the shifted ones
EVERY = ("emocontext",) + tuple(KINDS) + tuple(run_all.SHIFTED)


def run_cell(collection, coll: str, name: str, strategy: str, params: dict, seed: int, n: int, budgets: list[int],
             pool_size: int) -> dict:
    """One (collection, seed, variant) cell: identification per budget over ``n`` realisations."""
    cfg = BenchConfig(setting="pool", strategies=[strategy], budgets=budgets, realizations=n,
                      size=min(pool_size, collection.n_items), seed=seed, workers=1,
                      params={strategy: params} if params else {})
    start = time.time()
    res = run_benchmark(collection, cfg)["strategies"][strategy]
    return {"tag": name, "coll": coll, "strategy": strategy, "params": params,
            "seed": seed, "n": n, "ident": dict(zip(map(str, res["budgets"]), res["identification"])),
            "l09": res.get("labels_to_0.9"), "sec": round(time.time() - start)}


def se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` over ``n`` realisations."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def table(path: Path, budget: str = "5") -> str:
    """Markdown: per collection and seed, every tag's identification at ``budget`` and (tags other than
    random) its difference to random in SEs of the difference."""
    rows: dict[tuple[str, int], dict[str, tuple[float, int]]] = {}
    tags: list[str] = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if budget not in r["ident"]:
            continue
        rows.setdefault((r["coll"], r["seed"]), {})[r["tag"]] = (r["ident"][budget], r["n"])
        if r["tag"] not in tags:
            tags.append(r["tag"])
    out = ["| collection | seed | " + " | ".join(tags) + " |", "| --- | --- |" + " --- |" * len(tags)]
    for (coll, seed), cells in rows.items():
        base = cells.get("random")
        parts = []
        for tag in tags:
            if tag not in cells:
                parts.append("")
                continue
            p, n = cells[tag]
            text = f"{p:.3f} ± {se(p, n):.3f}"
            if base is not None and tag != "random":
                diff_se = math.hypot(se(p, n), se(*base)) or 1.0
                text += f" ({(p - base[0]) / diff_se:+.1f})"
            parts.append(text)
        out.append(f"| {coll} | {seed} | " + " | ".join(parts) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collections", default=",".join(EVERY))
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--n", type=int, default=200, help="realisations per cell")
    ap.add_argument("--budgets", default="5")
    ap.add_argument("--variants", type=run_all.json_object, default={"default": {}},
                    help='JSON {tag: certified parameters}; the tag "random" runs random labelling')
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "pick_evidence"
                                         / "heldout.jsonl"))
    ap.add_argument("--table", default=None, help="print the table of this JSON-lines file and exit")
    ap.add_argument("--table-budget", default="5")
    run_all.add_realisation_arguments(ap)
    a = ap.parse_args()
    if a.table:
        print(table(Path(a.table), a.table_budget))
        return
    wanted = a.collections.split(",")
    dirs = run_all.collection_dirs(a, wanted)
    budgets = [int(b) for b in a.budgets.split(",")]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        collection = load_collection(dirs[name])
        for seed in (int(s) for s in a.seeds.split(",")):
            for tag, params in a.variants.items():
                strategy = "random" if tag == "random" else "certified"
                cell = run_cell(collection, name, tag, strategy, params, seed, a.n, budgets, a.pool_size)
                with open(a.out, "a") as fh:
                    fh.write(json.dumps(cell) + "\n")
                print(json.dumps(cell), flush=True)


if __name__ == "__main__":
    main()

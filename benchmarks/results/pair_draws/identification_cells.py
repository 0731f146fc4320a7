"""One identification cell per (collection, strategy), pool setting, pool 1,000: see commands.sh beside it.

Prints and appends one JSON line per cell: identification (the pick is a true best) at each budget.
"""
import argparse
import json
import time

from benchmarks import run_all
from modelpicker_core.harness import BenchConfig, run_benchmark
from modelpicker_core.loaders import load_collection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collections", required=True)
    ap.add_argument("--strategies", required=True)
    ap.add_argument("--n", type=int, default=40, help="realisations per cell")
    ap.add_argument("--budgets", default="5,10,20,50")
    ap.add_argument("--params", default="{}", help="JSON parameters of the certified strategy")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=None, help="JSON lines file to append to")
    run_all.add_realisation_arguments(ap)
    args = ap.parse_args()
    wanted = args.collections.split(",")
    dirs = run_all.collection_dirs(args, wanted)
    budgets = [int(b) for b in args.budgets.split(",")]
    params = json.loads(args.params)
    for name in wanted:
        collection = load_collection(dirs[name])
        for strategy in args.strategies.split(","):
            start = time.time()
            cfg = BenchConfig(setting="pool", strategies=[strategy], budgets=budgets, realizations=args.n,
                              size=min(args.pool_size, collection.n_items), seed=args.seed, workers=1,
                              progress=False,
                              params={strategy: params} if params and strategy == "certified" else {})
            res = run_benchmark(collection, cfg)["strategies"][strategy]
            line = {"coll": name, "strategy": strategy, "tag": args.tag, "seed": args.seed, "n": args.n,
                    "ident": dict(zip(map(str, res["budgets"]), res["identification"])),
                    "sec": round(time.time() - start)}
            print(json.dumps(line), flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()

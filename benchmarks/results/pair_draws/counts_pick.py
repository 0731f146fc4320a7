"""The default's draws, two picks: the strategy's (belief with the guide's prior) and raw labelled counts.

Seed 0, pool 1,000, realisations 0..n-1 of the harness (the same pools as its pool setting); ties of the counts
drawn at random. Prints, per collection, identification at each budget for both picks (counts_pick.txt).
"""
import argparse
import json

import numpy as np

from benchmarks import run_all
from modelpicker_core.harness import workers
from modelpicker_core.loaders import load_collection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collections", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--budgets", default="5,10,20,50")
    run_all.add_realisation_arguments(ap)
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    dirs = run_all.collection_dirs(args, args.collections.split(","))
    for name in args.collections.split(","):
        collection = load_collection(dirs[name])
        workers._init_worker(collection)
        hits = {"strategy": np.zeros(len(budgets)), "counts": np.zeros(len(budgets))}
        for r in range(args.n):
            _, seq, _, preds, labels, _, best = workers._realisation(args.seed, 0, r,
                                                                     min(args.pool_size, collection.n_items))
            strategy = workers._make("certified", collection, seq, **json.loads(args.params))
            strategy.set_pool(preds)
            rng = np.random.default_rng(r)
            for step in range(max(budgets)):
                i = strategy.draw()
                strategy.observe(preds[i], labels[i], item=i)
                if step + 1 in budgets:
                    b = budgets.index(step + 1)
                    hits["strategy"][b] += best[strategy.best()]
                    items, answers = np.asarray(strategy.labelled_)[:, :2].T
                    correct = np.sum(preds[items] == answers[:, None], axis=0)
                    hits["counts"][b] += best[rng.choice(np.flatnonzero(correct == correct.max()))]
        print(name, {k: (v / args.n).round(3).tolist() for k, v in hits.items()}, flush=True)


if __name__ == "__main__":
    main()

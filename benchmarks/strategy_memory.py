"""Peak memory and time of the default strategy alone on a large synthetic pool (no backend, no store).

Usage (from the repository root)::

    .venv/bin/python benchmarks/strategy_memory.py --items 100000 --models 100 --classes 10 --labels 5

Seeded: candidate 0 is right on 85% of the items, the others on a uniform 30-80%; each label is drawn by
the strategy from its own distribution and answered with the true class.  Prints the process's peak
resident memory (``ru_maxrss``) after ``set_pool`` and after each label, so a backend figure can be split
into the strategy's share and the rest.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelpicker_core import make  # noqa: E402


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--strategy", default="certified")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    truth = rng.integers(0, args.classes, args.items)
    accuracy = np.concatenate([[0.85], rng.uniform(0.3, 0.8, args.models - 1)])
    wrong = (truth[:, None] + rng.integers(1, args.classes, (args.items, args.models))) % args.classes
    preds = np.where(rng.random((args.items, args.models)) < accuracy, truth[:, None], wrong)
    before = peak_mb()
    start = time.perf_counter()
    strategy = make(args.strategy, args.models, args.classes, random_state=args.seed)
    strategy.set_pool(preds)
    print(f"{args.strategy}, {args.items} items x {args.models} models x {args.classes} classes: set_pool "
          f"{time.perf_counter() - start:.1f} s, peak resident {before} -> {peak_mb()} MB", flush=True)
    for k in range(args.labels):
        t = time.perf_counter()
        q = strategy.sampling_distribution()
        item = strategy.draw()
        strategy.observe(preds[item], int(truth[item]), query_probability=float(q[item]), item=item)
        print(f"label {k + 1}: {time.perf_counter() - t:.2f} s, peak resident {peak_mb()} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

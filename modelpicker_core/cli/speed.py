"""``python -m modelpicker_core speed``: speed and memory of vectorised scoring.

Prints a small table (see :func:`modelpicker_core.speedtest.format_speed`):
items per second of one scoring round over a random prediction matrix,
vectorised and item by item in pure Python, their ratio, the largest
difference between the two, and the peak memory of the process.
"""
from __future__ import annotations

import argparse
import json
import os

from .. import registry
from ..speedtest import format_speed, run_speed
from . import add_subcommand
from .bench import bounded_int, seed_int

#: most classes: the random matrix is drawn in int32 at most (and 2**31 classes is no label space)
MAX_CLASSES = 2**31 - 1


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        return bounded_int(text, low, maximum=high)
    parse.__name__ = f"integer >= {low}"
    return parse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``speed`` subcommand; its ``func`` returns the exit code."""
    parser = add_subcommand(
        subparsers, "speed", run, "time vectorised scoring against a per-item Python loop; report peak memory",
        "Generate a random (items x models) prediction matrix, time one scoring round "
        "(score every item + one label and posterior update) vectorised and item by item "
        "in pure Python on a subset, and report items/second, the ratio, the largest "
        "difference between the two results, and the peak memory (RSS) of the process.")
    parser.add_argument("--items", type=_int_at_least(1), default=1_000_000, help="items (default 1,000,000)")
    parser.add_argument("--models", type=_int_at_least(1), default=100, help="models (default 100)")
    parser.add_argument("--classes", type=_int_at_least(2, MAX_CLASSES), default=10, help="classes (default 10)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the matrix and the strategy (default 0)")
    parser.add_argument("--loop-items", type=_int_at_least(1), default=None,
                        help="items timed in the Python loops (default: sized to a few seconds)")
    parser.add_argument("--strategy", choices=registry.available(), default="modelpicker",
                        help="strategy to time (default modelpicker; per-item references exist for "
                             "modelpicker and model_selector). consensus and certified first fit a model "
                             "of the whole matrix (not timed; its memory and time grow with the items: see "
                             "docs/cli.md), so give them --items 100000 or fewer")
    parser.add_argument("--repeats", type=_int_at_least(1), default=3,
                        help="each timing is the best of this many runs (default 3)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    # ValueError and MemoryError (sizes beyond memory) reach cli.main, which prints them like every subcommand's
    result = run_speed(args.items, args.models, args.classes, seed=args.seed,
                       loop_items=args.loop_items, strategy=args.strategy, repeats=args.repeats)
    result["load_average_1min"] = load
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_speed(result))
        print(f"1-minute load average at start: {load:.2f} on {os.cpu_count()} cores "
              "(other processes slow the timings)")
    return 0

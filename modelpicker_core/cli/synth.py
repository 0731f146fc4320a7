"""``synth``: write a synthetic model collection with correlated errors.

Example::

    python -m modelpicker_core synth --kind imbalanced --out data/imbalanced --seed 0
    python -m modelpicker_core synth --kind all --out data/synth

The files are the loader's (``predictions``, ``oracle``, ``labelspace`` as CSV,
or ``.npy`` for big collections; ``probabilities.npy`` with
``--probabilities``), plus ``synth.json`` describing the collection.
"""
from __future__ import annotations

import argparse
import json

from ..synth import KINDS, generate, spec_for, write_collection
from . import add_subcommand, check_output
from .bench import bounded_float, positive_int, seed_int


def _correlation(text: str) -> float:
    return bounded_float(text, 0.0, 1.0, "rho")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(subparsers, "synth", run,
                            "write a synthetic model collection (correlated errors) for the benchmark", __doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=[*KINDS, "all"],
                        help="which preset; 'all' writes every kind into OUT/<kind>")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    parser.add_argument("--items", type=positive_int, default=None, help="number of items (default: the preset's)")
    parser.add_argument("--rho", type=_correlation, default=0.5, help="error correlation in [0, 1) (default 0.5)")
    parser.add_argument("--probabilities", action="store_true", help="also write probabilities.npy")
    parser.add_argument("--format", choices=("auto", "csv", "npy"), default="auto",
                        help="file format (auto: .npy above 200,000 prediction cells)")


def run(args: argparse.Namespace) -> int:
    kinds = KINDS if args.kind == "all" else (args.kind,)
    out = check_output(args.out, "--out", directory=True)  # before generating anything
    for kind in kinds:
        target = out / kind if args.kind == "all" else out
        spec = spec_for(kind, n_items=args.items, rho=args.rho)
        collection = generate(spec, seed=args.seed, probabilities=args.probabilities)
        written = write_collection(collection, target, fmt=args.format)
        info = collection.info
        print(f"{kind}: {info['n_items']} items x {info['n_models']} models x {info['n_classes']} classes, "
              f"best model {info['best_model']} (lead {info['top_two_gap_points']} points) -> {target} "
              f"({', '.join(p.name for p in written)})")
    if args.kind != "all":
        print(json.dumps({"accuracy": collection.info["accuracy"][:10]}))
    return 0

"""``bench``: identification probability of strategies on a model collection."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

from .. import registry
from ..harness import BenchConfig, run_benchmark, summary_table
from ..loaders import load_collection
from . import add_subcommand, check_output


def comma_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. a,b")
    return items


def bounded_int(text: str, minimum: int, what: str = "", maximum: int | None = None) -> int:
    """``text`` as an integer in ``minimum..maximum``; argparse's error names ``what`` when given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what + ' ' if what else ''}{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{what or 'value'} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"{what or 'value'} must be <= {maximum:,}, got {value:,}")
    return value


def budget_list(text: str) -> list[int]:
    return [bounded_int(part, 1, "budget") for part in comma_list(text)]


def positive_int(text: str) -> int:
    return bounded_int(text, 1)


def seed_int(text: str) -> int:
    return bounded_int(text, 0, "seed")


#: most realisations / pilot streams: each is one task in a list built before the
#: run, so a typo such as 10**12 would exhaust memory instead of starting
MAX_RUNS = 1_000_000
#: most worker processes: more than a few per core only add processes (results do not depend on it)
MAX_WORKERS = 4 * (os.cpu_count() or 1)


def runs_int(text: str) -> int:
    return bounded_int(text, 1, maximum=MAX_RUNS)


def workers_int(text: str) -> int:
    return bounded_int(text, 1, "workers", maximum=MAX_WORKERS)


def bounded_float(text: str, low: float, high: float, what: str = "value", include_low: bool = True) -> float:
    """``text`` as a number in ``[low, high)`` (``(low, high)`` without ``include_low``).

    argparse's error names ``what``.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
    if not (low <= value if include_low else low < value) or not value < high:
        raise argparse.ArgumentTypeError(
            f"{what} must be in {'[' if include_low else '('}{low:g}, {high:g}), got {text}")
    return value


def epsilon_list(text: str) -> list[float]:
    return [bounded_float(part, 0.0, 1.0, "epsilon") for part in comma_list(text)]


def probability(text: str) -> float:
    return bounded_float(text, 0.0, 1.0, "probability", include_low=False)


def strategy_params(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--params is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise argparse.ArgumentTypeError(
            '--params must be a JSON object of objects, e.g. {"certified": {"delta": 0.1}}')
    return value


def register(subparsers) -> None:
    p = add_subcommand(
        subparsers, "bench", run,
        "simulate strategies on a labelled collection (identification probability per budget)",
        "Run strategies over many random realisations of a labelled collection and report, per budget, "
        "the identification probability of the true best model, the regret and the labels used. "
        "stream = the ModelPicker paper's protocol (C calibrated to each budget); "
        "pool = sequential selection from a random pool.")
    p.add_argument("--data", required=True, help="collection directory (predictions, labelspace, oracle .csv/.npy)")
    p.add_argument("--setting", required=True, choices=("stream", "pool"))
    p.add_argument("--strategies", required=True, type=comma_list, help="comma-separated registry names")
    p.add_argument("--budgets", required=True, type=budget_list, help="comma-separated label budgets, e.g. 30,50,70")
    p.add_argument("--realizations", type=runs_int, default=500, help="random realisations (default 500)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--stream-size", type=positive_int, help="items per stream (stream setting; default all items)")
    size.add_argument("--pool-size", type=positive_int, help="items per pool (pool setting; default all items)")
    p.add_argument("--seed", type=seed_int, default=0, help="root seed (default 0); same seed, same numbers")
    p.add_argument("--pilots", type=runs_int, default=100,
                   help="pilot streams per calibration step of C (stream setting; default 100)")
    p.add_argument("--workers", type=workers_int, default=os.cpu_count() or 1,
                   help=f"worker processes (default: CPU count, at most {MAX_WORKERS}); results do not depend on it")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON here")
    p.add_argument("--plot", metavar="OUT.png", help="write identification vs labels as PNG here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--stop", action="store_true",
                   help="pool setting: run the backend's default stopping rule (certified bound <= epsilon) in every "
                        "realisation and report stops, wrong stops and labels to stop")
    p.add_argument("--epsilon", type=epsilon_list, default=[0.01],
                   help="tolerated accuracy gap of a certified stop; comma-separated for several (default 0.01)")
    p.add_argument("--delta", type=probability, default=0.05,
                   help="error probability of the certificate (default 0.05)")
    p.add_argument("--stop-horizon", type=positive_int, default=None,
                   help="with --stop: keep labelling up to this many labels until the rule stops "
                        "(default: largest budget)")
    p.add_argument("--params", type=strategy_params, default={},
                   help='JSON object of constructor parameters per strategy, '
                        'e.g. \'{"certified": {"exploration": 0.3}}\'')


def check_outputs(args: argparse.Namespace) -> None:
    """Every output argument can be written (and ``--plot`` drawn) before the benchmark runs."""
    if args.json is not None:
        check_output(args.json, "--json")
    if args.plot is not None:
        check_output(args.plot, "--plot", suffix=".png")
        if importlib.util.find_spec("matplotlib") is None:
            raise ValueError("--plot needs matplotlib, which is not installed (pip install matplotlib)")


def check_params(params: dict, strategies: list[str], n_models: int, n_classes: int) -> None:
    """``--params`` names only strategies being run and parameters their constructors take.

    Each strategy is built once with its parameters, so a bad value fails
    here with the strategy's own message instead of inside the run.
    """
    for name, values in params.items():
        if name not in strategies:
            raise ValueError(f"--params names {name!r}, which is not in --strategies ({', '.join(strategies)})")
        for key in values:
            if key in ("self", "n_models", "n_classes", "random_state") or not registry.accepts(name, key):
                raise ValueError(f"--params: strategy {name!r} has no parameter {key!r}")
        try:
            registry.make(name, n_models, n_classes, **values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--params for {name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.setting == "stream" and args.pool_size is not None:
        raise ValueError("--pool-size goes with --setting pool; use --stream-size with --setting stream")
    if args.setting == "pool" and args.stream_size is not None:
        raise ValueError("--stream-size goes with --setting stream; use --pool-size with --setting pool")
    if args.stop and args.setting != "pool":
        raise ValueError("--stop goes with --setting pool (stops are read after every pool label)")
    check_outputs(args)
    collection = load_collection(args.data, require_labels=True)
    check_params(args.params, args.strategies, collection.n_models, collection.n_classes)
    config = BenchConfig(
        setting=args.setting,
        strategies=args.strategies,
        budgets=args.budgets,
        realizations=args.realizations,
        size=args.stream_size if args.setting == "stream" else args.pool_size,
        seed=args.seed,
        pilots=args.pilots,
        workers=args.workers,
        progress=not args.no_progress,
        stop=args.stop,
        epsilons=args.epsilon,
        delta=args.delta,
        stop_horizon=args.stop_horizon or 0,
        params=args.params,
    )
    result = run_benchmark(collection, config)
    result["data"] = str(args.data)
    print(summary_table(result))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {out}")
    if args.plot:
        from ..plots import plot_identification  # matplotlib only when asked for

        out = Path(args.plot)
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_identification(result, out)
        print(f"wrote {out}")
    return 0

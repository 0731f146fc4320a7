"""Command line: ``python -m modelpicker_core <command> ...``.

Each subcommand lives in its own module (``bench``, ``pick``, ``speed``,
``synth``) exposing ``register(subparsers)``, which adds its parser and sets
``func``: a callable ``(args) -> exit code``.  Bad input gives a message on
stderr and exit code 2 (argument syntax, from argparse) or 1 (bad values or
files), never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

SUBCOMMANDS = ("bench", "pick", "speed", "synth")


def _subcommand_module(name: str) -> ModuleType | None:
    """The module of subcommand ``name``, or None while it is not written yet."""
    qualified = f"{__name__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name == qualified:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modelpicker_core",
        description="Active model selection for pre-trained classifiers: simulation benchmarks, interactive picking, speed tests.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = _subcommand_module(name)
        if module is not None:
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130

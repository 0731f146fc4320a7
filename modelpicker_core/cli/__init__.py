"""Command line: ``python -m modelpicker_core <command> ...``.

Each subcommand lives in its own module (``bench``, ``pick``, ``speed``,
``synth``) exposing ``register(subparsers)``, which adds its parser with
:func:`add_subcommand`, setting ``func``: a callable ``(args) -> exit code``.  Bad input gives a message on
stderr and exit code 2 (argument syntax, from argparse) or 1 (bad values or
files), never a traceback.  Output paths are checked with
:func:`check_output` before any work, so a long run never fails at its end
for want of a place to write.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

SUBCOMMANDS = ("bench", "pick", "speed", "synth")


def _subcommand_module(name: str) -> ModuleType:
    """The module of subcommand ``name`` (imported when the parser is built, not with this package)."""
    return importlib.import_module(f"{__name__}.{name}")


def add_subcommand(subparsers, name: str, run: Callable[[argparse.Namespace], int], summary: str,
                   description: str, **options) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``: ``summary`` in the command list, ``description`` in its
    ``--help`` (``options`` go to ``add_parser``), and ``run`` as its ``func``."""
    parser = subparsers.add_parser(name, help=summary, description=description, **options)
    parser.set_defaults(func=run)
    return parser


def check_output(path: str | Path, option: str, suffix: str | None = None, directory: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    ``option`` (e.g. ``"--json"``) names the argument in the message;
    ``suffix`` (e.g. ``".png"``) is the file type the path must have;
    ``directory`` means the path is a directory to create or fill.  Missing
    parent directories are fine (the writer creates them); writability is
    probed with a temporary file in the nearest existing directory, because
    permission bits alone do not tell (root, read-only mounts, ``/proc``).
    Raises ValueError naming the option and the path.
    """
    if not str(path).strip():  # Path("") is ".": an empty argument would write into the working directory
        raise ValueError(f"{option} is empty; name a {'directory' if directory else 'file'}")
    out = Path(path)
    if suffix is not None and out.suffix.lower() != suffix:
        raise ValueError(f"{option} must name a {suffix} file, got {str(path)!r}")
    if directory:
        if out.exists() and not out.is_dir():
            raise ValueError(f"{option} {path} exists and is not a directory")
    elif out.is_dir():
        raise ValueError(f"{option} {path} is a directory; name a file")
    existing = out if directory and out.is_dir() else out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write in {existing} ({exc.strerror or exc})") from None
    if out.is_file() and not os.access(out, os.W_OK):
        raise ValueError(f"{option} {path} exists and is not writable")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modelpicker_core",
        description="Active model selection for pre-trained classifiers: simulation benchmarks, interactive picking, "
                    "speed tests.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        _subcommand_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:  # sizes given on the command line that do not fit in memory
        print(f"{parser.prog} {args.command}: error: not enough memory for these sizes ({exc or 'MemoryError'})",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130

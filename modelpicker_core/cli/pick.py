"""``pick``: find the best model by answering a few label questions in the terminal.

Questions go to stderr, answers come from stdin (typed, or piped one label per
line), the result goes to stdout.  Typed input that is not a class of the
label space is asked again; piped input that is invalid or ends before the
questions do is an error (exit 1) naming the line.
"""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

import numpy as np

from ..loaders import Collection, format_classes, load_collection
from ..pick import PickResult, pick_best_model
from . import add_subcommand
from .bench import epsilon_list, positive_int, probability, seed_int


def epsilon_value(text: str) -> float:
    values = epsilon_list(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"give one epsilon, got {text!r}")
    return values[0]


class TerminalLabels:
    """The :data:`~modelpicker_core.pick.AskLabel` callback reading labels from a text stream.

    Parameters
    ----------
    collection : gives the label space and each model's prediction to show.
    stdin, stderr : where answers come from and questions go.
    interactive : re-ask on invalid input (a person is typing) instead of failing.
    """

    def __init__(self, collection: Collection, stdin: TextIO, stderr: TextIO, interactive: bool):
        self.collection = collection
        self.stdin = stdin
        self.stderr = stderr
        self.interactive = interactive
        self.line = 0

    def __call__(self, item: int, step: int, budget: int) -> int:
        col = self.collection
        shown = "  ".join(f"{model_name(j)}={col.class_value(c)}" for j, c in enumerate(col.predictions[item]))
        self.stderr.write(f"\n[{step}/{budget}] item {item} (row {item + 1}); predictions: {shown}\n")
        while True:
            self.stderr.write(f"label ({format_classes(col.classes)}): ")
            self.stderr.flush()
            text = self.stdin.readline()
            if not text:
                raise ValueError(
                    f"standard input ended after {self.line} line(s), before the label of item {item} "
                    f"(question {step} of up to {budget})"
                )
            self.line += 1
            if not self.interactive:
                self.stderr.write(text.rstrip("\n") + "\n")
            try:
                return self._parse(text.strip())
            except ValueError as exc:
                if not self.interactive:
                    raise ValueError(f"standard input line {self.line}: {exc}") from None
                self.stderr.write(f"  {exc}; try again\n")

    def _parse(self, text: str) -> int:
        space = format_classes(self.collection.classes)
        try:
            value = float(text)
            if not np.isfinite(value):
                raise ValueError(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a class of the label space ({space})") from None
        if not value.is_integer() or value not in self.collection.classes:
            raise ValueError(f"{text!r} is not a class of the label space ({space})")
        return self.collection.class_index(int(value))


def model_name(index: int) -> str:
    """The name a model goes by in ``pick``'s questions and result: ``m<column index>``.

    Why one function: the questions show ``m5=...`` and the result must name
    the same model ``m5``, not ``5`` (nor ``6``, its 1-based CSV column).
    """
    return f"m{index}"


def format_result(result: PickResult) -> str:
    """The result table; every model is named as in the questions (:func:`model_name`)."""
    ranking = result.ranking
    names = [model_name(j) for j in range(len(ranking.p_best))]
    best = names[result.best]
    lines = [f"Labelled {len(result.labelled)} item(s) with {result.strategy.name}."]
    if result.stopped_early:
        lines.append(f"Stopped early: {result.stopped_early}.")
    lines.append(f"Best model: {best} (column {result.best + 1} of the predictions; "
                 f"P(best) = {ranking.p_best[result.best]:.3f})")
    if result.gap is not None:
        level = f"{1 - result.delta:.0%}"
        lines.append(f"Guaranteed: model {best} is at most {100 * result.gap[result.best]:.1f} accuracy points "
                     f"worse than the best model on these items ({level})")
    lines.append("")
    bound = result.gap is not None
    width = max(5, *(len(n) for n in names))
    lines.append(f"{'rank':>4} {'model':>{width}} {'P(best)':>8}" + (f" {'at most (pts)':>13}" if bound else "")
                 + f" {'accuracy':>9}  {'95% interval':<15} {'labels':>6}")
    for rec in ranking.to_records(names):
        gap = f" {100 * result.gap[rec['index']]:>13.1f}" if bound else ""
        lines.append(
            f"{rec['rank']:>4} {rec['model']:>{width}} {rec['p_best']:>8.3f}{gap} {rec['accuracy']:>9.3f}  "
            f"[{rec['accuracy_low']:.3f}, {rec['accuracy_high']:.3f}]{'':<1} {rec['labels']:>6}"
        )
    lines.append("")
    lines.append("posterior P(best): " + " ".join(f"{n}={p:.4f}" for n, p in zip(names, ranking.p_best)))
    return "\n".join(lines)


def register(subparsers) -> None:
    p = add_subcommand(
        subparsers, "pick", run,
        "ask for a few labels in the terminal (or piped, one per line) and name the best model",
        "Name the best of several pre-trained models from a few labels. The strategy picks the items; "
        "you type each item's class as written in labelspace.csv (or pipe one label per line).")
    p.add_argument("--data", required=True,
                   help="directory with predictions.csv and labelspace.csv (oracle not needed)")
    p.add_argument("--budget", required=True, type=positive_int, help="maximum number of labels to give")
    p.add_argument("--strategy", default="modelpicker", help="registry name (default modelpicker)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the strategy's tie breaks (default 0)")
    p.add_argument("--epsilon", type=epsilon_value, default=None,
                   help="stop before the budget once a model is guaranteed at most EPSILON (accuracy, e.g. 0.01) "
                        "below the best (default: ask the whole budget)")
    p.add_argument("--delta", type=probability, default=0.05,
                   help="error probability of the guaranteed bound (default 0.05)")


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    collection = load_collection(args.data, require_labels=False)
    interactive = bool(getattr(stdin, "isatty", lambda: False)())
    ask = TerminalLabels(collection, stdin, stderr, interactive)
    result = pick_best_model(collection, args.budget, ask, strategy=args.strategy, seed=args.seed,
                             epsilon=args.epsilon, delta=args.delta)
    stderr.write("\n")
    stdout.write(format_result(result) + "\n")
    return 0

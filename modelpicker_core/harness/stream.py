"""The stream setting: stream each realisation through a strategy; calibrate ModelPicker's ``C`` to each budget.

A stochastic strategy's scaling constant ``C`` is calibrated once per budget
so that the *mean* number of labels asked over ``pilots`` pilot streams equals
the budget (bisection on ``log C`` with common random numbers, pilot seeds
separate from the evaluation seeds); the ``random`` strategy queries each
item with probability ``budget / size``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import registry
from ..base import Strategy
from ..votes import all_agree
from .config import PILOT, BenchConfig
from .workers import Mapper, _child, _make, _realisation

#: bracket of the scaling constant C searched by the calibration
SCALING_RANGE = (1e-3, 1e6)


def run_stream(strategy: Strategy, predictions: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """Stream ``predictions`` ``(n_items, n_models)`` through a stochastic strategy.

    Items on which all models agree are skipped with ``advance``: a stochastic
    strategy never queries them (no label there can separate the models), so
    this only saves time.  Returns ``(pick, labels_used)``.
    """
    disagree = np.flatnonzero(~all_agree(predictions))
    done = 0
    for i in disagree:
        strategy.advance(i - done)
        strategy.stream_step(predictions[i], lambda i=i: labels[i])
        done = i + 1
    strategy.advance(predictions.shape[0] - done)
    return strategy.best(), int(strategy.n_labels_)


def run_stream_uniform(strategy: Strategy, predictions: np.ndarray, labels: np.ndarray,
                       rate: float, rng: np.random.Generator) -> tuple[int, int]:
    """Query each item independently with probability ``rate``; returns ``(pick, labels_used)``."""
    for i in np.flatnonzero(rng.random(predictions.shape[0]) < rate):
        strategy.observe(predictions[i], labels[i], query_probability=rate)
    return strategy.best(), int(strategy.n_labels_)


def _stream_realisation(task: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stream realisation at every budget: ``(hit, regret, labels)``, each ``(n_budgets,)``."""
    name, seed, purpose, index, size, plan = task
    col, seq, items, preds, labels, accuracy, best = _realisation(seed, purpose, index, size)
    out = np.zeros((3, len(plan)))
    for j, (kind, value) in enumerate(plan):
        if kind == "scaling":
            pick, used = run_stream(_make(name, col, seq, scaling=value), preds, labels)
        else:  # uniform query rate
            coin_rng = np.random.default_rng(_child(seq, 2))
            pick, used = run_stream_uniform(_make(name, col, seq), preds, labels, value, coin_rng)
        out[:, j] = best[pick], accuracy.max() - accuracy[pick], used
    return out[0], out[1], out[2]


def calibrate_scaling(mapper: Mapper, name: str, budget: float, config: BenchConfig, size: int,
                      cache: dict[float, float]) -> tuple[float, float]:
    """Scaling constant ``C`` whose mean labels over the pilot streams match ``budget``.

    Bisection on ``log C`` inside :data:`SCALING_RANGE`; every evaluation
    reuses the same pilot realisations (common random numbers), so the mean is
    a smooth, near-monotone function of ``C``.  ``cache`` maps ``C`` to its
    mean labels and is shared across budgets.  Returns ``(C, pilot_mean_labels)``.
    """
    def mean_labels(scaling: float) -> float:
        if scaling not in cache:
            tasks = [(name, config.seed, PILOT, p, size, [("scaling", scaling)]) for p in range(config.pilots)]
            cache[scaling] = float(np.mean([r[2][0] for r in mapper.imap(_stream_realisation, tasks)]))
        return cache[scaling]

    lo, hi = np.log(SCALING_RANGE[0]), np.log(SCALING_RANGE[1])
    if mean_labels(float(np.exp(hi))) <= budget:
        return float(np.exp(hi)), mean_labels(float(np.exp(hi)))
    if mean_labels(float(np.exp(lo))) >= budget:
        return float(np.exp(lo)), mean_labels(float(np.exp(lo)))
    mid = (lo + hi) / 2
    for _ in range(config.calibration_steps):
        mid = (lo + hi) / 2
        got = mean_labels(float(np.exp(mid)))
        if abs(got - budget) <= config.calibration_tolerance:
            break
        lo, hi = (mid, hi) if got < budget else (lo, mid)
    return float(np.exp(mid)), mean_labels(float(np.exp(mid)))


def _calibrated_plan(mapper: Mapper, name: str, budgets: list[int], config: BenchConfig,
                     size: int) -> tuple[list, dict[str, Any]]:
    cache: dict[float, float] = {}
    scalings, pilot_labels = [], []
    for budget in tqdm(budgets, desc=f"{name}: calibrating C", disable=not config.progress, leave=False):
        scaling, mean = calibrate_scaling(mapper, name, budget, config, size, cache)
        scalings.append(scaling)
        pilot_labels.append(round(mean, 3))
    extra = {
        "protocol": "stream: C calibrated so the mean labels over pilot streams match the budget; pick at stream end",
        "scaling": [float(f"{c:.6g}") for c in scalings],
        "pilot_labels": pilot_labels,
        "pilots": int(config.pilots),
    }
    return [("scaling", c) for c in scalings], extra


def stream_plan(mapper: Mapper, name: str, budgets: Sequence[int], config: BenchConfig,
                size: int) -> tuple[list, dict[str, Any]]:
    """Per budget, how each stream realisation runs (``("scaling", C)`` or ``("rate", q)``), and the result's extras."""
    if registry.get(name).stochastic:
        return _calibrated_plan(mapper, name, list(budgets), config, size)
    rates = [min(1.0, b / size) for b in budgets]
    extra = {"protocol": "stream: each item queried with probability budget/size", "query_rate": rates}
    return [("rate", q) for q in rates], extra

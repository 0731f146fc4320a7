"""The pool setting: label a realisation's pool one item at a time, read the pick and the stopping rules."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import Strategy
from ..certificate import GapCertificate
from ..stopping import make_rule
from .config import BELIEF_RULE, BenchConfig
from .workers import _make, _realisation


def run_pool(strategy: Strategy, predictions: np.ndarray, labels: np.ndarray,
             probabilities: np.ndarray | None, n_labels: int, rules: Sequence[Any] = (),
             horizon: int = 0) -> tuple[np.ndarray, list]:
    """Label pool items chosen by the strategy, one at a time.

    Returns ``(picks, stops)``: ``(n_labels,)`` the pick after each of the
    first ``n_labels`` labels, and per stopping rule of ``rules`` the first
    :class:`~modelpicker_core.stopping.Decision` that stopped (None when it
    never did within ``max(n_labels, horizon)`` labels or the pool).  A
    strategy without a certificate of its own gets one that counts its labels
    as exact knowledge only (its choices have no known probabilities).
    """
    strategy.set_pool(predictions, probabilities)
    unlabelled = np.ones(predictions.shape[0], dtype=bool)
    picks = np.empty(n_labels, dtype=np.int64)
    deltas = [rule.delta for rule in rules if hasattr(rule, "delta")]
    side = GapCertificate(predictions, deltas[0]) if deltas and not hasattr(strategy, "gap") else None
    stops: list = [None] * len(rules)
    history: list[list[float]] = [[] for _ in rules]
    for step in range(min(max(n_labels, horizon), predictions.shape[0])):
        if step >= n_labels and all(d is not None for d in stops):
            break
        i = strategy.select(predictions, probabilities, candidates=unlabelled)
        strategy.observe(predictions[i], labels[i], query_probability=1.0, item=i)
        unlabelled[i] = False
        if step < n_labels:
            picks[step] = strategy.best()
        if side is not None:
            side.observe(i, labels[i])
        for r, rule in enumerate(rules):
            if stops[r] is None:
                decision = rule.decide_for(strategy, int(unlabelled.sum()), previous=history[r],
                                           gap=None if side is None else side.gap())
                history[r].append(decision.p_best)   # the P(best) rule's patience reads the earlier ones
                if decision.stop:
                    stops[r] = decision
    return picks, stops


def stop_rule_settings(config: BenchConfig) -> list[dict[str, Any]]:
    """The stopping rules every pool realisation runs: the certified one per epsilon, then the P(best) one."""
    settings = [{"rule": "certified", "epsilon": e, "delta": config.delta}
                for e in config.epsilons] if config.stop else []
    if config.stop and config.belief_stop:
        settings.append(dict(BELIEF_RULE))
    return settings


def _pool_realisation(task: tuple) -> tuple:
    """One pool realisation: ``(hit, regret, labels)`` per budget and, per stopping rule, its stop record."""
    name, seed, purpose, index, size, budgets, params, rule_settings, horizon = task
    col, seq, items, preds, labels, accuracy, best = _realisation(seed, purpose, index, size)
    probs = None if col.probabilities is None else col.probabilities[items]
    rules = [make_rule(**settings) for settings in rule_settings]
    picks, stops = run_pool(_make(name, col, seq, **params), preds, labels, probs, max(budgets), rules, horizon)
    picks = picks[np.asarray(budgets) - 1]
    records = [None if d is None else (d.labels, float(accuracy.max() - accuracy[d.model]), d.reason)
               for d in stops]
    return best[picks].astype(float), accuracy.max() - accuracy[picks], np.asarray(budgets, dtype=float), records


def stop_summary(records: list, epsilon: float) -> dict[str, Any]:
    """``{"runs", "stopped", "wrong", "wrong_gaps", "labels_median", "labels_p90", ...}`` of one rule.

    ``records``: per realisation ``(labels, gap of the named model, reason)``
    or None (never stopped).  A stop is wrong when the named model's accuracy
    is more than ``epsilon`` below the best's; ``labels_*`` are over the stops.
    """
    stopped = [r for r in records if r is not None]
    gaps = [r[1] for r in stopped]
    wrong = [g for g in gaps if g > epsilon + 1e-12]
    used = np.array([r[0] for r in stopped], dtype=float)
    return {
        "epsilon": float(epsilon),
        "runs": len(records),
        "stopped": len(stopped),
        "wrong": len(wrong),
        "wrong_rate": round(len(wrong) / max(len(stopped), 1), 6),
        "wrong_gaps": sorted(round(float(g), 6) for g in wrong),
        "labels_median": None if not stopped else float(np.median(used)),
        "labels_p90": None if not stopped else float(np.percentile(used, 90)),
        "reasons": {k: sum(r[2] == k for r in stopped) for k in sorted({r[2] for r in stopped})},
    }


def stop_results(rows: list, config: BenchConfig) -> dict[str, Any]:
    """The result's ``"stops"``, ``"stops_by_epsilon"`` (and ``"stops_belief"``) of one strategy's pool rows."""
    by_eps = {f"{e:g}": stop_summary([row[3][k] for row in rows], e) for k, e in enumerate(config.epsilons)}
    out: dict[str, Any] = {"stops": by_eps[f"{config.epsilons[0]:g}"], "stops_by_epsilon": by_eps}
    if config.belief_stop:
        out["stops_belief"] = stop_summary([row[3][len(config.epsilons)] for row in rows], 0.0)
    return out

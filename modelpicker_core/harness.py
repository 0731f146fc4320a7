"""Simulation harness: how often does a strategy name the true best model?

Two protocols, both over many *realisations* (fresh random draws of items from
the whole collection, so the true best model can change from one realisation
to the next):

``stream`` (the paper's protocol, Karimi et al. 2021)
    Each realisation streams ``size`` items drawn without replacement.  A
    stochastic strategy (ModelPicker) flips a coin per item; its scaling
    constant ``C`` is calibrated once per budget so that the *mean* number of
    labels asked over ``pilots`` pilot streams equals the budget (bisection on
    ``log C`` with common random numbers, pilot seeds separate from the
    evaluation seeds).  The pick is read after the whole stream.  A budget
    above what the strategy can spend (it never asks for items on which all
    models agree) keeps the largest ``C`` and reports the labels it did use.
    The ``random`` strategy queries each streamed item independently with
    probability ``budget / size``; other deterministic (pool) strategies are
    rejected in this setting.

``pool``
    Each realisation draws a pool of ``size`` items; the strategy is told the
    pool (:meth:`~modelpicker_core.base.Strategy.set_pool`) and labels
    ``max(budgets)`` items one at a time, the pick read after every label; the
    result at budget ``b`` is the pick after ``b`` labels.

Metrics per strategy and budget: identification probability (the pick is one
of the possibly tied true best models of that realisation's items), mean
regret (accuracy of the true best minus accuracy of the pick, on the same
items) and mean labels used.  ``labels_to_0.9`` is the smallest budget from
which identification stays at or above 0.9.

Determinism: realisation ``r`` draws everything from
``SeedSequence(seed, spawn_key=(0, r))`` and pilot ``p`` from
``SeedSequence(seed, spawn_key=(1, p))``, so results do not depend on the
number of worker processes or on which strategies run together.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from . import registry
from .base import Strategy
from .certificate import GapCertificate
from .loaders import Collection
from .stopping import make_rule

SETTINGS = ("stream", "pool")
#: bracket of the scaling constant C searched by the calibration
SCALING_RANGE = (1e-3, 1e6)
EVALUATION, PILOT = 0, 1


@dataclasses.dataclass
class BenchConfig:
    """Parameters of one benchmark run (see the module docstring).

    Parameters
    ----------
    setting : ``"stream"`` or ``"pool"``.
    strategies : registry names.
    budgets : label budgets, strictly positive; sorted ascending when run.
    realizations : number of realisations per strategy.
    size : items per stream or pool; None = the whole collection.
    seed : root seed of every random draw.
    pilots : pilot realisations per calibration step (stream, stochastic only).
    calibration_steps : maximum bisection steps on ``log C`` per budget.
    calibration_tolerance : stop bisecting once the mean labels are this close to the budget.
    workers : worker processes (1 = run in this process).
    progress : show tqdm progress bars on stderr.
    stop : run the certified stopping rule (:func:`modelpicker_core.stopping.make_rule`,
        the backend's default) in every pool realisation, once per ``epsilons``.
    epsilons, delta : its settings; ``delta`` also goes to strategies that take it.
    belief_stop : with ``stop``, also run the P(best) rule with the backend's
        defaults (:data:`BELIEF_RULE`: P(best) >= 0.95 held for 3 labels) and
        report its stops as ``"stops_belief"`` (wrong: the named candidate is
        not a true best).
    stop_horizon : keep labelling up to this many labels (beyond the largest
        budget) until every rule stopped; a run that has not stopped by then
        counts as not stopped.
    params : extra constructor parameters per strategy name.
    """

    setting: str
    strategies: Sequence[str]
    budgets: Sequence[int]
    realizations: int = 500
    size: int | None = None
    seed: int = 0
    pilots: int = 100
    calibration_steps: int = 14
    calibration_tolerance: float = 0.25
    workers: int = 1
    progress: bool = False
    stop: bool = False
    epsilons: Sequence[float] = (0.01,)
    delta: float = 0.05
    stop_horizon: int = 0
    params: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    belief_stop: bool = False


#: the P(best) rule as the backend builds it by default (MODELPICKER_STOP_RULE=belief)
BELIEF_RULE = {"rule": "belief", "confidence": 0.95, "patience": 3, "min_labels": 1}


# --------------------------------------------------------------- metrics
def true_best(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracies ``(n_models,)`` and the boolean mask ``(n_models,)`` of the tied best models."""
    correct = np.sum(predictions == labels[:, None], axis=0)
    return correct / labels.shape[0], correct == correct.max()


def labels_to_target(budgets: Sequence[int], identification: Sequence[float], target: float = 0.9) -> int | None:
    """Smallest budget from which identification stays ``>= target`` for every larger budget.

    ``budgets`` ascending; returns None when the largest budget is below the target.
    """
    answer = None
    for budget, ident in zip(reversed(list(budgets)), reversed(list(identification))):
        if ident < target:
            break
        answer = int(budget)
    return answer


def realisation_seed(seed: int, purpose: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(purpose, int(index)))


def _child(seq: np.random.SeedSequence, key: int) -> np.random.SeedSequence:
    """A fixed child of ``seq`` (1 = the strategy's random_state, 2 = the harness's coins)."""
    return np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (key,))


def _strategy_seed(seq: np.random.SeedSequence) -> int:
    return int(_child(seq, 1).generate_state(1)[0])


def draw_items(seq: np.random.SeedSequence, n_total: int, size: int) -> np.ndarray:
    """``(size,)`` item indices drawn without replacement, in random order."""
    return np.random.default_rng(seq).permutation(n_total)[:size]


# ------------------------------------------------------------ single runs
def run_stream(strategy: Strategy, predictions: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """Stream ``predictions`` ``(n_items, n_models)`` through a stochastic strategy.

    Items on which all models agree are skipped with ``advance``: a stochastic
    strategy never queries them (no label there can separate the models), so
    this only saves time.  Returns ``(pick, labels_used)``.
    """
    disagree = np.flatnonzero(np.any(predictions != predictions[:, :1], axis=1))
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


# ------------------------------------------------- worker-side realisation
_WORKER: dict[str, Any] = {}


def _init_worker(collection: Collection) -> None:
    _WORKER["collection"] = collection


def _make(name: str, collection: Collection, seq: np.random.SeedSequence, **params: Any) -> Strategy:
    return registry.make(name, collection.n_models, collection.n_classes,
                         random_state=_strategy_seed(seq), **params)


def strategy_params(name: str, config: BenchConfig) -> dict[str, Any]:
    """Constructor parameters of ``name`` in a run: ``config.params[name]``, plus the stop's delta where taken."""
    params = dict(config.params.get(name, {}))
    if config.stop:
        for key, value in registry.stop_params(name, config.epsilons[0], config.delta).items():
            params.setdefault(key, value)
    return params


def _realisation(seed: int, purpose: int, index: int, size: int):
    """The items of one realisation of the worker's collection and its true best models.

    Returns ``(collection, seed sequence, items, predictions (size, n_models), labels (size,),
    accuracy (n_models,), best (n_models,) bool)``.
    """
    col = _WORKER["collection"]
    seq = realisation_seed(seed, purpose, index)
    items = draw_items(seq, col.n_items, size)
    preds, labels = col.predictions[items], col.labels[items]
    accuracy, best = true_best(preds, labels)
    return col, seq, items, preds, labels, accuracy, best


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


# ------------------------------------------------------------ the runner
class _Mapper:
    """Ordered map over tasks, in this process or a worker pool."""

    def __init__(self, collection: Collection, workers: int):
        self.pool = None
        self.workers = workers
        if workers > 1:
            self.pool = multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=(collection,))
        else:
            _init_worker(collection)

    def imap(self, func: Callable, tasks: list) -> Iterable:
        if self.pool is None:
            return map(func, tasks)
        chunk = max(1, len(tasks) // (8 * self.workers))
        return self.pool.imap(func, tasks, chunksize=chunk)

    def close(self, abort: bool = False) -> None:
        """Wait for the workers; with ``abort`` (an error or Ctrl-C) stop them without finishing their tasks."""
        if self.pool is not None:
            if abort:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()


def calibrate_scaling(mapper: _Mapper, name: str, budget: float, config: BenchConfig, size: int,
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


def check_config(config: BenchConfig, collection: Collection) -> tuple[list[int], int]:
    """Validate ``config`` against the collection; returns sorted budgets and the stream/pool size."""
    if config.setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {config.setting!r}")
    if collection.labels is None:
        raise ValueError(f"the benchmark needs true labels (oracle.csv or oracle.npy) in {collection.source}")
    if not config.strategies:
        raise ValueError("give at least one strategy")
    for name in config.strategies:
        cls = registry.get(name)
        if config.setting == "stream" and not cls.stochastic and name != "random":
            raise ValueError(
                f"strategy {name!r} selects items from a pool and has no stream form; "
                "use --setting pool (stream supports stochastic strategies such as modelpicker, and random)"
            )
    budgets = sorted({int(b) for b in config.budgets})
    if not budgets or budgets[0] < 1:
        raise ValueError("budgets must be positive integers")
    if config.realizations < 1:
        raise ValueError(f"realizations must be >= 1, got {config.realizations}")
    if config.pilots < 1:
        raise ValueError(f"pilots must be >= 1, got {config.pilots}")
    size = collection.n_items if config.size is None else int(config.size)
    if not 1 <= size <= collection.n_items:
        raise ValueError(
            f"{config.setting} size must be in 1..{collection.n_items} (the collection's items), got {size}")
    if config.setting == "pool" and budgets[-1] > size:
        raise ValueError(f"budget {budgets[-1]} exceeds the pool size {size}")
    return budgets, size


def run_benchmark(collection: Collection, config: BenchConfig) -> dict[str, Any]:
    """Run every strategy of ``config`` on ``collection``; returns the JSON-ready result.

    Result layout: ``{"setting", "data", "realizations", "seed", "strategies":
    {name: {"budgets", "identification", "regret", "labels", "labels_to_0.9",
    "seconds", ...}}}`` plus the stream/pool size and, for calibrated
    strategies, the scaling constant and pilot mean labels per budget.
    """
    budgets, size = check_config(config, collection)
    result: dict[str, Any] = {
        "setting": config.setting,
        "data": collection.source,
        "realizations": int(config.realizations),
        "seed": int(config.seed),
        f"{config.setting}_size": size,
        "n_items": collection.n_items,
        "n_models": collection.n_models,
        "n_classes": collection.n_classes,
        "strategies": {},
    }
    mapper = _Mapper(collection, max(1, int(config.workers)))
    try:
        for name in config.strategies:
            start = time.perf_counter()
            extra: dict[str, Any] = {}
            if config.setting == "pool":
                func, plan = _pool_realisation, budgets
                extra["protocol"] = "pool: pick after each label"
                rule_settings = [{"rule": "certified", "epsilon": e, "delta": config.delta}
                                 for e in config.epsilons] if config.stop else []
                if config.stop and config.belief_stop:
                    rule_settings.append(dict(BELIEF_RULE))
            elif registry.get(name).stochastic:
                func, plan, extra = _stream_realisation, *_calibrated_plan(mapper, name, budgets, config, size)
            else:
                rates = [min(1.0, b / size) for b in budgets]
                func, plan = _stream_realisation, [("rate", q) for q in rates]
                extra = {"protocol": "stream: each item queried with probability budget/size", "query_rate": rates}
            if config.setting == "pool":
                tasks = [(name, config.seed, EVALUATION, r, size, plan, strategy_params(name, config), rule_settings,
                          config.stop_horizon)
                         for r in range(config.realizations)]
            else:
                tasks = [(name, config.seed, EVALUATION, r, size, plan) for r in range(config.realizations)]
            rows = list(tqdm(mapper.imap(func, tasks), total=len(tasks), desc=f"{name} ({config.setting})",
                             disable=not config.progress, leave=False))
            hits, regrets, used = (np.array([row[k] for row in rows]) for k in range(3))
            identification = hits.mean(axis=0)
            result["strategies"][name] = {
                "budgets": budgets,
                "identification": [round(float(v), 6) for v in identification],
                "regret": [round(float(v), 6) for v in regrets.mean(axis=0)],
                "labels": [round(float(v), 3) for v in used.mean(axis=0)],
                "labels_to_0.9": labels_to_target(budgets, identification),
                "seconds": round(time.perf_counter() - start, 3),
                **extra,
            }
            if config.setting == "pool" and config.stop:
                by_eps = {f"{e:g}": stop_summary([row[3][k] for row in rows], e)
                          for k, e in enumerate(config.epsilons)}
                result["strategies"][name]["stops"] = by_eps[f"{config.epsilons[0]:g}"]
                result["strategies"][name]["stops_by_epsilon"] = by_eps
                if config.belief_stop:
                    result["strategies"][name]["stops_belief"] = stop_summary(
                        [row[3][len(config.epsilons)] for row in rows], 0.0)
    except BaseException:
        mapper.close(abort=True)
        raise
    mapper.close()
    return result


def _calibrated_plan(mapper: _Mapper, name: str, budgets: list[int], config: BenchConfig,
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


def summary_table(result: dict[str, Any]) -> str:
    """Plain-text table of identification / regret / labels per strategy and budget."""
    lines = [f"{result['setting']} setting, {result['realizations']} realisations, seed {result['seed']}, "
             f"data {result['data']}"]
    for name, res in result["strategies"].items():
        lines.append(f"\n{name}  (labels_to_0.9: {res['labels_to_0.9']}, {res['seconds']:.1f} s)")
        lines.append(f"{'budget':>8} {'ident':>7} {'regret':>8} {'labels':>8}"
                     + (f" {'C':>10}" if "scaling" in res else ""))
        for j, budget in enumerate(res["budgets"]):
            line = f"{budget:>8} {res['identification'][j]:>7.3f} {res['regret'][j]:>8.4f} {res['labels'][j]:>8.1f}"
            if "scaling" in res:
                line += f" {res['scaling'][j]:>10.4g}"
            lines.append(line)
        for eps, st in res.get("stops_by_epsilon", {}).items():
            lines.append(f"  stops at epsilon {eps}: {st['stopped']}/{st['runs']} stopped, {st['wrong']} wrong "
                         f"(gaps {st['wrong_gaps'][:5]}), labels median {st['labels_median']}, p90 {st['labels_p90']}")
    return "\n".join(lines)

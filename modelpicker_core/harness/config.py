"""The benchmark's settings (:class:`BenchConfig`) and their validation against a collection."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .. import registry
from ..loaders import Collection

SETTINGS = ("stream", "pool")
#: seed purposes: realisations scored in the result, pilot streams of the calibration
EVALUATION, PILOT = 0, 1
#: the P(best) rule as the backend builds it by default (MODELPICKER_STOP_RULE=belief)
BELIEF_RULE = {"rule": "belief", "confidence": 0.95, "patience": 3, "min_labels": 1}


@dataclasses.dataclass
class BenchConfig:
    """Parameters of one benchmark run (see :mod:`modelpicker_core.harness`).

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


def strategy_params(name: str, config: BenchConfig) -> dict[str, Any]:
    """Constructor parameters of ``name`` in a run: ``config.params[name]``, plus the stop's delta where taken."""
    params = dict(config.params.get(name, {}))
    if config.stop:
        for key, value in registry.stop_params(name, config.epsilons[0], config.delta).items():
            params.setdefault(key, value)
    return params


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

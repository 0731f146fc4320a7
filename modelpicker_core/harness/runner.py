"""Running a whole benchmark (every strategy, every realisation) and summarising it."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from ..loaders import Collection
from .config import EVALUATION, BenchConfig, check_config, strategy_params
from .pool import _pool_realisation, stop_results, stop_rule_settings
from .stream import _stream_realisation, stream_plan
from .workers import Mapper


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


def _tasks(mapper: Mapper, name: str, budgets: list[int], config: BenchConfig, size: int):
    """``(function, tasks, extra)``: what runs each realisation of ``name`` and the result's extra fields."""
    if config.setting == "pool":
        plan = (budgets, strategy_params(name, config), stop_rule_settings(config), config.stop_horizon)
        tasks = [(name, config.seed, EVALUATION, r, size, *plan) for r in range(config.realizations)]
        return _pool_realisation, tasks, {"protocol": "pool: pick after each label"}
    plan, extra = stream_plan(mapper, name, budgets, config, size)
    tasks = [(name, config.seed, EVALUATION, r, size, plan) for r in range(config.realizations)]
    return _stream_realisation, tasks, extra


def _run_strategy(mapper: Mapper, name: str, budgets: list[int], config: BenchConfig, size: int) -> dict[str, Any]:
    """One strategy's entry of the result (see :func:`run_benchmark`)."""
    start = time.perf_counter()
    func, tasks, extra = _tasks(mapper, name, budgets, config, size)
    rows = list(tqdm(mapper.imap(func, tasks), total=len(tasks), desc=f"{name} ({config.setting})",
                     disable=not config.progress, leave=False))
    hits, regrets, used = (np.array([row[k] for row in rows]) for k in range(3))
    identification = hits.mean(axis=0)
    entry = {
        "budgets": budgets,
        "identification": [round(float(v), 6) for v in identification],
        "regret": [round(float(v), 6) for v in regrets.mean(axis=0)],
        "labels": [round(float(v), 3) for v in used.mean(axis=0)],
        "labels_to_0.9": labels_to_target(budgets, identification),
        "seconds": round(time.perf_counter() - start, 3),
        **extra,
    }
    if config.setting == "pool" and config.stop:
        entry.update(stop_results(rows, config))
    return entry


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
    mapper = Mapper(collection, max(1, int(config.workers)))
    try:
        for name in config.strategies:
            result["strategies"][name] = _run_strategy(mapper, name, budgets, config, size)
    except BaseException:
        mapper.close(abort=True)
        raise
    mapper.close()
    return result


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

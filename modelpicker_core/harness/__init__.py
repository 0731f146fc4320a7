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

Modules: :mod:`.config` (the settings and their checks), :mod:`.workers`
(seeds, realisations, worker processes), :mod:`.stream` (the stream setting
and the calibration of ``C``), :mod:`.pool` (the pool setting and the stopping
rules' records), :mod:`.runner` (a whole run and its summary).  Every name is
importable from ``modelpicker_core.harness`` itself.
"""
from __future__ import annotations

from .config import BELIEF_RULE, EVALUATION, PILOT, SETTINGS, BenchConfig, check_config, strategy_params
from .pool import run_pool, stop_results, stop_rule_settings, stop_summary
from .runner import labels_to_target, run_benchmark, summary_table
from .stream import SCALING_RANGE, calibrate_scaling, run_stream, run_stream_uniform, stream_plan
from .workers import Mapper, _child, _strategy_seed, draw_items, realisation_seed, true_best

__all__ = [
    "BELIEF_RULE", "EVALUATION", "PILOT", "SCALING_RANGE", "SETTINGS", "BenchConfig", "Mapper", "_child",
    "_strategy_seed", "calibrate_scaling", "check_config", "draw_items", "labels_to_target", "realisation_seed",
    "run_benchmark", "run_pool", "run_stream", "run_stream_uniform", "stop_results", "stop_rule_settings",
    "stop_summary", "stream_plan", "strategy_params", "summary_table", "true_best",
]

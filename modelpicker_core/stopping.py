"""When to stop asking for labels: pure decision logic, no I/O.

The backend asks after every label: "is the belief sure enough, or is the
budget spent?"  The rule compares the probability that the current pick is a
true best model with a confidence level.  Even a calibrated P(best) (how well
``consensus``'s is: docs/benchmarks.md, "Is P(best) calibrated?") is biased
upwards the *first* time a noisy estimate crosses the level, so by default the
level must hold for 3 consecutive labels (see :class:`StoppingRule` and
docs/strategies.md, "Stopping rules").

Which probability is used: a strategy that offers ``p_top()`` (the probability
that a model is *a* true best, ties counting for every tied model) is asked
for it, else ``p_best()``; ties between exactly equal models would otherwise
split the probability and keep the rule from ever stopping.

Which model is named: :class:`StoppingRule` names the first model of largest
probability (lowest column on exact ties), :class:`CertifiedStop` the model of
smallest certified gap; neither draws from the strategy's generator, so a
decision can differ from :meth:`Strategy.best() <modelpicker_core.base.Strategy.best>`
under ties (see :mod:`modelpicker_core.votes`, "The pick").
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .votes import pick

#: reasons a :class:`Decision` can give
REASONS = ("certified", "confident", "budget", "exhausted", "continue")
#: stopping rules by name: the certified bound (default) and the belief's P(best)
RULES = ("certified", "belief")


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the stopping rule decided.

    Attributes
    ----------
    stop : True when no more labels should be asked for.
    model : index of the chosen model (the pick).
    p_best : probability that ``model`` is a true best model.
    gap : the certified bound on how far ``model`` is below the best (accuracy
        units, holds with probability ``>= 1 - delta``), when known.
    reason : ``"certified"`` (``gap <= epsilon``), ``"confident"`` (``p_best >= confidence``), ``"budget"`` (the
        label budget is spent), ``"exhausted"`` (no unlabelled item is left)
        or ``"continue"``.
    labels : labels the decision is based on.
    """

    stop: bool
    model: int
    p_best: float
    reason: str
    labels: int
    gap: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class StoppingRule:
    """Stop once the pick is a true best with probability >= ``confidence``, or the budget is spent.

    Parameters
    ----------
    confidence : required probability that the pick is a true best, in (0, 1).
    budget : largest number of labels to ask for, or None for no limit.
    min_labels : never stop for confidence before this many labels (a guard
        for strategies whose P(best) is not calibrated at zero labels).
    patience : number of consecutive labels (this one included) at which the
        pick's P(best) must have been >= ``confidence``.  Stopping the first
        time a noisy estimate crosses the level picks its upward fluctuations
        (optional stopping); asking for the level to hold a few labels
        counters that (default 3; measured in docs/benchmarks.md, "Stopping on
        P(best)", and docs/strategies.md, "Stopping rules").
    """

    name = "belief"

    def __init__(self, confidence: float = 0.95, budget: int | None = None, min_labels: int = 0,
                 patience: int = 3):
        confidence = float(confidence)
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        if budget is not None:
            if isinstance(budget, bool) or not float(budget).is_integer() or int(budget) < 0:
                raise ValueError(f"budget must be a non-negative integer or None, got {budget!r}")
            budget = int(budget)
        if isinstance(min_labels, bool) or not float(min_labels).is_integer() or int(min_labels) < 0:
            raise ValueError(f"min_labels must be a non-negative integer, got {min_labels!r}")
        if isinstance(patience, bool) or not float(patience).is_integer() or int(patience) < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        self.confidence = confidence
        self.budget = budget
        self.min_labels = int(min_labels)
        self.patience = int(patience)

    def decide(self, p_best: Any, labels: int, unlabelled: int | None = None, previous: Any = ()) -> Decision:
        """Decide from a P(best) vector.

        Parameters
        ----------
        p_best : ``(n_models,)`` probability that each model is a true best.
        labels : labels taken so far.
        unlabelled : items still unlabelled, when known (0 = nothing left to ask).
        previous : the pick's P(best) after each earlier label, oldest first
            (only the last ``patience - 1`` matter).
        """
        p = np.asarray(p_best, dtype=float)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"p_best must be a non-empty 1-D array (n_models,), got shape {p.shape}")
        if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1 + 1e-9:
            raise ValueError("p_best must hold probabilities in [0, 1]")
        if isinstance(labels, bool) or int(labels) != labels or labels < 0:
            raise ValueError(f"labels must be a non-negative integer, got {labels!r}")
        labels = int(labels)
        model = pick(p)   # read-only: ties go to the lowest column, no draw
        sure = float(min(p[model], 1.0))
        earlier = np.asarray(previous, dtype=float).ravel()[::-1][: self.patience - 1]
        held = earlier.size == self.patience - 1 and bool(np.all(earlier >= self.confidence))
        met = labels >= self.min_labels and sure >= self.confidence and held
        reason = _reason(met, "confident", labels, self.budget, unlabelled)
        return Decision(reason != "continue", model, sure, reason, labels)

    def decide_for(self, strategy: Any, unlabelled: int | None = None, previous: Any = (), gap: Any = None) -> Decision:
        """Decide from a strategy's belief (``p_top()`` when it has one, else ``p_best()``); ``gap`` is not read
        (the same call as :meth:`CertifiedStop.decide_for`)."""
        p = strategy.p_top() if hasattr(strategy, "p_top") else strategy.p_best()
        return self.decide(p, int(strategy.n_labels_), unlabelled, previous)

    def get_params(self) -> dict[str, Any]:
        return {"rule": self.name, "confidence": self.confidence, "budget": self.budget,
                "min_labels": self.min_labels, "patience": self.patience}


class CertifiedStop:
    """Stop once a model is certified at most ``epsilon`` below the best candidate, or the budget is spent.

    The guarantee (see :mod:`modelpicker_core.certificate`): when the rule stops
    for ``"certified"``, the named model's accuracy on the batch is at most
    ``epsilon`` below the best candidate's with probability ``>= 1 - delta``,
    whatever the candidates and the data, at whatever label count it stops.
    The model named is the one of smallest certified gap (ties: highest P(best)).

    Parameters
    ----------
    epsilon : tolerated accuracy gap in [0, 1) (0 = the named model is a true best).
    delta : error probability in (0, 1); the strategy's certificate must be built with it.
    budget, min_labels : as in :class:`StoppingRule`.
    """

    name = "certified"

    def __init__(self, epsilon: float = 0.01, delta: float = 0.05, budget: int | None = None, min_labels: int = 0):
        epsilon, delta = float(epsilon), float(delta)
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        self.epsilon, self.delta = epsilon, delta
        self.budget = _check_budget(budget)
        self.min_labels = _check_count(min_labels, "min_labels", 0)

    def decide(self, gap: Any, p_best: Any, labels: int, unlabelled: int | None = None) -> Decision:
        """Decide from the certified gaps ``(n_models,)`` and P(best) ``(n_models,)``."""
        gap = np.asarray(gap, dtype=float)
        p = np.asarray(p_best, dtype=float)
        if gap.ndim != 1 or gap.shape != p.shape or gap.size == 0:
            raise ValueError(f"gap and p_best must be non-empty (n_models,) arrays, got {gap.shape} and {p.shape}")
        labels = _check_count(labels, "labels", 0)
        model = int(np.lexsort((-p, gap))[0])
        met = labels >= self.min_labels and gap[model] <= self.epsilon + 1e-12
        reason = _reason(met, "certified", labels, self.budget, unlabelled)
        return Decision(reason != "continue", model, float(min(p[model], 1.0)), reason, labels, float(gap[model]))

    def decide_for(self, strategy: Any, unlabelled: int | None = None, previous: Any = (), gap: Any = None) -> Decision:
        """Decide from a strategy's certified ``gap()`` (or the ``gap`` given, for strategies without one)."""
        if gap is None:
            if not hasattr(strategy, "gap"):
                raise ValueError(f"strategy {strategy.name!r} has no certificate; pass its gap explicitly")
            if getattr(strategy, "delta", self.delta) != self.delta:
                raise ValueError(f"the strategy's certificate has delta {strategy.delta}, the rule {self.delta}")
            gap = strategy.gap()
        p = strategy.p_top() if hasattr(strategy, "p_top") else strategy.p_best()
        return self.decide(gap, p, int(strategy.n_labels_), unlabelled)

    def get_params(self) -> dict[str, Any]:
        return {"rule": self.name, "epsilon": self.epsilon, "delta": self.delta, "budget": self.budget,
                "min_labels": self.min_labels}


def _reason(met: bool, met_reason: str, labels: int, budget: int | None, unlabelled: int | None) -> str:
    """``met_reason`` when the rule's own condition is met, else the budget, exhaustion or ``"continue"``."""
    if met:
        return met_reason
    if budget is not None and labels >= budget:
        return "budget"
    if unlabelled is not None and int(unlabelled) <= 0:
        return "exhausted"
    return "continue"


def _check_budget(budget: Any) -> int | None:
    if budget is None:
        return None
    if isinstance(budget, bool) or not float(budget).is_integer() or int(budget) < 0:
        raise ValueError(f"budget must be a non-negative integer or None, got {budget!r}")
    return int(budget)


def _check_count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_rule(rule: str = "certified", *, epsilon: float = 0.01, delta: float = 0.05, confidence: float = 0.95,
              patience: int = 3, budget: int | None = None, min_labels: int = 0):
    """The stopping rule named ``rule`` from one set of settings (the backend and ``bench --stop`` both call this).

    ``"certified"``: :class:`CertifiedStop` (a guarantee); ``"belief"``:
    :class:`StoppingRule`, P(best) held for ``patience`` labels (a belief, not a guarantee).
    """
    if rule == "certified":
        return CertifiedStop(epsilon, delta, budget, min_labels)
    if rule == "belief":
        return StoppingRule(confidence, budget, min_labels, patience)
    raise ValueError(f"unknown stopping rule {rule!r}; choose one of {', '.join(RULES)}")

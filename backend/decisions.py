"""The stop decision of a round, and how new labels reopen it.

After every refresh the stopping rule (:class:`modelpicker_core.stopping.StoppingRule`)
is asked again.  A round's history is a list of records; a record is added
only when the answer changes:

* ``"stop"``: the rule says stop (P(best) reached the confidence, the label
  budget is spent, or no unlabelled task is left) and the round was not
  stopped, or it was stopped with another candidate chosen;
* ``"reopened"``: the round was stopped and labels that arrived afterwards
  make the rule say "continue" (e.g. P(best) fell below the confidence).

Labels that arrive after a stop are always stored; they only reopen the
decision when they change the rule's answer.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from modelpicker_core.stopping import Decision

STOP, REOPENED = "stop", "reopened"
#: a line for each reason the stopping rule can give; the rule reads the strategy's ``p_top()``
#: (the probability of being *a* best candidate, ties counted) when it has one, which can exceed
#: the ranking's P(best) column when candidates tie
REASON_TEXT = {
    "certified": "guaranteed at most {gap:.1f} points below the best candidate on this batch "
                 "(probability >= {level:.0%}; epsilon {epsilon:.1f} points)",
    "confident": "its probability of being a best candidate (ties counted) reached {confidence:.2f} "
                 "(a belief, not a guarantee)",
    "budget": "the label budget of {budget} labels is spent",
    "exhausted": "every task of the round is labelled",
}


def reason_text(reason: str, rule: dict[str, Any], gap: float | None = None, p_rule: float | None = None,
                labels: int | None = None, previous: Any = ()) -> str:
    """A short human sentence for a :class:`Decision` reason under ``rule`` (the rule's ``get_params()``).

    For ``"continue"`` the sentence names what actually holds the stop back
    (see :func:`holding_back`), so it needs ``p_rule`` (the value the rule
    compared, the pick's ``p_top``), ``labels`` and, for the belief rule,
    ``previous`` (the pick's earlier values, oldest first).
    """
    if reason == "continue":
        return holding_back(rule, gap, p_rule, labels, previous)
    return REASON_TEXT[reason].format(
        confidence=rule.get("confidence", 0.0), budget=rule.get("budget"),
        gap=100.0 * (gap if gap is not None else 1.0), epsilon=100.0 * rule.get("epsilon", 0.0),
        level=1.0 - rule.get("delta", 0.0))


def holding_back(rule: dict[str, Any], gap: float | None, p_rule: float | None, labels: int | None,
                 previous: Any = ()) -> str:
    """What keeps the rule from stopping, each condition that fails (joined by "; ").

    Mirrors :class:`modelpicker_core.stopping.StoppingRule` (P(best) >=
    confidence, held for ``patience`` consecutive labels, at least
    ``min_labels`` labels) and ``CertifiedStop`` (bound <= epsilon, at least
    ``min_labels`` labels).  Saying "P(best) is below the confidence" while
    P(best) was 0.98 and only the patience was missing misled users.
    """
    parts = []
    min_labels = int(rule.get("min_labels") or 0)
    if rule.get("rule") == "certified":
        epsilon = float(rule.get("epsilon", 0.0))
        if gap is None or gap > epsilon + 1e-12:
            shown = "not computed" if gap is None else f"{100.0 * gap:.1f} points below the best candidate"
            parts.append(f"the guaranteed bound ({shown}) is above epsilon ({100.0 * epsilon:.1f} points)")
    else:
        confidence = float(rule.get("confidence", 0.0))
        if p_rule is None or p_rule < confidence:
            shown = "unknown" if p_rule is None else f"{p_rule:.3f}"
            parts.append(f"P(best) (ties counted) is {shown}, below the confidence {confidence:.2f}")
        else:
            patience = int(rule.get("patience") or 1)
            earlier = [float(v) for v in np.asarray(previous, dtype=float).ravel()][::-1][:patience - 1]
            streak = 1
            for value in earlier:
                if value < confidence:
                    break
                streak += 1
            if streak < patience:
                parts.append(f"P(best) (ties counted) is {p_rule:.3f}, at or above the confidence "
                             f"{confidence:.2f}, for {streak} of the {patience} consecutive labels a stop needs "
                             f"(MODELPICKER_PATIENCE)")
    if labels is not None and labels < min_labels:
        parts.append(f"{labels} of the {min_labels} labels a stop needs at least (MODELPICKER_MIN_LABELS)")
    return "; ".join(parts) or "the stopping rule asks for more labels"


def next_record(last: dict | None, decision: Decision, candidate: str) -> str | None:
    """The state of the record to add after ``decision``, or None when nothing changed.

    Parameters
    ----------
    last : the round's latest record (``{"state", "candidate", ...}``), or None.
    decision : the stopping rule's answer now.
    candidate : name of ``decision.model``.
    """
    stopped = last is not None and last["state"] == STOP
    if decision.stop and (not stopped or last["candidate"] != candidate):
        return STOP
    if not decision.stop and stopped:
        return REOPENED
    return None


def is_stopped(last: dict | None) -> bool:
    """Whether a round whose latest record is ``last`` is stopped."""
    return last is not None and last["state"] == STOP


@dataclasses.dataclass(frozen=True)
class LiveDecision:
    """What the stopping rule says now about a round (not recorded); :meth:`to_dict` is its JSON.

    ``p_best`` is the named candidate's P(best) (its ranking row); ``p_top`` what the rule compared
    (its probability of being *a* best candidate, ties counted); ``gap`` its certified bound (accuracy
    units, None when not computed); ``rule``, ``confidence``, ``epsilon``, ``delta``, ``budget`` the
    rule's settings; ``unscored_tasks`` the round's tasks a candidate cannot predict (left out).
    """

    stop: bool
    candidate: str
    p_best: float
    p_top: float
    gap: float | None
    reason: str
    reason_text: str
    labels: int
    rule: str
    confidence: float | None
    epsilon: float | None
    delta: float | None
    budget: int | None
    unscored_tasks: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON of /rankings' ``decision`` (fields in declaration order)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RoundDecision:
    """The live decision of a round after a refresh, with the round and its latest record.

    ``state`` is the latest record's (``"stop"``, ``"reopened"``, or None before any); ``recorded``
    that record, JSON-ready (None before any).
    """

    live: LiveDecision
    round: int
    state: str | None
    recorded: dict | None

    def to_dict(self) -> dict[str, Any]:
        """The live decision's JSON plus ``round``, ``state`` and ``recorded``."""
        return {**self.live.to_dict(), "round": self.round, "state": self.state, "recorded": self.recorded}


def decision_summary(decision: Decision, candidate: str, rule: dict[str, Any], p_best: float | None = None,
                     previous: Any = ()) -> LiveDecision:
    """The live answer of the rule (for /rankings, /export and the write-back).

    ``rule`` is the stopping rule's ``get_params()``; ``gap`` is the named
    candidate's certified bound (accuracy units, None when not computed).
    ``p_best`` is the named candidate's P(best), the value of its row in the
    ranking (default: the rule's value); ``p_top`` is what the rule compared
    with the confidence (its probability of being *a* best candidate, ties
    counted).  ``previous`` as in :func:`reason_text`.
    """
    p_rule = float(decision.p_best)
    return LiveDecision(
        stop=decision.stop, candidate=candidate, p_best=p_rule if p_best is None else float(p_best), p_top=p_rule,
        gap=decision.gap, reason=decision.reason,
        reason_text=reason_text(decision.reason, rule, decision.gap, p_rule, decision.labels, previous),
        labels=decision.labels, rule=rule.get("rule", "belief"), confidence=rule.get("confidence"),
        epsilon=rule.get("epsilon"), delta=rule.get("delta"), budget=rule.get("budget"))

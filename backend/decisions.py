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

from typing import Any

from modelpicker_core.stopping import Decision

STOP, REOPENED = "stop", "reopened"
#: a line for each reason the stopping rule can give; the rule reads the strategy's ``p_top()``
#: when it has one, which can exceed the ranking's P(best) column when candidates tie
REASON_TEXT = {
    "certified": "guaranteed at most {gap:.1f} points below the best candidate on this batch "
                 "(probability >= {level:.0%}; epsilon {epsilon:.1f} points)",
    "confident": "its probability of being a best candidate (ties counted) reached {confidence:.2f} "
                 "(a belief, not a guarantee)",
    "budget": "the label budget of {budget} labels is spent",
    "exhausted": "every task of the round is labelled",
    "continue": "P(best) is below the confidence {confidence:.2f}",
    "continue_certified": "the guaranteed bound ({gap:.1f} points below the best candidate) is above "
                          "epsilon ({epsilon:.1f} points)",
}


def reason_text(reason: str, rule: dict[str, Any], gap: float | None = None) -> str:
    """A short human sentence for a :class:`Decision` reason under ``rule`` (the rule's ``get_params()``)."""
    certified = rule.get("rule") == "certified"
    key = "continue_certified" if reason == "continue" and certified else reason
    return REASON_TEXT[key].format(
        confidence=rule.get("confidence", 0.0), budget=rule.get("budget"),
        gap=100.0 * (gap if gap is not None else 1.0), epsilon=100.0 * rule.get("epsilon", 0.0),
        level=1.0 - rule.get("delta", 0.0))


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


def decision_summary(decision: Decision, candidate: str, rule: dict[str, Any]) -> dict[str, Any]:
    """The live answer of the rule, JSON-ready (for /rankings and the write-back).

    ``rule`` is the stopping rule's ``get_params()``; ``gap`` is the named
    candidate's certified bound (accuracy units, None when not computed).
    """
    return {"stop": decision.stop, "candidate": candidate, "p_best": decision.p_best,
            "gap": decision.gap, "reason": decision.reason,
            "reason_text": reason_text(decision.reason, rule, decision.gap),
            "labels": decision.labels, "rule": rule.get("rule", "belief"), "confidence": rule.get("confidence"),
            "epsilon": rule.get("epsilon"), "delta": rule.get("delta"), "budget": rule.get("budget")}

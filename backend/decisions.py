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
    "confident": "its probability of being a best candidate (ties counted) reached {confidence:.2f}",
    "budget": "the label budget of {budget} labels is spent",
    "exhausted": "every task of the round is labelled",
    "continue": "P(best) is below the confidence {confidence:.2f}",
}


def reason_text(reason: str, confidence: float, budget: int | None) -> str:
    """A short human sentence for a :class:`Decision` reason."""
    return REASON_TEXT[reason].format(confidence=confidence, budget=budget)


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


def decision_summary(decision: Decision, candidate: str, confidence: float, budget: int | None) -> dict[str, Any]:
    """The live answer of the rule, JSON-ready (for /rankings and the write-back)."""
    return {"stop": decision.stop, "candidate": candidate, "p_best": decision.p_best,
            "reason": decision.reason, "reason_text": reason_text(decision.reason, confidence, budget),
            "labels": decision.labels, "confidence": confidence, "budget": budget}

"""Pure logic of issue 4: when a refresh is due (fake clock), and when a decision is recorded or reopened."""
from __future__ import annotations

import pytest

from backend.debounce import RefreshPlan, plan_refresh
from backend.decisions import REOPENED, STOP, next_record
from modelpicker_core.stopping import Decision


@pytest.mark.parametrize("changes, seconds, expected", [
    (0, None, RefreshPlan(False, None)),      # nothing changed
    (0, 100.0, RefreshPlan(False, None)),
    (1, None, RefreshPlan(True, 0.0)),        # no refresh yet
    (5, 0.1, RefreshPlan(True, 0.0)),         # N labels
    (7, 0.1, RefreshPlan(True, 0.0)),
    (1, 10.0, RefreshPlan(True, 0.0)),        # T seconds
    (2, 4.0, RefreshPlan(False, 6.0)),        # wait for the rest of T
])
def test_refresh_is_due_after_n_labels_or_t_seconds(changes, seconds, expected):
    assert plan_refresh(changes, seconds, every_labels=5, min_seconds=10.0) == expected


def test_a_burst_collapses_with_a_fake_clock():
    """Labels every 0.5 s with N=4, T=3: refreshes follow every 4th label (N first), never more often."""
    now, last, changes_at_refresh, refreshes = 0.0, None, 0, []
    for label in range(1, 13):
        now += 0.5
        plan = plan_refresh(label - changes_at_refresh, None if last is None else now - last, 4, 3.0)
        if plan.due:
            refreshes.append(label)
            last, changes_at_refresh = now, label
    assert refreshes == [1, 5, 9]


def test_slow_labels_each_refresh_when_t_has_passed():
    now, last, at, refreshes = 0.0, 0.0, 0, []
    for label in range(1, 4):
        now += 5.0
        if plan_refresh(label - at, now - last, 4, 3.0).due:
            refreshes.append(label)
            last, at = now, label
    assert refreshes == [1, 2, 3]


@pytest.mark.parametrize("kwargs, message", [
    ({"every_labels": 0, "min_seconds": 1.0}, "every_labels"),
    ({"every_labels": 1, "min_seconds": -1.0}, "min_seconds"),
])
def test_bad_debounce_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_refresh(1, 1.0, **kwargs)


def _decision(stop: bool, model: int = 0, reason: str | None = None) -> Decision:
    return Decision(stop, model, 0.97 if stop else 0.6, reason or ("confident" if stop else "continue"), 10)


def test_decision_records_only_when_the_answer_changes():
    assert next_record(None, _decision(False), "a") is None
    assert next_record(None, _decision(True), "a") == STOP
    stopped = {"state": STOP, "candidate": "a"}
    assert next_record(stopped, _decision(True), "a") is None          # still stopped, same pick
    assert next_record(stopped, _decision(True, 1), "b") == STOP       # new labels changed the pick
    assert next_record(stopped, _decision(False), "a") == REOPENED     # new labels reopened it
    reopened = {"state": REOPENED, "candidate": "a"}
    assert next_record(reopened, _decision(False), "a") is None
    assert next_record(reopened, _decision(True), "a") == STOP

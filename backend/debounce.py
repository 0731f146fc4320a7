"""When a queue refresh is due: a pure function of label counts and a clock.

A refresh rescores every unlabelled task and pushes the new order to Label
Studio, which costs seconds on a large project, so it is not run for every
label of a fast team.  The rule, with ``N`` = ``MODELPICKER_REFRESH_EVERY_LABELS``
and ``T`` = ``MODELPICKER_REFRESH_MIN_SECONDS``:

* nothing changed since the last refresh: no refresh;
* ``N`` or more label changes since the last refresh: due now;
* fewer, but ``T`` seconds or more since the last refresh started (or no
  refresh yet): due now;
* otherwise the refresh waits ``T - elapsed`` seconds (with rq it is enqueued
  with that delay, which needs ``rq worker --with-scheduler``; with inline
  jobs the next label event re-checks).

So a refresh follows at most every ``N`` labels or ``T`` seconds, whichever
comes first, and at most one refresh per project waits in the queue at a
time (the service coalesces); a refresh reads the newest labels when it runs,
so a burst of labels collapses into one refresh.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RefreshPlan:
    """What to do after a label change.

    Attributes
    ----------
    due : refresh now.
    delay : seconds to wait before refreshing when not due; None when no
        refresh is needed at all.
    """

    due: bool
    delay: float | None


def plan_refresh(changes_since: int, seconds_since: float | None, every_labels: int,
                 min_seconds: float) -> RefreshPlan:
    """Decide whether a refresh is due.

    Parameters
    ----------
    changes_since : label changes (created, updated or deleted annotations)
        since the last refresh started.
    seconds_since : seconds since the last refresh started; None if there was none.
    every_labels : ``N``, at least 1.
    min_seconds : ``T``, at least 0.
    """
    if every_labels < 1:
        raise ValueError(f"every_labels must be >= 1, got {every_labels}")
    if min_seconds < 0:
        raise ValueError(f"min_seconds must be >= 0, got {min_seconds}")
    if changes_since <= 0:
        return RefreshPlan(False, None)
    if changes_since >= every_labels or seconds_since is None or seconds_since >= min_seconds:
        return RefreshPlan(True, 0.0)
    return RefreshPlan(False, float(min_seconds - seconds_since))

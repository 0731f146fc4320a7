"""Every candidate's answer for stored tasks: computed in chunks, cached in the store, failures recorded.

One job: turn task data into ``(task, candidate cache key, choice)`` rows.
Candidates predict :data:`PREDICT_CHUNK` tasks per call; a chunk that fails is
retried task by task so one bad task cannot block the others.  A candidate
that fails on :data:`FAILED_IN_A_ROW` tasks in a row with no success before
them (its model server is down) fails as a whole: that is not the tasks' fault,
so nothing is recorded against them and the next computation tries again.
"""
from __future__ import annotations

import logging

from .labelconfig import ChoicesControl
from .pool import Pool, PredictionError
from .store import Store

logger = logging.getLogger(__name__)

#: tasks per call to a candidate's source
PREDICT_CHUNK = 256
#: a candidate whose source fails on this many tasks in a row, with no success before, fails as a whole
FAILED_IN_A_ROW = 8

#: ``(task, cache key, choice)`` per answer and ``(task, cache key, message)`` per failed task
Rows = list[tuple[int, str, str]]


def predict_one_by_one(cand, todo: list[dict], choices: ChoicesControl) -> tuple[list, Rows]:
    """``(values, failures)``: the candidate's answer per task (None where it failed) and
    ``(task, cache key, message)`` per failure; raises when the candidate fails as a whole."""
    values, failures, streak = [], [], 0
    for task in todo:
        try:
            values.append(cand.predict_tasks([task], choices)[0])
            streak = 0
        except PredictionError as exc:
            if cand.source.field in task["data"]:  # the source itself failed, not a missing field
                streak += 1
                if streak >= FAILED_IN_A_ROW and all(v is None for v in values):
                    raise PredictionError(f"{exc} (and the {streak - 1} tasks before it: candidate "
                                          f"{cand.name!r} fails as a whole, not on single tasks)") from None
            values.append(None)
            failures.append((task["id"], cand.cache_key, str(exc)))
    return values, failures


def predict_chunk(pool: Pool, choices: ChoicesControl, chunk: list[int], data: dict[int, dict],
                  cached: dict[int, dict[str, str]]) -> tuple[Rows, Rows, PredictionError | None]:
    """Every candidate's answer for ``chunk`` (tasks in ``data``) lacking in ``cached``; in memory, no store.

    Returns ``(rows, errors, whole)``: answer rows, failure rows, and the
    error of a candidate that fails as a whole (then the rows of the
    candidates before it, and nothing after).
    """
    rows, errors = [], []
    for cand in pool.candidates:
        todo = [{"id": t, "data": data[t]} for t in chunk if t in data and cand.cache_key not in cached.get(t, {})]
        if not todo:
            continue
        try:
            values = cand.predict_tasks(todo, choices)
        except PredictionError:
            try:
                values, failed_here = predict_one_by_one(cand, todo, choices)
            except PredictionError as exc:
                return rows, errors, exc
            errors.extend(failed_here)
            for _, _, message in failed_here:
                logger.error("%s", message)
        rows.extend((task["id"], cand.cache_key, value) for task, value in zip(todo, values) if value is not None)
    return rows, errors, None


def predict_in_memory(pool: Pool, choices: ChoicesControl, data: dict[int, dict],
                      cached: dict[int, dict[str, str]]) -> tuple[Rows, Rows]:
    """``(rows, errors)`` for every task of ``data`` (chunk by chunk, nothing stored).

    Raises the :class:`PredictionError` of a candidate that fails as a whole.
    """
    rows, errors = [], []
    order = list(data)
    for start in range(0, len(order), PREDICT_CHUNK):
        chunk_rows, chunk_errors, whole = predict_chunk(pool, choices, order[start:start + PREDICT_CHUNK], data,
                                                        cached)
        if whole is not None:
            raise whole
        rows += chunk_rows
        errors += chunk_errors
    return rows, errors


def compute_predictions(store: Store, pool: Pool, choices: ChoicesControl, project: int,
                        task_ids: list[int] | None = None) -> int:
    """Cache every candidate's prediction for stored tasks that lack one; returns tasks tried.

    ``task_ids`` limits the work to those tasks (None = all of the project).
    A task a candidate cannot predict is recorded with the error
    (:func:`task_prediction_errors`) and skipped by later computations until
    its data or the label config changes; it stays out of the belief.  What
    the other candidates answered is stored even when one fails as a whole.
    """
    failed = {e["task"] for e in store.prediction_errors(project, pool.cache_keys)}
    missing = [t for t in store.tasks_without_predictions(project, pool.cache_keys, task_ids) if t not in failed]
    if not missing:
        return 0
    cached = store.predictions(project, missing)
    for start in range(0, len(missing), PREDICT_CHUNK):
        chunk = missing[start:start + PREDICT_CHUNK]
        rows, errors, whole = predict_chunk(pool, choices, chunk, store.task_data(project, chunk), cached)
        store.save_predictions(project, rows)
        if whole is not None:
            raise whole
        if errors:
            store.save_prediction_errors(project, errors)
    return len(missing)


def task_prediction_errors(store: Store, pool: Pool, project: int, task_ids: list[int] | None = None) -> list[dict]:
    """``[{"task", "candidate", "error"}]``: tasks left out of the belief because a candidate
    cannot predict them (candidate by name); of ``task_ids``, or all."""
    names = dict(zip(pool.cache_keys, pool.names))
    wanted = None if task_ids is None else set(task_ids)
    return [{"task": e["task"], "candidate": names[e["candidate"]], "error": e["error"]}
            for e in store.prediction_errors(project, pool.cache_keys)
            if wanted is None or e["task"] in wanted]

"""The predictions the backend writes into Label Studio: the queue order (priority scores) and the
candidates' answers.  The ranking block of the project description is :mod:`backend.description_block`'s.

Every call goes through :class:`backend.labelstudio_api.LabelStudioAPI`.
The order of the queue switch matters (Label Studio serves by the
predictions of the project's current ``model_version``, and only re-fetches
predictions itself when the backend's version differs from the project's):

1. import one priority prediction per unlabelled task under the new version;
2. PATCH the project's ``model_version`` to it (and sampling to uncertainty
   sampling): from now on the queue follows the new order;
3. delete the superseded priority versions of this project, each only once
   it has been out of the queue for a grace period (:class:`RetiredVersions`).

Between 1 and 2 the queue still follows the old, complete order, and after 2
the new one is complete, so there is no moment without an order.  Step 2 also
turns Label Studio's prelabelling off (see
:meth:`backend.labelstudio_projects.ProjectCalls.set_queue_version`), so the
labelling stream never submits a priority prediction as an annotation's
parent and a deletion can never make a submit fail there.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .labelstudio_api import LabelStudioAPI


def is_priority_version(version: str, project: int) -> bool:
    """Whether ``version`` names priority predictions of ``project`` (ours, so safe to delete).

    The backend's versions are ``modelpicker-p<project>-...`` (see
    :func:`backend.belief.model_version`); any other version (a candidate's
    predictions, another tool's) is never touched.
    """
    return version.startswith(f"modelpicker-p{project}-")


def priority_predictions(task_ids: Sequence[int], scores: Sequence[float], version: str) -> list[dict]:
    """Label Studio predictions (empty result) carrying each task's queue ``score`` (lower = served first)."""
    return [{"task": int(t), "result": [], "score": float(s), "model_version": version}
            for t, s in zip(task_ids, scores)]


def switch_queue(api: LabelStudioAPI, project: int, task_ids: np.ndarray, scores: np.ndarray,
                 version: str) -> dict[str, Any]:
    """Steps 1 and 2: push the priorities under ``version``, then make the project follow it.

    Parameters
    ----------
    task_ids, scores : ``(n_unlabelled,)`` Label Studio task ids and their queue scores.
    version : the new priority version.

    Returns ``{"pushed", "seconds": {"push", "switch"}}``.  With no task to
    push nothing changes: Label Studio 1.23.2 refuses to switch to a version
    without predictions, and an empty queue needs no order.
    """
    seconds = {"push": 0.0, "switch": 0.0}
    if len(task_ids) == 0:
        return {"pushed": 0, "seconds": seconds}
    start = time.perf_counter()
    pushed = api.import_predictions(project, priority_predictions(task_ids, scores, version))
    seconds["push"] = time.perf_counter() - start
    start = time.perf_counter()
    api.set_queue_version(project, version)
    seconds["switch"] = time.perf_counter() - start
    return {"pushed": pushed, "seconds": seconds}


class RetiredVersions:
    """When each superseded priority version left the queue, as this process first saw it.

    A task opened from the data manager shows the priority prediction of the
    version the queue followed then, and Label Studio submits it as the
    annotation's ``parent_prediction``; deleting that prediction meanwhile makes
    the submit fail.  So a superseded version is deleted only ``grace`` seconds
    after it was first seen superseded.  Kept in memory: after a restart (or in
    another worker) the clock starts again, which only keeps a version longer.
    """

    def __init__(self):
        self._since: dict[tuple[int, str], float] = {}

    def due(self, project: int, superseded: Sequence[str], now: float, grace: float) -> list[str]:
        """The versions of ``superseded`` first seen superseded at least ``grace`` seconds before ``now``.

        They are forgotten here (the caller deletes them); one that survives a
        failed deletion starts a new grace period, which only keeps it longer.
        """
        for key in [k for k in self._since if k[0] == project and k[1] not in superseded]:
            del self._since[key]  # gone (deleted elsewhere)
        for version in superseded:
            self._since.setdefault((project, version), now)
        due = [v for v in superseded if now - self._since[(project, v)] >= grace]
        for version in due:
            del self._since[(project, version)]
        return due

    def waiting(self, project: int) -> bool:
        """Whether superseded versions of ``project`` are being kept for their grace period."""
        return any(k[0] == project for k in self._since)


def delete_superseded(api: LabelStudioAPI, project: int, version: str, keep: Sequence[str] = (),
                      due: Callable[[list[str]], list[str]] | None = None) -> dict[str, Any]:
    """Step 3: delete the priority versions of ``project`` but ``version`` and ``keep`` that are ``due``.

    ``due(superseded)`` picks the versions old enough to go (default: all; see
    :class:`RetiredVersions`); the others are kept for a later refresh.  With
    ``push_limit`` priorities per version each deletion is one short write.
    Returns ``{"superseded": [deleted versions], "kept": [versions kept for now], "deleted", "seconds": {"delete"}}``.
    """
    start = time.perf_counter()
    keep = {version, *keep}
    superseded = [v for v in api.model_versions(project) if v not in keep and is_priority_version(v, project)]
    going = superseded if due is None else due(superseded)
    deleted = sum(api.delete_model_version(project, v) for v in going)
    return {"superseded": going, "kept": [v for v in superseded if v not in going], "deleted": deleted,
            "seconds": {"delete": time.perf_counter() - start}}


def candidate_predictions(task_ids: Sequence[int], answers: dict[int, dict[str, str]],
                          candidates: Sequence[tuple[str, str]], from_name: str, to_name: str) -> list[dict]:
    """Every candidate's answer per task as Label Studio predictions, ``model_version`` = candidate name.

    ``answers`` is ``task -> cache key -> Choice value``; ``candidates`` is
    ``[(name, cache key)]``.  Tasks without a cached answer are left out.
    """
    out = []
    for task in task_ids:
        row = answers.get(int(task), {})
        for name, key in candidates:
            if key in row:
                out.append({"task": int(task), "model_version": name, "score": 1.0,
                            "result": choice_result(from_name, to_name, row[key])})
    return out


def choice_result(from_name: str, to_name: str, value: str) -> list[dict]:
    """The ``result`` of a single-choice answer for Label Studio."""
    return [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [value]}}]

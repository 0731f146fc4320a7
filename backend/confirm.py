"""Confirmation mode: a webhook is a hint to re-read, Label Studio's API is the truth.

Anyone who can reach the backend can post a webhook, so with Label Studio's
API configured (``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``) the labels
and tasks of a webhook's payload are never stored.  The webhook stores a
*hint* (project, the task and annotation ids it names, action, time) and
commits it before answering; a confirmation job then reads those tasks from
Label Studio and makes the store mirror Label Studio for exactly those tasks
(:meth:`backend.store.SQLiteStore.mirror_tasks`):

* annotations Label Studio has are stored with Label Studio's ``updated_at``;
* annotations of a read task that Label Studio no longer has are removed;
* a task Label Studio does not have is removed (no tombstone);
* ids neither the store nor Label Studio knows change nothing.

So a forged event can at most make the backend re-read what Label Studio
already says.  Hints are removed in the same transaction that stores their
tasks' confirmation: when Label Studio cannot be read they stay and are tried
again (next job, next refresh, start-up, ``POST /sync``), so an acknowledged
label is never lost.

This module holds the pure parts (which ids a hint names, turning Label
Studio's answer into store rows) and
:func:`confirm_project`, the read-and-mirror step; the service adds locking,
the label config and what follows (predictions, refresh).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .errors import RequestError
from .events import Event, annotation_versions
from .labelconfig import ChoicesControl
from .store import AnnotationVersion

logger = logging.getLogger(__name__)

#: actions whose hint asks to re-read the project's label config as well
CONFIG_ACTIONS = ("PROJECT_UPDATED",)
#: tasks read per confirmation job at most; the rest stay pending for the next job
MAX_TASKS_PER_JOB = 5000
#: seconds a TASKS_CREATED hint whose tasks Label Studio does not show yet is kept for another read
CREATED_PATIENCE_SECONDS = 120.0


def hint_of(event: Event) -> tuple[list[int], list[int], bool]:
    """``(task ids, annotation ids, re-read config)`` a webhook names; nothing of its content is kept."""
    tasks = {t for t, _ in event.tasks} | set(event.deleted_tasks)
    tasks |= {a["task"] for a in event.annotations if isinstance(a.get("task"), int)}
    annotations = {a["id"] for a in event.annotations} | set(event.deleted_annotations)
    return sorted(tasks), sorted(annotations), event.action in CONFIG_ACTIONS


def confirmed_rows(read: dict[int, dict], wanted: Iterable[int], choices: ChoicesControl
                   ) -> tuple[dict[int, tuple[dict, list[AnnotationVersion]]], list[int], list[str]]:
    """Label Studio's answer as ``(present, gone, problems)`` for :meth:`~backend.store.SQLiteStore.mirror_tasks`.

    An annotation Label Studio holds but ModelPicker cannot read (two choices,
    a value that is not a Choice) is kept as "no label" and reported in
    ``problems``: it must not hold up the other tasks, and it is Label
    Studio's record, so it is not dropped either.
    """
    present: dict[int, tuple[dict, list[AnnotationVersion]]] = {}
    problems: list[str] = []
    for task in sorted(set(wanted)):
        item = read.get(task)
        if item is None:
            continue
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        versions = []
        for raw in item.get("annotations") or []:
            if not isinstance(raw, dict) or isinstance(raw.get("id"), bool) or not isinstance(raw.get("id"), int):
                problems.append(f"task {task}: an annotation without an integer id")
                continue
            raw = {**raw, "task": task}
            try:
                versions.extend(annotation_versions([raw], choices))
            except RequestError as exc:
                problems.append(exc.message)
                versions.append(AnnotationVersion(annotation=raw["id"], task=task, choice=None, version=None))
        present[task] = (data, versions)
    gone = sorted(set(wanted) - set(present))
    return present, gone, problems


def confirm_project(store: Any, api: Any, project: int, choices: ChoicesControl, clock: Callable[[], float],
                    on_new_tasks: Callable[[list[int], list[dict]], Any] | None = None,
                    max_tasks: int | None = None) -> dict:
    """Read the tasks the project's pending hints name and mirror them; remove the hints confirmed.

    Raises :class:`~backend.labelstudio_api.LabelStudioAPIError` when Label
    Studio cannot be read: then nothing is stored and every hint stays.
    ``on_new_tasks(new task ids, hints)`` runs inside the storing
    transaction before the tasks are stored (the service starts a new round
    there when a fresh batch follows a decision); its answer is returned as
    ``"new_round"``.  ``max_tasks`` (default :data:`MAX_TASKS_PER_JOB`, read at
    the call) bounds the tasks one call reads.  Returns ``{"hints", "tasks_read", "changed", "removed",
    "tasks_removed", "stored", "new_tasks", "new_round", "problems",
    "waiting", "pending"}``; ``"hints"`` counts the hints confirmed and
    ``"waiting"`` those kept because their new tasks are not visible yet
    (:func:`not_yet_visible`).
    """
    max_tasks = MAX_TASKS_PER_JOB if max_tasks is None else max_tasks
    hints = store.pending_hints(project)
    if not hints:
        return {"hints": 0, "tasks_read": 0, "changed": 0, "removed": 0, "tasks_removed": 0, "stored": [],
                "new_tasks": [], "new_round": None, "problems": [], "waiting": 0, "pending": 0}
    # take hints oldest first until the task budget is used; the rest wait for the next job
    taken, wanted = [], set()
    for hint in hints:
        names = set(hint["tasks"]) | store.tasks_of_annotations(project, hint["annotations"])
        if taken and len(wanted | names) > max_tasks:
            break
        taken.append(hint)
        wanted |= names
    read_at = clock()
    read = api.tasks_by_id(project, sorted(wanted)) if wanted else {}
    present, gone, problems = confirmed_rows(read, wanted, choices)
    known = store.stored_task_ids(project, present)
    new_tasks = sorted(set(present) - known)
    waiting = not_yet_visible(taken, set(present) | store.stored_task_ids(project, wanted), read_at)
    new_round = None
    with store.transaction():
        if new_tasks and on_new_tasks is not None:
            new_round = on_new_tasks(new_tasks, taken)
        outcome = store.mirror_tasks(project, present, gone, read_at)
        store.remove_hints([h["id"] for h in taken if h["id"] not in waiting])
        store.count_label_changes(project, outcome["changed"] + outcome["removed"])
    for problem in problems:
        logger.warning("project %s: Label Studio holds an annotation ModelPicker cannot read: %s", project, problem)
    return {"hints": len(taken) - len(waiting), "tasks_read": len(wanted), **outcome, "new_tasks": new_tasks,
            "new_round": new_round, "problems": problems, "waiting": len(waiting),
            "pending": store.pending_count(project)}


def not_yet_visible(hints: list[dict], seen: set[int], now: float, patience: float = CREATED_PATIENCE_SECONDS
                    ) -> set[int]:
    """Ids of the ``TASKS_CREATED`` hints to keep: younger than ``patience`` s and naming a task that neither
    Label Studio's answer nor the store has (``seen``).

    Label Studio 1.23.2 sends ``TASKS_CREATED`` from inside the import's
    database transaction (``data_import/functions.py``: the web UI's file
    import, the reimport): a read made at once can come before the commit and
    miss every new task.  Such a hint stays pending and is read again later;
    a task still absent after ``patience`` seconds was never created (or
    deleted since), and its hint goes.
    """
    return {h["id"] for h in hints if h["action"] == "TASKS_CREATED" and now - float(h["received_at"]) < patience
            and not set(h["tasks"]) <= seen}

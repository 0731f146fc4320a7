"""POST /sync: make the store mirror Label Studio for every labelled task (after downtime, lost webhooks).

First the pending hints are confirmed, then Label Studio's JSON export (tasks
with annotations) is mirrored task by task
(:meth:`~backend.store.SQLiteStore.mirror_tasks`): each exported task's
annotations become exactly Label Studio's, with its ``updated_at``; stored
tasks with annotations that the export does not list are read by id, so a
task Label Studio deleted is removed and one whose annotations were deleted
loses them; tasks Label Studio lists that the backend never stored (a lost
``TASKS_CREATED``) are read and stored too.  Nothing a webhook caller sent (values, tombstones, future
``updated_at``) survives a sync.  Tasks new to the backend join the current
round.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import ls_status
from .confirm import confirmed_rows
from .errors import RequestError
from .events import MAX_ID

logger = logging.getLogger(__name__)

#: a web process syncs a project when no process sharing the store has within this share of the period (each
#: process's loop comes round every period, give or take a sweep interval, so the whole period would skip some)
SYNC_CLAIM_SHARE = 0.9
#: seconds after which a sync lists every task even when Label Studio's task count equals the store's
FULL_LISTING_SECONDS = 3600.0


def sync_task(item: Any, i: int) -> tuple[int, dict]:
    """``(id, data)`` of one task of Label Studio's export; 502 when Label Studio sent a malformed one."""
    ok = isinstance(item, dict) and not isinstance(item.get("id"), bool) and isinstance(item.get("id"), int) \
        and 0 <= item["id"] <= MAX_ID and isinstance(item.get("data"), dict)
    if not ok:
        raise RequestError(502, f"Label Studio export: task #{i + 1} has no integer 'id' and object 'data'")
    return item["id"], item["data"]


class Syncer:
    """Mirrors Label Studio's labelled tasks into the store.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``store``, ``settings``, ``clock()``,
        ``confirm_labels``.
    configs : :class:`~backend.project_configs.ProjectConfigs`.
    ingest : :class:`~backend.ingest.Ingest` (confirmation of pending hints, predictions of stored tasks).
    beliefs : :class:`~backend.belief_cache.BeliefCache` (the label summary of the answer).
    api : returns the Label Studio client.
    request_refresh : ``request_refresh(project, force=False) -> dict``.
    prediction_errors : ``(project, task_ids)`` -> tasks a candidate cannot predict.
    """

    def __init__(self, env, configs, ingest, beliefs, api: Callable, request_refresh: Callable,
                 prediction_errors: Callable):
        self.env, self.configs, self.ingest, self.beliefs, self.api = env, configs, ingest, beliefs, api
        self.request_refresh, self.prediction_errors = request_refresh, prediction_errors

    def sync(self, project: int, full_listing: bool = True) -> dict:
        """Mirror the project (known, with a usable pool and a configured Label Studio); the /sync answer.

        ``full_listing`` False (the periodic sync): every task is listed only when needed (:meth:`_listing_changes`).
        """
        env = self.env
        choices = self.configs.project_choices(project)
        drained, read_at, exported, read, unlisted = self._read(project, full_listing)
        present, gone, problems = confirmed_rows(read, set(read) | set(unlisted), choices)
        known = env.store.stored_task_ids(project, present)
        with env.store.transaction():
            outcome = env.store.mirror_tasks(project, present, gone, read_at, tombstones=not env.confirm_labels)
            env.store.count_label_changes(project, outcome["changed"] + outcome["removed"])
        changed, removed, stored = outcome["changed"], outcome["removed"], outcome["stored"]
        added = sorted(set(stored) - known)
        answer = {"status": "ok", "project": project, "tasks": len(exported), "tasks_added": len(added),
                  "annotations": sum(len(v) for _, v in present.values()),
                  "annotations_changed": changed, "annotations_removed": removed,
                  "tasks_removed": outcome["tasks_removed"], "hints_confirmed": (drained or {}).get("hints", 0)}
        if problems:
            answer["unreadable_annotations"] = problems
        self.ingest.predict_stored(project, stored, answer)
        if changed + removed + outcome["tasks_removed"] + len(added) or (drained or {}).get("hints"):
            answer["refresh"] = self.request_refresh(project, force=True)
        answer["tasks_without_predictions"] = self.prediction_errors(project, stored)
        answer.update(self.beliefs.label_summary(project))
        return answer

    def sync_all(self, sync_one: Callable[[int], dict], period: float = 0.0) -> dict[int, dict]:
        """The periodic sync: ``sync_one`` (``Service.sync``) every known project, each outcome kept in the store.

        With ``period`` > 0 a project is synced only when no process sharing the store has claimed its sync
        within the last ``period`` seconds (:meth:`~backend.store.sync_log.SyncLogTables.claim_sync`): every
        web process runs this loop, one of them syncs each project per period; the others' answers leave it out.

        ``caught_up`` counts the annotations the mirror changed or removed and
        the tasks it removed or added: what no webhook (and no pending hint) had told
        the backend.  A project that cannot be synced (no pool, Label Studio
        down) keeps its error; the next period tries again.
        """
        env, out = self.env, {}
        for project in env.store.projects():
            if period > 0 and not env.store.claim_sync(project, env.clock(), period):
                continue
            try:
                answer = sync_one(project)
            except RequestError as exc:
                outcome = {"caught_up": 0, "error": exc.message}
            else:
                outcome = {"caught_up": answer["annotations_changed"] + answer["annotations_removed"]
                           + answer["tasks_removed"] + answer["tasks_added"], "error": None}
            if outcome["caught_up"]:
                logger.warning("periodic sync of project %s caught up %d change(s) no webhook had delivered",
                               project, outcome["caught_up"])
            env.store.record_sync(project, env.clock(), outcome["caught_up"], outcome["error"])
            out[project] = outcome
        return out

    def _listing_changes(self, api, project: int, read: set[int], full: bool) -> tuple[list[int], list[int]]:
        """Tasks Label Studio has that the store never held (their ``TASKS_CREATED`` never came), and tasks
        the store holds that Label Studio no longer lists (deleted, the webhook lost): ``(unknown,
        vanished)``, both to be read by id.

        Listing every task costs Label Studio about 110 s at 100,000 tasks whatever the page size, and slows
        the annotators meanwhile (``benchmarks/task_listing_scale.py``).  So the list is read only when
        Label Studio's task count differs from what the backend knows of (stored, or announced by pending
        hints: :meth:`_announced`), or when no process sharing the store has read it for
        :data:`FULL_LISTING_SECONDS` (one task created and another deleted unannounced leave the counts
        equal).  ``full``: list in any case (``POST /sync``, the CLI).
        """
        store, now = self.env.store, self.env.clock()
        created, deleted = self._announced(project)
        listed_at = store.task_listed_at(project)
        if not full and listed_at is not None and now - listed_at < FULL_LISTING_SECONDS:
            counted = api.get_project(project).get("task_number")
            known = store.task_count(project)
            if created or deleted:
                stored = store.stored_task_ids(project, created | deleted)
                known += len(created - deleted - stored) - len(deleted & stored)
            if isinstance(counted, int) and counted == known:
                return [], []
        listed = set(api.task_ids(project))
        store.record_task_listing(project, now)
        stored = set(store.task_ids(project))
        # a task a pending hint announces is confirmed by that hint's job; reading it here too doubles the work
        return sorted(listed - read - stored - created), sorted(stored - listed - read)

    def _announced(self, project: int) -> tuple[set[int], set[int]]:
        """Tasks pending ``TASKS_CREATED`` and ``TASKS_DELETED`` hints name: while a large import is being
        confirmed (a few thousand tasks a job) Label Studio's count runs ahead of the store's, and the hints
        already name the difference."""
        created: set[int] = set()
        deleted: set[int] = set()
        for hint in self.env.store.pending_hints(project):
            if hint["action"] == "TASKS_CREATED":
                created.update(hint["tasks"])
            elif hint["action"] == "TASKS_DELETED":
                deleted.update(hint["tasks"])
        return created, deleted

    def _read(self, project: int, full_listing: bool) -> tuple[dict | None, float, list, dict, list[int]]:
        """``(drained, read_at, exported, read, unlisted)``: the pending hints confirmed, then the export read
        (and the unlisted tasks that held annotations, by id); 502 when Label Studio cannot be read."""
        from .labelstudio_api import LabelStudioAPIError

        env, url = self.env, self.env.settings.label_studio_url
        api = self.api()
        try:
            # hints first (what webhooks named and a down Label Studio left pending), then the export
            drained = self.ingest.confirm_pending(project, refresh=False) if env.confirm_labels else None
            if drained is not None and drained.get("state") == "failed" and "problem" in drained:
                raise LabelStudioAPIError("GET", f"/api/projects/{project}/export", None, drained["error"])
            read_at = env.clock()
            # the tasks with stored annotations before the export is read: one stored meanwhile is kept
            had_annotations = env.store.tasks_with_annotations(project)
            exported = api.annotated_tasks(project)
            read = {}
            for i, item in enumerate(exported):
                task_id, _ = sync_task(item, i)
                read[task_id] = item
            # tasks holding stored annotations that the export (annotated tasks only) does not list:
            # their annotations were deleted, or the task itself; read them one by one to know which
            unlisted = sorted(had_annotations - set(read))
            # tasks the backend never heard of (a TASKS_CREATED webhook that never came), and stored tasks
            # Label Studio no longer lists (deleted unannounced): read them too
            unknown, vanished = self._listing_changes(api, project, set(read), full_listing)
            unlisted = sorted(set(unlisted) | set(vanished))
            if unlisted or unknown:
                read.update(api.tasks_by_id(project, unlisted + unknown))
        except LabelStudioAPIError as exc:
            ls_status.record_failure(env.store, exc, url, env.clock())
            raise RequestError(502, f"cannot read project {project}'s export from Label Studio: "
                                    f"{ls_status.describe_failure(exc, url)}") from None
        ls_status.record_success(env.store, env.clock())
        return drained, read_at, exported, read, unlisted

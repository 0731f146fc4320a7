"""Label Studio calls about tasks: import, listing, export reads, the next task of the queue, prediction import."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .labelstudio_errors import LabelStudioAPIError, check_id


class TaskCalls:
    """The task and prediction calls of :class:`~backend.labelstudio_api.LabelStudioAPI`.

    Made through its transport (``client``, ``_sdk``, ``_request``) and its
    ``chunk_size``; every method raises
    :class:`~backend.labelstudio_errors.LabelStudioAPIError` on failure.
    """

    # ----------------------------------------------------------------- tasks
    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> int:
        """Import tasks (each a dict of task data, or ``{"data": {...}}``); returns how many were created."""
        project_id = check_id(project_id, "project id")
        with self._sdk("POST", f"/api/projects/{project_id}/import"):
            answer = self.client.projects.import_tasks(id=project_id, request=list(tasks))
        return int(answer.task_count or 0)

    def task_ids(self, project_id: int, page_size: int = 1000) -> dict[int, bool]:
        """Every task of the project: ``{task id: is labelled}``, in id order.

        Reads only the ``id`` and ``is_labeled`` fields, ``page_size`` tasks per
        request (10,000 tasks: about 5 s on SQLite).
        """
        project_id = check_id(project_id, "project id")
        with self._sdk("GET", f"/api/tasks/?project={project_id}"):
            pages = self.client.tasks.list(project=project_id, include="id,is_labeled",
                                           page_size=check_id(page_size, "page_size"))
            tasks = {int(task.id): bool(task.is_labeled) for task in pages}
        return dict(sorted(tasks.items()))

    def annotated_tasks(self, project_id: int) -> list[dict]:
        """Every task with at least one annotation, with its annotations; Label Studio's own record.

        Uses the JSON export (``GET /api/projects/{id}/export?exportType=JSON``),
        which returns only tasks that have annotations.  Each item is
        ``{"id", "data", "annotations": [{"id", "result", "was_cancelled",
        "completed_by", "updated_at", ...}]}``; prediction ids are dropped.
        """
        project_id = check_id(project_id, "project id")
        exported = self._request("GET", f"/api/projects/{project_id}/export",
                                 params={"exportType": "JSON", "download_all_tasks": "false"})
        if not isinstance(exported, list):
            raise LabelStudioAPIError("GET", f"/api/projects/{project_id}/export", 200,
                                      f"expected a list of tasks, got {type(exported).__name__}")
        return [{"id": task["id"], "data": task.get("data", {}),
                 "annotations": task.get("annotations", [])} for task in exported]

    def tasks_by_id(self, project_id: int, task_ids: Sequence[int], batch: int = 200) -> dict[int, dict]:
        """The named tasks of the project as Label Studio has them now: ``{id: {"id", "data", "annotations"}}``.

        Reads ``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true&ids[]=...``
        (``batch`` ids per request, so the URL stays short).  Checked on Label
        Studio 1.23.2 (``data_export/api.py``): it returns every named task of
        this project, annotated or not, with all its annotations (cancelled
        ones included, each with ``id``, ``result``, ``was_cancelled``,
        ``updated_at``); ids of other projects or of deleted tasks are simply
        absent, so an id missing from the answer is a task Label Studio does
        not have (the "404" of a batch read).  Unlike ``GET /api/tasks/{id}/``
        it never makes Label Studio call the ML backend's ``/predict`` (the
        task view does, for a task without predictions).
        """
        project_id = check_id(project_id, "project id")
        ids = sorted({check_id(t, "task id") for t in task_ids})
        path = f"/api/projects/{project_id}/export"
        out: dict[int, dict] = {}
        for start in range(0, len(ids), max(1, int(batch))):
            chunk = ids[start:start + batch]
            answer = self._request("GET", path, params={"exportType": "JSON", "download_all_tasks": "true",
                                                        "ids[]": chunk})
            if not isinstance(answer, list):
                raise LabelStudioAPIError("GET", path, 200, f"expected a list of tasks, got {type(answer).__name__}",
                                          kind="bad_answer")
            wanted = set(chunk)
            for task in answer:
                if isinstance(task, dict) and task.get("id") in wanted:
                    out[int(task["id"])] = {"id": int(task["id"]), "data": task.get("data"),
                                            "annotations": task.get("annotations") or []}
        return out

    def next_task(self, project_id: int) -> dict | None:
        """The task Label Studio would show this API user next (``GET /api/projects/{id}/next/``).

        Returns None when the queue is empty.  Label Studio locks the returned
        task for this user for a while; asking again returns the same task
        until it is annotated or skipped.
        """
        project_id = check_id(project_id, "project id")
        path = f"/api/projects/{project_id}/next/"
        try:
            return self._request("GET", path)
        except LabelStudioAPIError as exc:
            if exc.status == 404:  # Label Studio answers 404 "No more tasks found"
                return None
            raise

    def set_labeled(self, project_id: int, task_ids: Sequence[int], labeled: bool, workers: int = 4) -> int:
        """Set Label Studio's ``is_labeled`` flag of each task (``PATCH /api/tasks/{id}/``); returns how many.

        Label Studio serves only tasks whose flag is false and recomputes it
        only when the task's annotations change, so this takes tasks out of
        (or puts them back into) every annotator's queue.  One request per task
        (1.23.2 has no bulk call), ``workers`` at a time, in the order given;
        each is one short write.  ``task_ids`` must be the project's (from :meth:`task_ids`).
        A task Label Studio no longer has (404: deleted meanwhile) is skipped
        and not counted; any other failure is raised.
        """
        project_id = check_id(project_id, "project id")
        ids = [check_id(t, "task id") for t in task_ids]
        if not ids:
            return 0

        def patch(task: int) -> int:
            try:
                self._request("PATCH", f"/api/tasks/{task}/", json={"is_labeled": bool(labeled)})
            except LabelStudioAPIError as exc:
                if exc.status == 404:
                    return 0
                raise
            return 1

        if workers <= 1 or len(ids) == 1:
            return sum(patch(task) for task in ids)
        with ThreadPoolExecutor(max_workers=int(workers)) as pool:
            return sum(pool.map(patch, ids))  # re-raises the first failure

    # ------------------------------------------------------------ predictions
    def import_predictions(self, project_id: int, predictions: Sequence[Mapping[str, Any]],
                           chunk_size: int | None = None) -> int:
        """Store predictions in bulk (``POST /api/projects/{id}/import/predictions``).

        Parameters
        ----------
        predictions : dicts ``{"task": id, "result": [...], "score": float,
            "model_version": str}``.
        chunk_size : predictions per request (default: the instance's).

        Returns
        -------
        The number created.  Label Studio 1.23.2 silently skips a prediction
        it cannot store (e.g. a non-numeric score) and still answers 201; a
        shortfall is therefore raised as an error here.
        """
        project_id = check_id(project_id, "project id")
        size = check_id(chunk_size, "chunk_size") if chunk_size is not None else self.chunk_size
        path = f"/api/projects/{project_id}/import/predictions"
        created = 0
        for start in range(0, len(predictions), size):
            chunk = list(predictions[start:start + size])
            with self._sdk("POST", path):
                answer = self.client.projects.import_predictions(id=project_id, request=chunk)
            stored = int(answer.created or 0)
            created += stored
            if stored != len(chunk):
                raise LabelStudioAPIError(
                    "POST", path, 201,
                    f"Label Studio stored {stored} of {len(chunk)} predictions "
                    f"(items {start}-{start + len(chunk) - 1}); it skips predictions whose "
                    f"result does not fit the labelling config or whose score is not a number; "
                    f"{created} stored in total before this stop")
        return created

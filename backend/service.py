"""What the endpoints do, free of Flask: setup, predict, webhook events, rankings, health.

The service translates between Label Studio and the core.  It keeps no
belief of its own: the belief is rebuilt from the store whenever the store's
revision for a project changes (see :mod:`backend.belief`), and cached in
memory until then.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import modelpicker_core as core

from . import jobs
from .belief import Belief, fit_belief, prediction_matrix, ranking_records
from .errors import RequestError
from .events import annotation_versions, parse_event
from .labelconfig import ChoicesControl, LabelConfigError, parse_choices
from .pool import Pool, PoolError, PredictionError, load_pool
from .settings import Settings, SettingsError, resolve_strategy
from .store import SQLiteStore, Store

logger = logging.getLogger(__name__)

#: tasks per call to a candidate's source
PREDICT_CHUNK = 256


def parse_project(raw: Any) -> int:
    """Project id from ``12``, ``"12"`` or Label Studio's ``"12.1700000000"`` (id.created-timestamp)."""
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.split(".", 1)[0].isdigit():
        return int(raw.split(".", 1)[0])
    raise RequestError(400, f"'project' must be a project id like 12 or '12.1700000000', got {raw!r}")


class Service:
    """The backend's behaviour, one instance per process.

    Parameters
    ----------
    settings : the environment settings.
    pool : the loaded candidate pool, or None when it could not be loaded.
    pool_error : why the pool could not be loaded.
    store : per-project state.
    strategy : registry name of the core strategy.
    inline : run background jobs inline even when ``REDIS_URL`` is set (rq workers).
    """

    def __init__(self, settings: Settings, pool: Pool | None, pool_error: str | None, store: Store,
                 strategy: str, inline: bool = False):
        self.settings = settings
        self.pool = pool
        self.pool_error = pool_error
        self.store = store
        self.strategy = strategy
        self.runner = jobs.make_runner(None if inline else settings.redis_url, settings.redis_queue, self)
        self._lock = threading.RLock()
        self._beliefs: dict[int, tuple[int, str, Belief]] = {}
        self._matrices: dict[int, tuple[int, str, Any]] = {}
        self._checked: dict[str, ChoicesControl] = {}
        #: project -> why the pool does not fit its stored label config (found at start)
        self.project_errors: dict[int, str] = self.check_known_projects() if pool is not None else {}

    @classmethod
    def from_settings(cls, settings: Settings, inline: bool = False) -> "Service":
        """Load the pool (keeping its error for /health), open the store, pick the strategy.

        Raises :class:`SettingsError` when the strategy is unknown; a bad pool
        does not raise here (``python -m backend`` checks it and exits).
        """
        strategy = resolve_strategy(settings.strategy, core.available(), logger)
        pool, error = None, None
        if settings.pool_path is None:
            error = "MODELPICKER_POOL is not set"
        else:
            try:
                pool = load_pool(settings.pool_path)
            except PoolError as exc:
                error = str(exc)
        if error:
            logger.error("candidate pool unusable: %s", error)
        return cls(settings, pool, error, SQLiteStore(settings.db_path), strategy, inline=inline)

    # ----------------------------------------------------------------- helpers
    def check_known_projects(self) -> dict[int, str]:
        """Check the pool against the label config of every project in the store (at start).

        A project the pool no longer fits is logged and listed in /health; its
        requests get 422 until the pool or the config is fixed.
        """
        errors = {}
        for project, config in self.store.projects().items():
            try:
                self.choices_for(config)
            except RequestError as exc:
                errors[project] = exc.message
                logger.error("project %s: the pool does not fit its label config: %s", project, exc.message)
        return errors

    def _require_pool(self) -> Pool:
        if self.pool is None:
            raise RequestError(503, f"candidate pool unusable: {self.pool_error}")
        return self.pool

    def choices_for(self, label_config: str) -> ChoicesControl:
        """Parse a label config and check the pool against it (cached per config text)."""
        pool = self._require_pool()
        with self._lock:
            if label_config in self._checked:
                return self._checked[label_config]
        try:
            choices = parse_choices(label_config)
            pool.check(choices)
        except (LabelConfigError, PoolError) as exc:
            raise RequestError(422, str(exc)) from None
        with self._lock:
            self._checked[label_config] = choices
        return choices

    def _project_choices(self, project: int, label_config: str | None = None) -> ChoicesControl:
        """Choices of the given config (stored if new) or of the stored one."""
        if label_config is not None:
            if not isinstance(label_config, str):
                raise RequestError(400, "'label_config' must be a string")
            choices = self.choices_for(label_config)
            self.store.set_label_config(project, label_config)
            self.project_errors.pop(project, None)
            return choices
        stored = self.store.get_label_config(project)
        if stored is None:
            raise RequestError(404, f"project {project} is unknown: connect the backend to it first (/setup)")
        return self.choices_for(stored)

    def belief(self, project: int) -> Belief:
        """The project's belief, refitted when its labels changed.

        The prediction matrix is cached separately and re-read from the store
        only when tasks or predictions changed, so a new label costs one
        replay of the labels, not a read of every cached prediction.
        """
        pool = self._require_pool()
        choices = self._project_choices(project)
        with self._lock:
            revision, pool_revision = self.store.revision(project), self.store.pool_revision(project)
            config = self.store.get_label_config(project)
            cached = self._beliefs.get(project)
            if cached and cached[0] == revision and cached[1] == config:
                return cached[2]
            matrix = self._matrices.get(project)
            if not (matrix and matrix[0] == pool_revision and matrix[1] == config):
                matrix = (pool_revision, config,
                          prediction_matrix(self.store.predictions(project), pool.cache_keys, choices))
                self._matrices[project] = matrix
            task_ids, predictions = matrix[2]
            belief = fit_belief(project, self.strategy, self.settings.seed, pool.fingerprint, task_ids,
                                predictions, choices, self.store.labels(project))
            self._beliefs[project] = (revision, config, belief)
            return belief

    # ------------------------------------------------------------ predictions
    def compute_predictions(self, project: int, task_ids: list[int] | None = None) -> int:
        """Cache every candidate's prediction for stored tasks that lack one; returns tasks done.

        ``task_ids`` limits the work to those tasks (None = all of the project).
        Raises :class:`PredictionError` naming candidate, task and value.
        """
        pool = self._require_pool()
        choices = self._project_choices(project)
        missing = self.store.tasks_without_predictions(project, pool.cache_keys, task_ids)
        if not missing:
            return 0
        cached = self.store.predictions(project, missing)
        for start in range(0, len(missing), PREDICT_CHUNK):
            chunk = missing[start:start + PREDICT_CHUNK]
            data = self.store.task_data(project, chunk)
            rows = []
            for cand in pool.candidates:
                todo = [{"id": t, "data": data[t]} for t in chunk
                        if t in data and cand.cache_key not in cached.get(t, {})]
                if todo:
                    values = cand.predict_tasks(todo, choices)
                    rows.extend((task["id"], cand.cache_key, value) for task, value in zip(todo, values))
            self.store.save_predictions(project, rows)
        return len(missing)

    # -------------------------------------------------------------- endpoints
    def setup(self, project_raw: Any, schema: Any) -> dict:
        """/setup: check the pool against the project's config, remember the config."""
        project = parse_project(project_raw)
        if not isinstance(schema, str) or not schema.strip():
            raise RequestError(400, "'schema' (the project's label config) is missing")
        self._project_choices(project, schema)
        return {"model_version": self.belief(project).model_version}

    def predict(self, project_raw: Any, tasks: Any, label_config: Any = None) -> dict:
        """/predict: one Label Studio prediction per task, its score the task's priority."""
        project = parse_project(project_raw)
        if not isinstance(tasks, list) or not tasks:
            raise RequestError(400, "'tasks' must be a non-empty list of tasks")
        parsed = []
        for i, task in enumerate(tasks):
            if not isinstance(task, dict) or isinstance(task.get("id"), bool) or not isinstance(task.get("id"), int):
                raise RequestError(400, f"task #{i + 1} must be an object with an integer 'id'")
            if not isinstance(task.get("data"), dict):
                raise RequestError(400, f"task {task['id']}: 'data' must be an object")
            parsed.append((task["id"], task["data"]))
        self._require_pool()
        choices = self._project_choices(project, label_config or None)
        self.store.upsert_tasks(project, parsed)
        try:
            self.compute_predictions(project, [t for t, _ in parsed])
        except PredictionError as exc:
            raise RequestError(422, str(exc)) from None
        belief = self.belief(project)
        cached = self.store.predictions(project, [t for t, _ in parsed])
        best = self.pool.cache_keys[belief.strategy.ranking().best] if self.settings.show_best else None
        results = []
        for task_id, _ in parsed:
            row = belief.row(task_id)
            answers = cached.get(task_id, {})
            by_name = {c.name: answers[c.cache_key] for c in self.pool.candidates if c.cache_key in answers}
            labelled = row is not None and bool(belief.labels[row] >= 0)
            info = None if row is None or labelled else float(belief.informativeness[row])
            result = []
            if best is not None and best in answers:
                result = [{"from_name": choices.name, "to_name": choices.to_name, "type": "choices",
                           "value": {"choices": [answers[best]]}}]
            results.append({
                "result": result,
                "score": 1.0 if row is None else float(belief.priority[row]),
                "model_version": belief.model_version,
                "modelpicker": {"informativeness": info, "labelled": labelled, "predictions": by_name},
            })
        return {"results": results, "model_version": belief.model_version}

    def webhook(self, payload: Any) -> dict:
        """/webhook: store what the event says (synchronously), then report the belief."""
        event = parse_event(payload)
        if event is None:
            return {"status": "ignored", "action": payload["action"]}
        self._require_pool()
        project = event.project
        choices = self._project_choices(project) if event.label_config is None else \
            self.choices_for(event.label_config)
        versions = annotation_versions(event.annotations, choices)  # may raise; nothing stored yet
        with self.store.transaction():
            if event.label_config is not None:
                self.store.set_label_config(project, event.label_config)
            stored_tasks = self.store.upsert_tasks(project, event.tasks) if event.tasks else []
            changed = self.store.apply_annotations(project, versions)
            removed = self.store.delete_annotations(project, event.deleted_annotations)
            if event.deleted_tasks:
                self.store.delete_tasks(project, event.deleted_tasks)
        answer = {"status": "ok", "action": event.action, "project": project,
                  "annotations_changed": changed, "annotations_removed": removed}
        stored_tasks = self.store.tasks_without_predictions(project, self.pool.cache_keys, stored_tasks) \
            if stored_tasks else []
        if stored_tasks:
            try:
                job = self.runner.submit("compute_predictions", project, stored_tasks)
                if job:
                    answer["job"] = job
            except PredictionError as exc:
                # the event itself is stored; the tasks stay out of the belief until /predict retries them
                logger.error("%s: %s", event.action, exc)
                answer["prediction_error"] = str(exc)
        belief = self.belief(project)
        answer.update(labels=belief.n_labels, model_version=belief.model_version)
        return answer

    def rankings(self, project_raw: Any) -> dict:
        """/rankings: the ranking as JSON, best first."""
        if project_raw is None or project_raw == "":
            raise RequestError(400, "query parameter 'project' is required, e.g. /rankings?project=12")
        project = parse_project(project_raw)
        self._require_pool()
        if self.store.get_label_config(project) is None:
            raise RequestError(404, f"project {project} is unknown to this backend")
        belief = self.belief(project)
        return {
            "project": project,
            "strategy": self.strategy,
            "labels": belief.n_labels,
            "labels_used": int((belief.labels >= 0).sum()),
            "tasks": int(belief.task_ids.size),
            "candidates": ranking_records(belief, self.pool.names),
            "model_version": belief.model_version,
        }

    def health(self) -> dict:
        ok, error = self.store.check()
        return {
            "status": "UP",
            "model_class": "ModelPickerModel",
            "strategy": self.strategy,
            "jobs": self.runner.kind,
            "pool": {"ok": self.pool is not None,
                     "candidates": 0 if self.pool is None else len(self.pool.candidates),
                     "path": None if self.settings.pool_path is None else str(self.settings.pool_path),
                     "error": self.pool_error, "project_errors": {str(k): v for k, v in self.project_errors.items()}},
            "store": {"ok": ok, "path": self.store.describe(), "error": error},
        }


__all__ = ["Service", "parse_project", "RequestError", "SettingsError"]

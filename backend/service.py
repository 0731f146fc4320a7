"""What the endpoints do, free of Flask: setup, predict, webhook events, rankings, health.

The service translates between Label Studio and the core.  It keeps no
belief of its own: the belief is rebuilt from the store whenever the store's
revision for a project changes (see :mod:`backend.belief`), and cached in
memory until then.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import uuid
from typing import Any, Callable

import numpy as np

import modelpicker_core as core
from modelpicker_core.stopping import Decision, make_rule

from . import jobs, ls_status
from .belief import Belief, fit_belief, model_version, prediction_matrix, ranking_records
from .debounce import plan_refresh
from .decisions import decision_summary, is_stopped, next_record
from .errors import RequestError
from .events import MAX_ID, annotation_versions, parse_event
from .inputs import MAX_DIGITS, parse_int
from .labelconfig import ChoicesControl, LabelConfigError, parse_choices
from .pool import Pool, PoolError, PredictionError, load_pool
from .redact import basename, redact_text, strip_dirs
from .settings import Settings, SettingsError, resolve_strategy
from .store import SQLiteStore, Store
from .timefmt import iso_fields

logger = logging.getLogger(__name__)

#: tasks per call to a candidate's source
PREDICT_CHUNK = 256
#: a candidate whose source fails on this many tasks in a row, with no success before, fails as a whole
FAILED_IN_A_ROW = 8
#: a refresh record still "queued" after this many seconds is taken as lost (worker gone) and not waited for
STALE_QUEUED_SECONDS = 600.0
#: the time fields of a job record (POSIX seconds in the store, ISO 8601 UTC in answers)
JOB_TIMES = ("created_at", "started_at", "finished_at", "run_after")
#: webhook actions after which a refresh is considered (labels changed)
LABEL_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")


def parse_project(raw: Any) -> int:
    """Project id from ``12``, ``"12"`` or Label Studio's ``"12.1700000000"`` (id.created-timestamp).

    Strings are ASCII digits only (see :func:`backend.inputs.parse_int`); a
    400 names the parameter for anything else (``²``, 5,000 digits, a sign).
    """
    if isinstance(raw, str) and raw.count(".") == 1:
        head, tail = raw.split(".")
        if tail.isascii() and tail.isdigit() and len(tail) <= MAX_DIGITS:
            raw = head
    try:
        return parse_int(raw, "project", 0, MAX_ID)
    except RequestError:
        shown = raw if not isinstance(raw, str) or len(raw) <= 40 else raw[:40] + f"... ({len(raw)} characters)"
        raise RequestError(400, f"'project' must be a project id like 12 or '12.1700000000' "
                                f"(an integer from 0 to {MAX_ID}, ASCII digits), got {shown!r}") from None


def _predict_one_by_one(cand, todo: list[dict], choices: ChoicesControl) -> tuple[list, list[tuple[int, str, str]]]:
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


def _sync_task(item: Any, i: int) -> tuple[int, dict]:
    """``(id, data)`` of one task of Label Studio's export; 502 when Label Studio sent a malformed one."""
    ok = isinstance(item, dict) and not isinstance(item.get("id"), bool) and isinstance(item.get("id"), int) \
        and 0 <= item["id"] <= MAX_ID and isinstance(item.get("data"), dict)
    if not ok:
        raise RequestError(502, f"Label Studio export: task #{i + 1} has no integer 'id' and object 'data'")
    return item["id"], item["data"]


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
                 strategy: str, inline: bool = False, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.pool = pool
        self.pool_error = pool_error
        self.store = store
        self.strategy = strategy
        self.runner = jobs.make_runner(None if inline else settings.redis_url, settings.redis_queue, self)
        self.clock = clock
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._api = None
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
        """The project's belief over its current round, refitted when its labels changed.

        Only the tasks of the current round (and their labels) count: a new
        round is a new selection.  The prediction matrix is cached separately
        and re-read from the store only when tasks, predictions or the round
        changed, so a new label costs one replay of the labels, not a read of
        every cached prediction.
        """
        pool = self._require_pool()
        choices = self._project_choices(project)
        with self._lock:
            revision = self.store.revision(project)
            config = self.store.get_label_config(project)
            cached = self._beliefs.get(project)
            if cached and cached[0] == revision and cached[1] == config:
                return cached[2]
            round_ = self.store.current_round(project)
            matrix = self._round_matrix(project, pool, choices, round_)
            task_ids, predictions = matrix[2]
            labels = [x for x in self.store.labels(project) if x.task in matrix[3]]
            belief = fit_belief(project, self.strategy, self.settings.seed, pool.fingerprint, task_ids,
                                predictions, choices, labels, round_, history=self.settings.patience - 1,
                                params=self.strategy_params(), delta=self.settings.delta)
            self._beliefs[project] = (revision, config, belief)
            return belief

    def _forget_cached(self, project: int) -> None:
        """Drop the project's cached belief and matrix (after a rolled-back transaction: the
        store's revision counters went back, so a cache keyed by them could be stale)."""
        with self._lock:
            self._beliefs.pop(project, None)
            self._matrices.pop(project, None)

    def _round_matrix(self, project: int, pool: Pool, choices: ChoicesControl, round_: int) -> tuple:
        """``(key, config, (task_ids, matrix), in_round)`` of the round, cached until tasks or predictions change."""
        with self._lock:
            pool_revision, config = self.store.pool_revision(project), self.store.get_label_config(project)
            matrix = self._matrices.get(project)
            if not (matrix and matrix[0] == (pool_revision, round_) and matrix[1] == config):
                in_round = set(self.store.round_tasks(project, round_))
                predictions = {t: row for t, row in self.store.predictions(project).items() if t in in_round}
                matrix = ((pool_revision, round_), config, prediction_matrix(predictions, pool.cache_keys, choices),
                          in_round)
                self._matrices[project] = matrix
            return matrix

    # ------------------------------------------------------------ predictions
    def compute_predictions(self, project: int, task_ids: list[int] | None = None) -> int:
        """Cache every candidate's prediction for stored tasks that lack one; returns tasks tried.

        ``task_ids`` limits the work to those tasks (None = all of the project).
        Candidates predict chunks of :data:`PREDICT_CHUNK` tasks; when a chunk
        fails, it is retried task by task so one bad task cannot block the
        others.  A task a candidate cannot predict is recorded with the error
        (:meth:`task_prediction_errors`) and skipped by later computations
        until its data or the label config changes; it stays out of the belief.

        Raises :class:`PredictionError` only when a candidate fails as a whole
        (:data:`FAILED_IN_A_ROW` tasks that carry its field fail one by one
        with no success before them, e.g. its model server is down): that is
        not the tasks' fault, so nothing is recorded against them and the next
        computation tries again.
        """
        pool = self._require_pool()
        choices = self._project_choices(project)
        failed = {e["task"] for e in self.store.prediction_errors(project, pool.cache_keys)}
        missing = [t for t in self.store.tasks_without_predictions(project, pool.cache_keys, task_ids)
                   if t not in failed]
        if not missing:
            return 0
        cached = self.store.predictions(project, missing)
        for start in range(0, len(missing), PREDICT_CHUNK):
            chunk = missing[start:start + PREDICT_CHUNK]
            data = self.store.task_data(project, chunk)
            rows, errors = [], []
            for cand in pool.candidates:
                todo = [{"id": t, "data": data[t]} for t in chunk
                        if t in data and cand.cache_key not in cached.get(t, {})]
                if not todo:
                    continue
                try:
                    values = cand.predict_tasks(todo, choices)
                except PredictionError:
                    try:
                        values, failed_here = _predict_one_by_one(cand, todo, choices)
                    except PredictionError:
                        self.store.save_predictions(project, rows)  # what the other candidates answered
                        raise
                    errors.extend(failed_here)
                    for _, _, message in failed_here:
                        logger.error("project %s: %s", project, message)
                rows.extend((task["id"], cand.cache_key, value) for task, value in zip(todo, values)
                            if value is not None)
            self.store.save_predictions(project, rows)
            if errors:
                self.store.save_prediction_errors(project, errors)
        return len(missing)

    def task_prediction_errors(self, project: int, task_ids: list[int] | None = None) -> list[dict]:
        """``[{"task", "candidate", "error"}]``: tasks left out of the belief because a candidate
        cannot predict them (candidate by name); of ``task_ids``, or all."""
        pool = self._require_pool()
        names = dict(zip(pool.cache_keys, pool.names))
        wanted = None if task_ids is None else set(task_ids)
        return [{"task": e["task"], "candidate": names[e["candidate"]], "error": e["error"]}
                for e in self.store.prediction_errors(project, pool.cache_keys)
                if wanted is None or e["task"] in wanted]

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
            if not 0 <= task["id"] <= MAX_ID:
                raise RequestError(400, f"task #{i + 1}: 'id' must be between 0 and {MAX_ID}, got {task['id']}")
            if not isinstance(task.get("data"), dict):
                raise RequestError(400, f"task {task['id']}: 'data' must be an object")
            parsed.append((task["id"], task["data"]))
        self._require_pool()
        ids = [t for t, _ in parsed]
        # one transaction: a 422 (no candidate can predict any task) rolls back the tasks, the label
        # config, a new round and the predictions, so a refused /predict changes nothing
        try:
            with self.store.transaction():
                choices = self._project_choices(project, label_config or None)
                new_tasks = self.store.new_task_ids(project, ids)
                # tasks first seen here after the round was decided are a new batch, as with TASKS_CREATED
                new_round = self._round_after_decision(project) if new_tasks else None
                self.store.upsert_tasks(project, parsed)
                # asking again is how a failure of unchanged data (e.g. a model server that was down) is retried
                self.store.clear_prediction_errors(project, ids)
                try:
                    self.compute_predictions(project, ids)
                except PredictionError as exc:
                    raise RequestError(422, redact_text(str(exc))) from None
                failures = self.task_prediction_errors(project, ids)
                failed = {e["task"] for e in failures}
                if failed >= set(ids):
                    raise RequestError(422, "; ".join(e["error"] for e in failures))
        except RequestError:
            self._forget_cached(project)
            raise
        if new_tasks and self.runner.delays and self.label_studio is not None:
            # tasks imported before the backend was connected reach it here (Label Studio's
            # "Retrieve predictions"); order them in the background, never inside /predict
            self.request_refresh(project, force=True)
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
            if task_id in failed:
                results[-1]["modelpicker"]["errors"] = [e for e in failures if e["task"] == task_id]
        answer = {"results": results, "model_version": belief.model_version}
        if new_round is not None:
            answer["new_round"] = new_round
        return answer

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
        new_round = None
        with self.store.transaction():
            if event.label_config is not None:
                self.store.set_label_config(project, event.label_config)
            if event.action == "TASKS_CREATED" and event.tasks and \
                    len(self.store.new_task_ids(project, [t for t, _ in event.tasks])) == len(event.tasks):
                new_round = self._round_after_decision(project)
            stored_tasks = self.store.upsert_tasks(project, event.tasks) if event.tasks else []
            changed = self.store.apply_annotations(project, versions)
            removed = self.store.delete_annotations(project, event.deleted_annotations)
            if event.deleted_tasks:
                self.store.delete_tasks(project, event.deleted_tasks)
            self.store.count_label_changes(project, changed + removed)
        answer = {"status": "ok", "action": event.action, "project": project,
                  "annotations_changed": changed, "annotations_removed": removed}
        if new_round is not None:
            answer["new_round"] = new_round
        stored_tasks = self.store.tasks_without_predictions(project, self.pool.cache_keys, stored_tasks) \
            if stored_tasks else []
        if stored_tasks:
            try:
                job = self.runner.submit("compute_predictions", project, stored_tasks)
                if job:
                    answer["job"] = job
            except PredictionError as exc:  # a candidate failing as a whole; the next computation retries
                logger.error("%s: %s", event.action, redact_text(str(exc)))
                answer["prediction_error"] = redact_text(str(exc))
            failures = self.task_prediction_errors(project, stored_tasks)
            if failures:
                # the event itself is stored; those tasks stay out of the belief until their data changes
                answer["prediction_error"] = "; ".join(
                    ([answer["prediction_error"]] if "prediction_error" in answer else []) +
                    [e["error"] for e in failures])
                answer["tasks_without_predictions"] = failures
        if event.action == "TASKS_CREATED" and event.tasks:
            answer["refresh"] = self.request_refresh(project, force=True)
        elif event.action in LABEL_ACTIONS and changed + removed:
            answer["refresh"] = self.request_refresh(project)
        answer.update(self.label_summary(project))
        return answer

    def label_summary(self, project: int) -> dict:
        """``{"labels", "model_version"}`` of the current round without fitting the strategy.

        The priority version depends on the labels and the set of scored tasks
        only (see :func:`backend.belief.model_version`), so the webhook can
        answer with it at once; with rq the fit happens in the worker, not in
        the request.
        """
        with self._lock:
            cached = self._beliefs.get(project)
            if cached and cached[0] == self.store.revision(project) and \
                    cached[1] == self.store.get_label_config(project):
                return {"labels": cached[2].n_labels, "model_version": cached[2].model_version}
        pool = self._require_pool()
        round_ = self.store.current_round(project)
        matrix = self._round_matrix(project, pool, self._project_choices(project), round_)
        labels = [x for x in self.store.labels(project) if x.task in matrix[3]]
        return {"labels": len(labels), "model_version": model_version(
            project, labels, self.strategy, self.settings.seed, pool.fingerprint, round_, matrix[2][0])}

    def sync(self, project_raw: Any) -> dict:
        """POST /sync: read the labels back from Label Studio and store them as webhooks would.

        Label Studio's JSON export (tasks with annotations) is applied through
        the same idempotent path as the webhook events: tasks are upserted,
        each annotation's state is stored unless a newer one is, and stored
        annotations that existed before the export was read but are missing
        from it are deleted (Label Studio deleted them, or the delete webhook
        was lost).  Annotations delivered by webhooks while the export is read
        are kept.  Tasks new to the backend join the current round.
        """
        project = self._known_project(project_raw, "sync")
        self._require_pool()
        choices = self._project_choices(project)
        if self._api is None and not self.settings.label_studio_configured:
            raise RequestError(409, "sync reads Label Studio's export: set LABEL_STUDIO_URL and "
                                    "LABEL_STUDIO_API_KEY")
        api = self._label_studio_api()
        from .labelstudio_api import LabelStudioAPIError

        known = self.store.annotation_ids(project)
        try:
            exported = api.annotated_tasks(project)
        except LabelStudioAPIError as exc:
            ls_status.record_failure(self.store, exc, self.settings.label_studio_url, self.clock())
            raise RequestError(502, f"cannot read project {project}'s export from Label Studio: "
                                    f"{ls_status.describe_failure(exc, self.settings.label_studio_url)}") from None
        ls_status.record_success(self.store, self.clock())
        tasks, annotations = [], []
        for i, item in enumerate(exported):
            task = _sync_task(item, i)
            tasks.append(task)
            for annotation in item.get("annotations") or []:
                if not isinstance(annotation, dict):
                    raise RequestError(502, f"Label Studio export: task {task[0]}: an annotation is not an object")
                annotations.append({**annotation, "task": task[0]})
        try:
            versions = annotation_versions(annotations, choices)
        except RequestError as exc:
            raise RequestError(502 if exc.status == 400 else exc.status,
                               f"Label Studio export: {exc.message}") from None
        missing = sorted(known - {v.annotation for v in versions})
        with self.store.transaction():
            stored = self.store.upsert_tasks(project, tasks)
            changed = self.store.apply_annotations(project, versions)
            removed = self.store.delete_annotations(project, missing)
            self.store.count_label_changes(project, changed + removed)
        answer = {"status": "ok", "project": project, "tasks": len(tasks), "annotations": len(versions),
                  "annotations_changed": changed, "annotations_removed": removed}
        todo = self.store.tasks_without_predictions(project, self.pool.cache_keys, stored) if stored else []
        if todo:
            try:
                job = self.runner.submit("compute_predictions", project, todo)
                if job:
                    answer["job"] = job
            except PredictionError as exc:
                answer["prediction_error"] = redact_text(str(exc))
        if changed + removed:
            answer["refresh"] = self.request_refresh(project, force=True)
        answer["tasks_without_predictions"] = self.task_prediction_errors(project, stored)
        answer.update(self.label_summary(project))
        return answer

    # ------------------------------------------------------------------ rounds
    def _round_after_decision(self, project: int) -> int | None:
        """Start a new round when a fresh batch arrives after the current round was decided (stopped).

        Called for a ``TASKS_CREATED`` whose tasks are all new to the backend
        (an import of a new batch; a delivery that repeats known tasks is not).
        """
        round_ = self.store.current_round(project)
        records = self.store.decisions(project, round_)
        if not is_stopped(records[-1] if records else None):
            return None
        logger.info("project %s: new tasks after the decision of round %s; starting round %s",
                    project, round_, round_ + 1)
        return self.store.start_round(project, f"new tasks imported after round {round_} was decided", self.clock())

    def _known_project(self, project_raw: Any, endpoint: str) -> int:
        if project_raw is None or project_raw == "":
            raise RequestError(400, f"query parameter 'project' is required, e.g. /{endpoint}?project=12")
        project = parse_project(project_raw)
        if self.store.get_label_config(project) is None:
            raise RequestError(404, f"project {project} is unknown to this backend")
        return project

    def start_round(self, project_raw: Any, reason: Any = None) -> dict:
        """POST /rounds: start the next round by hand; tasks stored from now on belong to it."""
        project = self._known_project(project_raw, "rounds")
        if reason is not None and not isinstance(reason, str):
            raise RequestError(400, "'reason' must be a string")
        round_ = self.store.start_round(project, reason or "started by POST /rounds", self.clock())
        return {"project": project, "round": round_, "refresh": self.request_refresh(project, force=True)}

    def rounds(self, project_raw: Any) -> dict:
        """GET /rounds: every round of the project with its tasks, labels and decision history."""
        project = self._known_project(project_raw, "rounds")
        labels = self.store.labels(project)
        current = self.store.current_round(project)
        out = []
        for info in self.store.rounds(project):
            tasks = set(self.store.round_tasks(project, info["round"]))
            history = self.store.decisions(project, info["round"])
            state = "decided" if is_stopped(history[-1] if history else None) else "open"
            history = [iso_fields(record, ("decided_at",)) for record in history]
            out.append({**iso_fields(info, ("started_at",)), "tasks": len(tasks),
                        "labelled_tasks": len({x.task for x in labels if x.task in tasks}),
                        "state": state, "current": info["round"] == current,
                        "decision": history[-1] if history and state == "decided" else None,
                        "decisions": history})
        return {"project": project, "current_round": current, "rounds": out}

    # ----------------------------------------------------------------- decision
    def stopping_rule(self):
        """The rule of the settings (``MODELPICKER_STOP_RULE``), the very object ``bench --stop`` builds."""
        st = self.settings
        return make_rule(st.stop_rule, epsilon=st.epsilon, delta=st.delta, confidence=st.confidence,
                         patience=st.patience, budget=st.label_budget, min_labels=st.min_labels)

    def strategy_params(self) -> dict:
        """Constructor parameters the settings give the strategy (the certificate's delta and epsilon)."""
        return core.registry.stop_params(self.strategy, self.settings.epsilon, self.settings.delta)

    def _rule(self, project: int, belief: Belief) -> tuple[Decision, dict]:
        """The stopping rule's answer for a belief, and its JSON summary.

        The rule sees the round's scored tasks only.  Tasks a candidate cannot
        predict are not scored, so "exhausted" means every *scored* task is
        labelled; the summary then counts the round's tasks left out
        (``"unscored_tasks"``) and says so in ``reason_text``.
        """
        unlabelled = int((belief.labels < 0).sum()) if belief.task_ids.size else None
        pick = int(np.argmax(belief.strategy.p_top()))
        previous = [] if belief.p_history is None else belief.p_history[:, pick]
        rule = self.stopping_rule()
        if rule.name == "certified":
            d = rule.decide_for(belief.strategy, unlabelled, gap=belief.gap)
        else:
            d = rule.decide_for(belief.strategy, unlabelled, previous=previous)
            d = dataclasses.replace(d, gap=float(belief.gap[d.model]) if belief.gap is not None else None)
        # the named candidate's P(best) (its ranking row), not the rule's p_top: one value in
        # /rankings, the description's decision line and /export
        p_best = float(belief.strategy.ranking().p_best[d.model])
        live = decision_summary(d, self.pool.names[d.model], rule.get_params(), p_best=p_best,
                                previous=previous if rule.name != "certified" else ())
        in_round = set(self.store.round_tasks(project, self.store.current_round(project)))
        unscored = sorted({e["task"] for e in self.store.prediction_errors(project, self.pool.cache_keys)}
                          & in_round)
        live["unscored_tasks"] = len(unscored)
        if unscored and d.reason == "exhausted":
            live["reason_text"] = (f"every scored task of the round is labelled; {len(unscored)} task(s) "
                                   f"left out because a candidate cannot predict them (tasks_without_predictions)")
        return d, live

    def live_decision(self, project: int, belief: Belief) -> dict:
        """What the stopping rule says now about the round's belief (not recorded)."""
        return self._rule(project, belief)[1]

    def decide(self, project: int, belief: Belief) -> dict:
        """Ask the stopping rule, record a stop / reopen when its answer changed; returns the live decision."""
        d, live = self._rule(project, belief)
        round_ = self.store.current_round(project)
        history = self.store.decisions(project, round_)
        last = history[-1] if history else None
        state = next_record(last, d, live["candidate"])
        if state is not None:
            records = ranking_records(belief, self.pool.names)
            last = self.store.add_decision(project, round_, {
                "state": state, "candidate": live["candidate"], "p_best": live["p_best"], "labels": live["labels"],
                "reason": live["reason"], "decided_at": self.clock(),
                "evidence": {"gap": live["gap"], "p_top": live["p_top"], "reason_text": live["reason_text"],
                             "confidence": self.settings.confidence, "budget": self.settings.label_budget,
                             "min_labels": self.settings.min_labels,
                             "patience": self.settings.patience, "rule": live["rule"],
                             "epsilon": self.settings.epsilon, "delta": self.settings.delta,
                             "unlabelled": int((belief.labels < 0).sum()), "ranking": records,
                             "model_version": belief.model_version, "strategy": self.strategy}})
            logger.info("project %s round %s: decision %s (%s, P(best)=%.3f, %d labels)", project, round_, state,
                        live["candidate"], live["p_best"], live["labels"])
        return {**live, "round": round_, "state": None if last is None else last["state"],
                "recorded": None if last is None else iso_fields(last, ("decided_at",))}

    # ------------------------------------------------------------------ refresh
    @property
    def label_studio(self):
        """The :class:`~backend.labelstudio_api.LabelStudioAPI` client, or None when write-back is off."""
        if not (self.settings.writeback and self.settings.label_studio_configured):
            return None
        return self._label_studio_api()

    def _label_studio_api(self):
        """The client of LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY (created once), whether write-back is on or not."""
        if self._api is None:
            from .labelstudio_api import LabelStudioAPI

            self._api = LabelStudioAPI(self.settings.label_studio_url, self.settings.label_studio_api_key)
        return self._api

    def check_label_studio(self) -> dict:
        """Ask Label Studio who the API key belongs to (at start): records the outcome for /health.

        Returns the ``label_studio`` part of /health.  A failure is logged as
        one line by :mod:`backend.ls_status`, never raised.
        """
        if self.settings.label_studio_configured:
            from .labelstudio_api import LabelStudioAPIError

            try:
                self._label_studio_api().whoami()
            except LabelStudioAPIError as exc:
                ls_status.record_failure(self.store, exc, self.settings.label_studio_url, self.clock())
            else:
                ls_status.record_success(self.store, self.clock())
        return self.label_studio_health()

    def label_studio_health(self) -> dict:
        """The ``label_studio`` part of /health: configured, URL (no credentials), token kind, last problem."""
        token = getattr(self._api, "token_kind", None)
        return ls_status.health(self.store, self.settings, token)

    def request_refresh(self, project: int, force: bool = False) -> dict:
        """Queue (or run, inline) a refresh if the debounce rule says so; at most one waits per project.

        Returns what happened: ``{"status": "queued"|"done"|"coalesced"|"deferred"|"not needed", ...}``.
        """
        now = self.clock()
        with self._lock:
            state = self.store.refresh_state(project)
            last = state["last_refresh_at"]
            plan = plan_refresh(state["label_changes"] - state["changes_at_refresh"],
                                None if last is None else now - last,
                                self.settings.refresh_every_labels, self.settings.refresh_min_seconds)
            if force:
                plan = type(plan)(True, 0.0)
            if plan.delay is None:
                return {"status": "not needed"}
            if not plan.due and not self.runner.delays:
                return {"status": "deferred", "seconds": plan.delay,
                        "why": "fewer than MODELPICKER_REFRESH_EVERY_LABELS changes within "
                               "MODELPICKER_REFRESH_MIN_SECONDS; the next label event checks again"}
            waiting = self.store.waiting_job(project, "refresh", now - STALE_QUEUED_SECONDS)
            if waiting:
                return {"status": "coalesced", "job": waiting}
            job_id = uuid.uuid4().hex
            self.store.add_job(job_id, project, "refresh", now, None if plan.due else now + plan.delay)
        rq_id = self.runner.submit("refresh", project, job_id, bool(force), delay=None if plan.due else plan.delay)
        if rq_id is None:
            record = next((j for j in self.store.jobs(project, 5) if j["id"] == job_id), None)
            return {"status": "done", "job": job_id, "state": record["state"] if record else None}
        return {"status": "queued", "job": job_id, "rq_job": rq_id,
                "delay": None if plan.due else plan.delay}

    def refresh(self, project: int, job_id: str | None = None, force: bool = False) -> dict:
        """The refresh job: rescore, decide, push the queue and the ranking to Label Studio.

        Never raises: a failure is recorded on the job (``GET /jobs``) and
        returned, so an inline refresh cannot turn a stored label into an
        error answer.
        """
        if job_id is None:
            job_id = uuid.uuid4().hex
            self.store.add_job(job_id, project, "refresh", self.clock())
        with self._refresh_lock:
            self.store.update_job(job_id, self.clock(), state="started", progress=0.0,
                                  message="computing missing candidate predictions")
            from .labelstudio_api import LabelStudioAPIError

            try:
                result = self._refresh(project, job_id)
            except LabelStudioAPIError as exc:  # a setting or Label Studio itself: one log line per kind, no traceback
                message = ls_status.describe_failure(exc, self.settings.label_studio_url)
                ls_status.record_failure(self.store, exc, self.settings.label_studio_url, self.clock())
                self.store.update_job(job_id, self.clock(), state="failed", message=message)
                return {"job": job_id, "state": "failed", "error": message, "problem": exc.kind}
            except Exception as exc:  # recorded for /jobs; the webhook answer must not fail
                import traceback

                logger.error("refresh of project %s failed\n%s", project, redact_text(
                    "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
                message = redact_text(f"{type(exc).__name__}: {exc}")
                self.store.update_job(job_id, self.clock(), state="failed", message=message)
                return {"job": job_id, "state": "failed", "error": message}
            if result.get("wrote_back"):
                ls_status.record_success(self.store, self.clock())
            self.store.update_job(job_id, self.clock(), state="finished", progress=1.0,
                                  message=result["message"], result=result)
            return {"job": job_id, "state": "finished", **result}

    def _refresh(self, project: int, job_id: str) -> dict:
        start = time.perf_counter()
        self.compute_predictions(project)
        skipped = self.task_prediction_errors(project)
        covered = self.store.mark_refresh_started(project, self.clock())
        self.store.update_job(job_id, self.clock(), progress=0.2, message="rescoring the unlabelled tasks")
        belief = self.belief(project)
        decision = self.decide(project, belief)
        result: dict[str, Any] = {"project": project, "round": decision["round"], "labels": belief.n_labels,
                                  "label_changes": covered, "model_version": belief.model_version,
                                  "decision": {k: decision[k] for k in ("stop", "candidate", "p_best", "gap", "reason",
                                                                       "labels", "state")},
                                  "pushed": 0, "deleted": 0, "superseded": [], "description": False,
                                  "candidate_predictions": 0, "seconds": {},
                                  "tasks_without_predictions": skipped}
        api = self.label_studio
        if api is None:
            result["message"] = ("ranking and decision updated; Label Studio write-back is off "
                                 "(LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY unset or MODELPICKER_WRITEBACK=false)")
            result["seconds"]["total"] = time.perf_counter() - start
            return result
        from .queue_writeback import candidate_predictions, delete_superseded, switch_queue, write_ranking

        state = self.store.refresh_state(project)
        unlabelled = np.flatnonzero(belief.labels < 0)
        if self.settings.push_limit and unlabelled.size > self.settings.push_limit:
            first = np.argsort(belief.priority[unlabelled], kind="stable")[:self.settings.push_limit]
            unlabelled = np.sort(unlabelled[first])
        if state["pushed_version"] != belief.model_version and unlabelled.size:
            self.store.update_job(job_id, self.clock(), progress=0.3,
                                  message=f"pushing {unlabelled.size} priorities as {belief.model_version}")
            switched = switch_queue(api, project, belief.task_ids[unlabelled], belief.priority[unlabelled],
                                    belief.model_version)
            self.store.set_pushed_version(project, belief.model_version)
            result["pushed"] = switched["pushed"]
            result["seconds"].update(switched["seconds"])
        self.store.update_job(job_id, self.clock(), progress=0.6, message="writing the ranking into the project")
        t0 = time.perf_counter()
        write_ranking(api, project, ranking_records(belief, self.pool.names), decision, self.strategy,
                      decision["round"])
        result["description"] = True
        result["seconds"]["description"] = time.perf_counter() - t0
        if self.settings.write_candidates:
            todo = self.store.tasks_without_candidate_push(project)
            answers = self.store.predictions(project, todo)
            todo = [t for t in todo if len(answers.get(t, {})) == len(self.pool.candidates)]
            if todo:
                self.store.update_job(job_id, self.clock(), progress=0.7,
                                      message=f"writing the candidates' predictions for {len(todo)} tasks")
                choices = self._project_choices(project)
                rows = candidate_predictions(todo, answers, [(c.name, c.cache_key) for c in self.pool.candidates],
                                             choices.name, choices.to_name)
                result["candidate_predictions"] = api.import_predictions(project, rows)
                self.store.mark_candidates_pushed(project, todo)
        if state["pushed_version"] != belief.model_version or result["pushed"]:
            self.store.update_job(job_id, self.clock(), progress=0.8, message="deleting superseded priorities")
            removed = delete_superseded(api, project, belief.model_version, keep=self.pool.names)
            result.update(deleted=removed["deleted"], superseded=removed["superseded"])
            result["seconds"].update(removed["seconds"])
        result["seconds"]["total"] = time.perf_counter() - start
        result["wrote_back"] = True
        result["message"] = (f"queue follows {belief.model_version}; pushed {result['pushed']}, "
                             f"deleted {result['deleted']} superseded; decision: "
                             f"{'stop' if decision['stop'] else 'keep labelling'}")
        return result

    def jobs(self, project_raw: Any, limit_raw: Any = None) -> dict:
        """GET /jobs: the project's latest job records, newest first."""
        project = self._known_project(project_raw, "jobs")
        limit = 50 if limit_raw in (None, "") else parse_int(limit_raw, "limit", 1, 1000)
        return {"project": project, "runner": self.runner.kind,
                "jobs": [iso_fields(j, JOB_TIMES) for j in self.store.jobs(project, limit)]}

    def versions(self, project_raw: Any = None) -> dict:
        """GET/POST /versions: the current priority version of one project, or of every known project."""
        if project_raw not in (None, ""):
            projects = [self._known_project(project_raw, "versions")]
        else:
            projects = list(self.store.projects())
        versions = []
        if self.pool is not None:
            for project in projects:
                try:
                    versions.append(self.belief(project).model_version)
                except RequestError:
                    continue  # a project the pool does not fit has no version
        # the directory's name only: no absolute path leaves the process
        return {"versions": versions, "model_dir": basename(self.settings.model_dir), "v2": True}

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
            "round": self.store.current_round(project),
            "decision": self.live_decision(project, belief),
            # left out of the ranking and the stopping rule: a candidate cannot predict them
            "tasks_without_predictions": self.task_prediction_errors(project),
        }

    def health(self) -> dict:
        """/health: no absolute path (file names only) and no secret (see :mod:`backend.redact`)."""
        ok, error = self.store.check()
        store_path = self.store.describe()
        pool_path = self.settings.pool_path
        return {
            "status": "UP",
            "model_class": "ModelPickerModel",
            "strategy": self.strategy,
            "jobs": self.runner.kind,
            "pool": {"ok": self.pool is not None,
                     "candidates": 0 if self.pool is None else len(self.pool.candidates),
                     "path": basename(pool_path),
                     "error": redact_text(strip_dirs(self.pool_error, pool_path, store_path))
                     if self.pool_error else None,
                     "project_errors": {str(k): redact_text(v) for k, v in self.project_errors.items()}},
            "store": {"ok": ok, "path": basename(store_path),
                      "error": strip_dirs(error, store_path, pool_path)},
            "label_studio": self.label_studio_health(),
        }


__all__ = ["Service", "parse_project", "RequestError", "SettingsError"]

"""What the endpoints do, free of Flask: setup, predict, webhook events, rankings, health.

The service translates between Label Studio and the core.  It keeps no
belief of its own: the belief is rebuilt from the store whenever the store's
revision for a project changes (see :mod:`backend.belief`), and cached in
memory until then.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

import modelpicker_core as core
from modelpicker_core.stopping import Decision, make_rule

from . import jobs, ls_status, predictions
from .belief import Belief, fit_belief, model_version, prediction_matrix, ranking_records
from .belief_cache import FittedBelief, RoundMatrix
from .confirm import confirm_project, hint_of
from .debounce import plan_refresh
from .decisions import decision_summary, is_stopped, next_record
from .errors import RequestError
from .events import MAX_ID, annotation_versions, parse_event
from .inputs import MAX_DIGITS, parse_int
from .labelconfig import ChoicesControl, LabelConfigError, parse_choices
from .locks import ProjectLocks
from .lru import BoundedCache, digest
from .pool import Pool, PoolError, PredictionError, load_pool
from .redact import basename, redact_text, strip_dirs
from .settings import Settings, SettingsError, resolve_strategy
from .store import SQLiteStore, Store
from .timefmt import iso, iso_fields

logger = logging.getLogger(__name__)

#: a refresh record still "queued" after this many seconds is taken as lost (worker gone) and not waited for
STALE_QUEUED_SECONDS = 600.0
#: the time fields of a job record (POSIX seconds in the store, ISO 8601 UTC in answers)
JOB_TIMES = ("created_at", "started_at", "finished_at", "run_after")
#: webhook actions after which a refresh is considered (labels changed)
LABEL_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
#: parsed label configs kept at most (entries, and total bytes of the configs they came from)
CONFIG_CACHE_ENTRIES, CONFIG_CACHE_BYTES = 64, 32 * 1024 * 1024
#: seconds before a confirmation that could not read Label Studio is tried again (rq runner only)
CONFIRM_RETRY_SECONDS = 30.0
#: a queued confirmation older than this is not waited for: webhooks queue a new one (a crash between
#: the hint's commit and the enqueue leaves a record no worker will run; duplicates only find nothing to do)
CONFIRM_STALE_SECONDS = 60.0
#: with rq, /rankings serves the kept ranking of an older revision for this long (the worker's refresh
#: brings the next one) before computing one itself
RANKING_STALE_SECONDS = 10.0
#: ... and for up to this long while the project's hints or jobs are in flight
RANKING_MAX_STALE_SECONDS = 120.0
#: hints older than this with no confirmation job queued or started since are re-submitted (:mod:`backend.hint_sweeper`)
HINT_SWEEP_AGE_SECONDS = 30.0
#: what /health and the start-up log say when webhooks cannot be confirmed
UNCONFIRMED = ("labels are UNCONFIRMED: webhook payloads are stored as sent, so anyone who can reach /webhook "
               "can plant, overwrite or delete labels; set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY so every "
               "annotation and task event is confirmed with Label Studio's API before it counts")


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
        # one lock per project (beliefs and caches; refreshes; confirmations): a slow project never
        # makes another one wait (issue 11: /rankings of B waited 34 s behind a /setup of A)
        self._locks, self._refresh_locks, self._confirm_locks = ProjectLocks(), ProjectLocks(), ProjectLocks()
        self._api = None
        self._retry_runner = None
        self._beliefs: dict[int, FittedBelief] = {}
        self._matrices: dict[int, RoundMatrix] = {}
        self._checked: BoundedCache[ChoicesControl] = BoundedCache(CONFIG_CACHE_ENTRIES, CONFIG_CACHE_BYTES)
        #: confirmation mode: webhooks are hints and labels are read from Label Studio's API (see backend.confirm)
        self.confirm_labels: bool = bool(settings.label_studio_configured)
        #: project -> why the pool does not fit its stored label config (found at start)
        self.project_errors: dict[int, str] = self.check_known_projects() if pool is not None else {}

    @classmethod
    def from_settings(cls, settings: Settings, inline: bool = False) -> Service:
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
        if not settings.label_studio_configured:
            logger.warning(UNCONFIRMED)
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

    def require_pool(self) -> Pool:
        """The loaded candidate pool; a 503 naming why when it could not be loaded."""
        if self.pool is None:
            raise RequestError(503, f"candidate pool unusable: {self.pool_error}")
        return self.pool

    def choices_for(self, label_config: str) -> ChoicesControl:
        """Parse a label config and check the pool against it (cached per config text)."""
        pool = self.require_pool()
        key = digest(label_config)
        choices = self._checked.get(key)
        if choices is not None:
            return choices
        try:  # outside every lock: a huge config delays only its own request
            choices = parse_choices(label_config)
            pool.check(choices)
        except (LabelConfigError, PoolError) as exc:
            raise RequestError(422, str(exc)) from None
        self._checked.put(key, choices, len(label_config))
        return choices

    def project_choices(self, project: int, label_config: str | None = None) -> ChoicesControl:
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

        See :meth:`belief_at`, which also returns the store revision it was fitted at.
        """
        return self.belief_at(project)[1]

    def belief_at(self, project: int) -> tuple[int, Belief]:
        """``(store revision, belief)``: the project's belief over its current round, refitted when its
        labels changed.

        Only the tasks of the current round (and their labels) count: a new
        round is a new selection.  The prediction matrix is cached separately
        and re-read from the store only when tasks, predictions or the round
        changed, so a new label costs one replay of the labels, not a read of
        every cached prediction.
        """
        pool = self.require_pool()
        choices = self.project_choices(project)
        with self._locks.hold(project):
            revision = self.store.revision(project)
            config = self.store.get_label_config(project)
            cached = self._beliefs.get(project)
            if cached and cached.current(revision, config):
                return revision, cached.belief
            round_ = self.store.current_round(project)
            matrix = self._round_matrix(project, pool, choices, round_)
            labels = [x for x in self.store.labels(project) if x.task in matrix.in_round]
            previous = cached.belief if cached and cached.config == config else None
            belief = fit_belief(project, self.strategy, self.settings.seed, pool.fingerprint, matrix.task_ids,
                                matrix.predictions, choices, labels, round_, history=self.settings.patience - 1,
                                params=self.strategy_params(), delta=self.settings.delta, previous=previous)
            self._beliefs[project] = FittedBelief(revision, config, belief)
            return revision, belief

    def _forget_cached(self, project: int) -> None:
        """Drop the project's cached belief and matrix (after a rolled-back transaction: the
        store's revision counters went back, so a cache keyed by them could be stale)."""
        with self._locks.hold(project):
            self._beliefs.pop(project, None)
            self._matrices.pop(project, None)

    def _round_matrix(self, project: int, pool: Pool, choices: ChoicesControl, round_: int) -> RoundMatrix:
        """The round's prediction matrix, cached until its tasks, predictions or label config change."""
        with self._locks.hold(project):
            pool_revision, config = self.store.pool_revision(project), self.store.get_label_config(project)
            matrix = self._matrices.get(project)
            if not (matrix and matrix.current(pool_revision, round_, config)):
                in_round = frozenset(self.store.round_tasks(project, round_))
                answers = {t: row for t, row in self.store.predictions(project).items() if t in in_round}
                task_ids, rows = prediction_matrix(answers, pool.cache_keys, choices)
                matrix = RoundMatrix(pool_revision, round_, config, task_ids, rows, in_round)
                self._matrices[project] = matrix
            return matrix

    # ------------------------------------------------------------ predictions
    def compute_predictions(self, project: int, task_ids: list[int] | None = None) -> int:
        """Cache every candidate's prediction for stored tasks that lack one; returns tasks tried.

        See :func:`backend.predictions.compute_predictions` (``task_ids``: those tasks only, None = all).
        """
        return predictions.compute_predictions(self.store, self.require_pool(), self.project_choices(project),
                                               project, task_ids)

    def task_prediction_errors(self, project: int, task_ids: list[int] | None = None) -> list[dict]:
        """``[{"task", "candidate", "error"}]``: see :func:`backend.predictions.task_prediction_errors`."""
        return predictions.task_prediction_errors(self.store, self.require_pool(), project, task_ids)

    # -------------------------------------------------------------- endpoints
    def setup(self, project_raw: Any, schema: Any) -> dict:
        """/setup: check the pool against the project's config, remember the config."""
        project = parse_project(project_raw)
        if not isinstance(schema, str) or not schema.strip():
            raise RequestError(400, "'schema' (the project's label config) is missing")
        self.project_choices(project, schema)
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
        pool = self.require_pool()
        ids = [t for t, _ in parsed]
        if label_config:
            if not isinstance(label_config, str):
                raise RequestError(400, "'label_config' must be a string")
            choices = self.choices_for(label_config)
        else:
            choices = self.project_choices(project)
        # 1. predict in memory, no lock and no write transaction held: candidates may be slow (an http
        #    model server) and must not hold up other requests; predictions still valid (same task data)
        #    are reused, and asking again retries failures (e.g. a model server that was down)
        data = dict(parsed)
        stored = self.store.task_data(project, ids)
        cached = self.store.predictions(project, [t for t in data if stored.get(t) == data[t]])
        try:
            rows, errors = predictions.predict_in_memory(pool, choices, data, cached)
        except PredictionError as whole:
            raise RequestError(422, redact_text(str(whole))) from None
        if errors and {t for t, _, _ in errors} >= set(ids):
            raise RequestError(422, "; ".join(message for _, _, message in errors))  # nothing stored
        # 2. store it all in one short transaction
        try:
            with self.store.transaction():
                if label_config:
                    self.project_choices(project, label_config)
                new_tasks = self.store.new_task_ids(project, ids)
                # tasks first seen here after the round was decided are a new batch, as with TASKS_CREATED
                new_round = self._round_after_decision(project) if new_tasks else None
                self.store.upsert_tasks(project, parsed)
                self.store.clear_prediction_errors(project, ids)
                self.store.save_predictions(project, rows)
                if errors:
                    self.store.save_prediction_errors(project, errors)
        except BaseException:
            self._forget_cached(project)
            raise
        failures = self.task_prediction_errors(project, ids)
        failed = {e["task"] for e in failures}
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
        """/webhook: a hint to re-read (confirmation mode), or the payload stored as sent (payload mode).

        Either way the request only parses, stores, commits and enqueues:
        confirmation, predictions and refreshes run on the rq worker when
        ``REDIS_URL`` is set (inline otherwise, after the commit).
        """
        event = parse_event(payload)
        if event is None:
            return {"status": "ignored", "action": payload["action"]}
        self.require_pool()
        if self.confirm_labels:
            return self._webhook_hint(event)
        return self._webhook_payload(event)

    def _webhook_hint(self, event) -> dict:
        """Confirmation mode: commit a hint naming the event's ids, then confirm (job or inline).

        Nothing of the payload but ids is kept: Label Studio's API decides
        what the store holds (:mod:`backend.confirm`).
        """
        project = event.project
        tasks, annotations, config = hint_of(event)
        now = self.clock()
        job_id = waiting = None
        with self.store.transaction():  # one commit: the hint and, with rq, the job record
            if self.store.get_label_config(project) is None:
                config = True  # a project never set up: its config is read from Label Studio too
            hint = self.store.add_hint(project, event.action, tasks, annotations, config, now)
            if self.runner.kind != "inline":
                waiting = self.store.waiting_job(project, "confirm", now - CONFIRM_STALE_SECONDS)
                if waiting is None:
                    job_id = uuid.uuid4().hex
                    self.store.add_job(job_id, project, "confirm", now)
                else:
                    job_id = waiting
        answer = {"status": "ok", "action": event.action, "project": project, "hint": hint}
        if self.runner.kind == "inline":  # development set-ups: the effects are there before the answer
            confirmed = answer["confirmation"] = self.confirm_pending(project)
            answer.update({"annotations_changed": confirmed.get("changed", 0),
                           "annotations_removed": confirmed.get("removed", 0)})
            answer.update({k: confirmed[k] for k in ("refresh", "prediction_error") if k in confirmed})
            if confirmed.get("new_round") is not None:
                answer["new_round"] = confirmed["new_round"]
            if confirmed.get("state") == "finished" and self.store.get_label_config(project) is not None:
                answer.update(self.label_summary(project))
        elif waiting is None:
            answer["rq_job"] = self._submit_recorded(self.runner, "confirm_pending", job_id, project, job_id)
        answer["job"] = job_id if job_id is not None else answer["confirmation"].get("job")
        answer["pending"] = self.store.pending_count(project)
        return answer

    def confirm_pending(self, project: int, job_id: str | None = None, refresh: bool = True) -> dict:
        """The confirmation job: read the tasks the project's hints name from Label Studio, mirror them.

        Then, as the payload flow did: candidates' predictions for the tasks
        stored, and a refresh when labels or tasks changed (``refresh``).
        Never raises for Label Studio being down: the hints stay pending, the
        failure is recorded (job, /health) and, with rq, a retry is queued.
        """
        from .labelstudio_api import LabelStudioAPIError

        with self._confirm_locks.hold(project):
            if job_id is None:
                job_id = uuid.uuid4().hex
                self.store.add_job(job_id, project, "confirm", self.clock())
            # marked started before the hints are read: a webhook arriving now queues a new job
            self.store.update_job(job_id, self.clock(), state="started", message="reading the hinted tasks")
            if not self.store.pending_count(project):
                self.store.update_job(job_id, self.clock(), state="finished", progress=1.0, message="nothing pending")
                return {"job": job_id, "state": "finished", "hints": 0, "pending": 0}
            try:
                api = self._label_studio_api()
                choices = self._confirmed_choices(project, api)
                if choices is None:
                    self.store.update_job(job_id, self.clock(), state="finished", progress=1.0,
                                          message="Label Studio has no such project: its hints were dropped")
                    return {"job": job_id, "state": "finished", "dropped": True, "pending": 0}
                result = confirm_project(self.store, api, project, choices, self.clock,
                                         on_new_tasks=lambda new, hints: self._new_batch_round(project, new, hints))
            except LabelStudioAPIError as exc:
                message = ls_status.describe_failure(exc, self.settings.label_studio_url)
                ls_status.record_failure(self.store, exc, self.settings.label_studio_url, self.clock())
                self.store.update_job(job_id, self.clock(), state="failed",
                                      message=f"hints kept for a retry: {message}")
                retry = self._schedule_confirm_retry(project)
                return {"job": job_id, "state": "failed", "error": message, "problem": exc.kind,
                        "pending": self.store.pending_count(project), "retry": retry}
            except RequestError as exc:  # the pool does not fit the config Label Studio has: hints wait for /setup
                self.project_errors[project] = exc.message
                self.store.update_job(job_id, self.clock(), state="failed", message=exc.message)
                return {"job": job_id, "state": "failed", "error": exc.message,
                        "pending": self.store.pending_count(project)}
            except Exception as exc:  # recorded for /jobs; the hints stay, the acknowledged webhook stays 200
                import traceback

                logger.error("confirmation of project %s failed\n%s", project, redact_text(
                    "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
                message = redact_text(f"{type(exc).__name__}: {exc}")
                self.store.update_job(job_id, self.clock(), state="failed", message=f"hints kept: {message}")
                return {"job": job_id, "state": "failed", "error": message,
                        "pending": self.store.pending_count(project)}
            ls_status.record_success(self.store, self.clock())
            self.store.update_job(job_id, self.clock(), state="finished", progress=1.0,
                                  message=f"confirmed {result['tasks_read']} task(s) of {result['hints']} hint(s)",
                                  result={k: v for k, v in result.items() if k != "stored"})
        answer = {"job": job_id, "state": "finished", **{k: v for k, v in result.items() if k != "stored"}}
        self._predict_stored(project, result["stored"], answer, now=True)
        if refresh and (result["new_tasks"] or result["changed"] or result["removed"] or result["tasks_removed"]):
            answer["refresh"] = self.request_refresh(project, force=bool(result["new_tasks"]))
        return answer

    def _schedule_confirm_retry(self, project: int) -> str | None:
        """Queue one delayed confirmation (rq only) unless one already waits: hints of a down Label Studio
        are tried again every :data:`CONFIRM_RETRY_SECONDS` without a chain per failed webhook.

        An rq worker's own service runs jobs inline, so the retry goes through an rq runner built
        from ``REDIS_URL`` here.
        """
        if not self.settings.redis_url:
            return None
        now = self.clock()
        if self.store.waiting_job(project, "confirm", now - CONFIRM_STALE_SECONDS):
            return None
        if self._retry_runner is None:  # never inline: a retry that ran at once would only fail again
            self._retry_runner = jobs.RQRunner(self.settings.redis_url, self.settings.redis_queue, jobs.DropRunner())
        job_id = uuid.uuid4().hex
        self.store.add_job(job_id, project, "confirm", now, now + CONFIRM_RETRY_SECONDS)
        if self._submit_recorded(self._retry_runner, "confirm_pending", job_id, project, job_id, True,
                                 delay=CONFIRM_RETRY_SECONDS) is None:
            self.store.update_job(job_id, self.clock(), state="failed",
                                  message="retry not enqueued (Redis unreachable)")
            return None
        return job_id

    def _confirmed_choices(self, project: int, api) -> ChoicesControl | None:
        """The project's Choices; its label config re-read from Label Studio when a hint asks for it.

        None when Label Studio has no such project (a forged or stale hint).
        """
        from .labelstudio_api import LabelStudioAPIError

        hints = self.store.pending_hints(project)
        if self.store.get_label_config(project) is None or any(h["config"] for h in hints):
            try:
                config = api.get_project(project).get("label_config")
            except LabelStudioAPIError as exc:
                if exc.status == 404:
                    self.store.remove_hints([h["id"] for h in hints])
                    return None
                raise
            if not isinstance(config, str) or not config.strip():
                raise RequestError(422, f"Label Studio's project {project} has no label config")
            choices = self.project_choices(project, config)
            self.store.remove_hints([h["id"] for h in hints if h["config"] and not h["tasks"]
                                     and not h["annotations"]])
            return choices
        return self.project_choices(project)

    def _new_batch_round(self, project: int, new_tasks: list[int], hints: list[dict]) -> int | None:
        """A new round when a ``TASKS_CREATED`` hint named only tasks new to the backend (as in payload mode)."""
        new = set(new_tasks)
        if any(h["action"] == "TASKS_CREATED" and h["tasks"] and set(h["tasks"]) <= new for h in hints):
            return self._round_after_decision(project)
        return None

    def resume_pending(self) -> dict:
        """Submit a confirmation for every project with pending hints (at start of the service or a worker)."""
        out = {}
        if not self.confirm_labels:
            return out
        for project in self.store.hint_projects():
            try:
                if self.runner.kind == "inline":
                    out[project] = self.confirm_pending(project).get("state")
                else:  # always a fresh job: a "queued" record may be one a crash never enqueued
                    out[project] = self._submit_confirm(project)
            except Exception as exc:  # start-up must go on; the next webhook, refresh or /sync retries
                logger.error("project %s: could not resume its pending hints: %s", project,
                             redact_text(f"{type(exc).__name__}: {exc}"))
        return out

    def _submit_confirm(self, project: int) -> str | None:
        """Record and submit a fresh confirmation job of ``project``; the rq job id (None when run inline)."""
        job_id = uuid.uuid4().hex
        self.store.add_job(job_id, project, "confirm", self.clock())
        return self._submit_recorded(self.runner, "confirm_pending", job_id, project, job_id)

    def _submit_recorded(self, runner, job: str, job_id: str, *args, delay: float | None = None) -> str | None:
        """``runner.submit(job, *args)``; when rq accepted it, the record ``job_id`` is marked as on the queue,
        so later requests may wait for it (:meth:`~backend.store.SQLiteStore.waiting_job`)."""
        rq_id = runner.submit(job, *args, delay=delay)
        if rq_id is not None:
            self.store.mark_enqueued(job_id, self.clock())
        return rq_id

    def sweep_unattended_hints(self) -> dict[int, str | None]:
        """Submit a confirmation for each project whose hints have waited :data:`HINT_SWEEP_AGE_SECONDS`
        with no confirmation job queued or started since (the job was lost in a crash).

        Returns ``{project: rq job id or None}`` for the projects it submitted.
        """
        out: dict[int, str | None] = {}
        if not self.confirm_labels:
            return out
        for project in self.store.unattended_hint_projects(self.clock() - HINT_SWEEP_AGE_SECONDS):
            logger.warning("project %s: hints waited over %.0f s with no confirmation job (one was lost in a crash); "
                           "submitting one", project, HINT_SWEEP_AGE_SECONDS)
            try:
                out[project] = self._submit_confirm(project)
            except Exception as exc:  # the next sweep tries again
                logger.error("project %s: could not submit a confirmation: %s", project,
                             redact_text(f"{type(exc).__name__}: {exc}"))
        return out

    def labels_health(self) -> dict:
        """The ``labels`` part of /health: confirmed or not, hints waiting, and how to fix unconfirmed labels."""
        if self.confirm_labels:
            return {"confirmed": True, "pending_hints": self.store.pending_count(),
                    "how": "webhooks are hints; labels and tasks are read from Label Studio's API"}
        return {"confirmed": False, "pending_hints": 0, "warning": UNCONFIRMED}

    def _webhook_payload(self, event) -> dict:
        """Payload mode (no Label Studio API configured): store what the event says, as sent."""
        project = event.project
        choices = self.project_choices(project) if event.label_config is None else \
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
        stored_tasks = self._predict_stored(project, stored_tasks, answer)
        if stored_tasks:
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
        if self.runner.kind == "inline":  # with rq the answer stays cheap: the summary is /rankings' job
            answer.update(self.label_summary(project))
        return answer

    def _predict_stored(self, project: int, stored: list[int], answer: dict, now: bool = False) -> list[int]:
        """Cache the candidates' predictions of the ``stored`` tasks that lack one: as a job, or ``now``.

        A candidate failing as a whole is logged and put in ``answer["prediction_error"]`` (the next
        computation retries); a job id goes to ``answer["job"]``.  Returns the tasks it asked for.
        """
        todo = self.store.tasks_without_predictions(project, self.pool.cache_keys, stored) if stored else []
        if not todo:
            return todo
        try:
            if now:
                self.compute_predictions(project, todo)
            else:
                job = self.runner.submit("compute_predictions", project, todo)
                if job:
                    answer["job"] = job
        except PredictionError as exc:
            logger.error("project %s: %s", project, redact_text(str(exc)))
            answer["prediction_error"] = redact_text(str(exc))
        return todo

    def label_summary(self, project: int) -> dict:
        """``{"labels", "model_version"}`` of the current round without fitting the strategy.

        The priority version depends on the labels and the set of scored tasks
        only (see :func:`backend.belief.model_version`), so the webhook can
        answer with it at once; with rq the fit happens in the worker, not in
        the request.
        """
        with self._locks.hold(project):
            cached = self._beliefs.get(project)
            if cached and cached.current(self.store.revision(project), self.store.get_label_config(project)):
                return {"labels": cached.belief.n_labels, "model_version": cached.belief.model_version}
        pool = self.require_pool()
        round_ = self.store.current_round(project)
        matrix = self._round_matrix(project, pool, self.project_choices(project), round_)
        labels = [x for x in self.store.labels(project) if x.task in matrix.in_round]
        return {"labels": len(labels), "model_version": model_version(
            project, labels, self.strategy, self.settings.seed, pool.fingerprint, round_, matrix.task_ids)}

    def sync(self, project_raw: Any) -> dict:
        """POST /sync: make the store mirror Label Studio for every labelled task (after downtime, lost webhooks).

        First the pending hints are confirmed (:meth:`confirm_pending`), then
        Label Studio's JSON export (tasks with annotations) is mirrored task by
        task (:meth:`~backend.store.SQLiteStore.mirror_tasks`): each exported
        task's annotations become exactly Label Studio's, with its
        ``updated_at``; stored tasks with annotations that the export does not
        list are read by id, so a task Label Studio deleted is removed and one
        whose annotations were deleted loses them.  Nothing a webhook caller
        sent (values, tombstones, future ``updated_at``) survives a sync.
        Tasks new to the backend join the current round.
        """
        project = self.known_project(project_raw, "sync")
        self.require_pool()
        choices = self.project_choices(project)
        if self._api is None and not self.settings.label_studio_configured:
            raise RequestError(409, "sync reads Label Studio's export: set LABEL_STUDIO_URL and "
                                    "LABEL_STUDIO_API_KEY")
        api = self._label_studio_api()
        from .confirm import confirmed_rows
        from .labelstudio_api import LabelStudioAPIError

        try:
            # hints first (what webhooks named and a down Label Studio left pending), then the export
            drained = self.confirm_pending(project, refresh=False) if self.confirm_labels else None
            if drained is not None and drained.get("state") == "failed" and "problem" in drained:
                raise LabelStudioAPIError("GET", f"/api/projects/{project}/export", None, drained["error"])
            read_at = self.clock()
            # the tasks with stored annotations before the export is read: one stored meanwhile is kept
            had_annotations = self.store.tasks_with_annotations(project)
            exported = api.annotated_tasks(project)
            read = {}
            for i, item in enumerate(exported):
                task_id, _ = _sync_task(item, i)
                read[task_id] = item
            # tasks holding stored annotations that the export (annotated tasks only) does not list:
            # their annotations were deleted, or the task itself; read them one by one to know which
            unlisted = sorted(had_annotations - set(read))
            if unlisted:
                read.update(api.tasks_by_id(project, unlisted))
        except LabelStudioAPIError as exc:
            ls_status.record_failure(self.store, exc, self.settings.label_studio_url, self.clock())
            raise RequestError(502, f"cannot read project {project}'s export from Label Studio: "
                                    f"{ls_status.describe_failure(exc, self.settings.label_studio_url)}") from None
        ls_status.record_success(self.store, self.clock())
        present, gone, problems = confirmed_rows(read, set(read) | set(unlisted), choices)
        with self.store.transaction():
            outcome = self.store.mirror_tasks(project, present, gone, read_at, tombstones=not self.confirm_labels)
            self.store.count_label_changes(project, outcome["changed"] + outcome["removed"])
        changed, removed, stored = outcome["changed"], outcome["removed"], outcome["stored"]
        answer = {"status": "ok", "project": project, "tasks": len(exported),
                  "annotations": sum(len(v) for _, v in present.values()),
                  "annotations_changed": changed, "annotations_removed": removed,
                  "tasks_removed": outcome["tasks_removed"], "hints_confirmed": (drained or {}).get("hints", 0)}
        if problems:
            answer["unreadable_annotations"] = problems
        self._predict_stored(project, stored, answer)
        if changed + removed + outcome["tasks_removed"] or (drained or {}).get("hints"):
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

    def known_project(self, project_raw: Any, endpoint: str) -> int:
        """The project id of a query parameter, checked: 400 when missing or malformed, 404 when unknown."""
        if project_raw is None or project_raw == "":
            raise RequestError(400, f"query parameter 'project' is required, e.g. /{endpoint}?project=12")
        project = parse_project(project_raw)
        if self.store.get_label_config(project) is None:
            raise RequestError(404, f"project {project} is unknown to this backend")
        return project

    def start_round(self, project_raw: Any, reason: Any = None) -> dict:
        """POST /rounds: start the next round by hand; tasks stored from now on belong to it."""
        project = self.known_project(project_raw, "rounds")
        if reason is not None and not isinstance(reason, str):
            raise RequestError(400, "'reason' must be a string")
        round_ = self.store.start_round(project, reason or "started by POST /rounds", self.clock())
        return {"project": project, "round": round_, "refresh": self.request_refresh(project, force=True)}

    def rounds(self, project_raw: Any) -> dict:
        """GET /rounds: every round of the project with its tasks, labels and decision history."""
        project = self.known_project(project_raw, "rounds")
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
            self.resume_pending()  # hints a previous run acknowledged but could not confirm
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
        with self._locks.hold(project):
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
        rq_id = self._submit_recorded(self.runner, "refresh", job_id, project, job_id, bool(force),
                                      delay=None if plan.due else plan.delay)
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
        with self._refresh_locks.hold(project):
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
        if self.confirm_labels and self.store.pending_count(project):
            # hints a failed confirmation left behind are retried by every refresh
            self.confirm_pending(project, refresh=False)
        self.compute_predictions(project)
        skipped = self.task_prediction_errors(project)
        covered = self.store.mark_refresh_started(project, self.clock())
        self.store.update_job(job_id, self.clock(), progress=0.2, message="rescoring the unlabelled tasks")
        revision, belief = self.belief_at(project)
        decision = self.decide(project, belief)
        self._store_ranking(project, (revision, belief))  # what /rankings serves until the next change
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
                choices = self.project_choices(project)
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
        project = self.known_project(project_raw, "jobs")
        limit = 50 if limit_raw in (None, "") else parse_int(limit_raw, "limit", 1, 1000)
        return {"project": project, "runner": self.runner.kind,
                "jobs": [iso_fields(j, JOB_TIMES) for j in self.store.jobs(project, limit)]}

    def versions(self, project_raw: Any = None) -> dict:
        """GET/POST /versions: the current priority version of one project, or of every known project."""
        if project_raw not in (None, ""):
            projects = [self.known_project(project_raw, "versions")]
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
        if project_raw is None or project_raw == "":  # a missing parameter first, then an unusable pool
            raise RequestError(400, "query parameter 'project' is required, e.g. /rankings?project=12")
        self.require_pool()
        project = self.known_project(project_raw, "rankings")
        now = self.clock()
        snapshot = self.store.ranking_snapshot(project, self._snapshot_key)
        if snapshot is not None:
            current = snapshot["revision"] == self.store.revision(project)
            if current or self._next_ranking_coming(project, now - snapshot["computed_at"]):
                if current:
                    return {**snapshot["body"], "up_to_date": True}
                return {**snapshot["body"], "up_to_date": False, "computed_at": iso(snapshot["computed_at"]),
                        "note": "labels changed since this ranking; the worker's refresh is computing the next"}
        return {**self._store_ranking(project)[1], "up_to_date": True}

    def _next_ranking_coming(self, project: int, age: float) -> bool:
        """Whether a reader may get a kept ranking ``age`` seconds old instead of refitting: with rq the
        worker's refresh after a label change writes the next one.  Younger than
        :data:`RANKING_STALE_SECONDS`, or while hints or jobs of the project are in flight and younger than
        :data:`RANKING_MAX_STALE_SECONDS` (past that the worker is taken as stuck or gone)."""
        if self.runner.kind != "rq":
            return False
        if age <= RANKING_STALE_SECONDS:
            return True
        if age > RANKING_MAX_STALE_SECONDS:
            return False
        since = self.clock() - RANKING_MAX_STALE_SECONDS
        return bool(self.store.pending_count(project) or self.store.jobs_in_flight(project, since))

    def _store_ranking(self, project: int, belief_at: tuple[int, Belief] | None = None) -> tuple[int, dict]:
        """Compute the /rankings answer of the project's current belief and keep it in the store."""
        revision, belief = belief_at or self.belief_at(project)
        body = {
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
        self.store.put_ranking_snapshot(project, self._snapshot_key, revision, body, self.clock())
        return revision, body

    @property
    def _snapshot_key(self) -> str:
        """What a kept ranking depends on besides the store: the pool and the ranking and stopping settings."""
        s = self.settings
        parts = (self.pool.fingerprint, self.strategy, s.seed, s.patience, s.delta, s.epsilon, s.confidence,
                 s.label_budget, s.min_labels, repr(self.strategy_params()), self.stopping_rule().name)
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

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
            "labels": self.labels_health(),
        }


__all__ = ["Service", "parse_project", "RequestError", "SettingsError"]

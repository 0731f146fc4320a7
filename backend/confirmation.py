"""Confirmation jobs: what webhooks hinted is read back from Label Studio's API before it counts.

A webhook in confirmation mode only commits a hint (ids, no values); this
module runs the job that reads the hinted tasks from Label Studio and mirrors
them (:func:`backend.confirm.confirm_project`), retries it while Label Studio
is down, resubmits jobs a crash lost, and restarts pending work at start-up.
"""
from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable

from . import jobs, ls_status
from .confirm import confirm_project
from .errors import RequestError
from .labelconfig import ChoicesControl
from .locks import ProjectLocks
from .redact import redact_text

logger = logging.getLogger(__name__)

#: seconds before a confirmation that could not read Label Studio is tried again (rq runner only)
CONFIRM_RETRY_SECONDS = 30.0
#: seconds before new tasks Label Studio did not show yet are read again (rq runner only; inline: the hint sweep)
CREATED_RETRY_SECONDS = 2.0
#: a queued confirmation older than this is not waited for: webhooks queue a new one (a crash between
#: the hint's commit and the enqueue leaves a record no worker will run; duplicates only find nothing to do)
CONFIRM_STALE_SECONDS = 60.0
#: hints older than this with no confirmation job queued or started since are re-submitted (:mod:`backend.hint_sweeper`)
HINT_SWEEP_AGE_SECONDS = 30.0


class Confirmer:
    """Runs, retries and resubmits the confirmation jobs of every project.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``store``, ``settings``, ``runner``,
        ``clock()``, ``confirm_labels`` (confirmation mode on).
    configs : the projects' label configs (:class:`~backend.project_configs.ProjectConfigs`).
    api : returns the Label Studio client (:class:`~backend.labelstudio_api.LabelStudioAPI`).
    new_round : ``new_round(project) -> round or None``: a new round when the current one was decided
        (:meth:`backend.decider.Decider.round_after_decision`).
    """

    def __init__(self, env, configs, api: Callable, new_round: Callable[[int], int | None]):
        self.env, self.configs, self.api, self.new_round = env, configs, api, new_round
        self.locks = ProjectLocks()
        self._retry_runner = None
        #: project -> the timer of its inline re-read of new tasks (no Redis), one at a time
        self._timers: dict[int, threading.Timer] = {}

    def confirm(self, project: int, job_id: str | None = None) -> tuple[dict, list[int] | None]:
        """Read the tasks the project's hints name from Label Studio and mirror them.

        Returns ``(answer, stored)``: the job's answer and the tasks it stored (None when it did not
        finish).  Never raises for Label Studio being down: the hints stay pending, the failure is
        recorded (job, /health) and, with rq, a retry is queued.
        """
        store, clock = self.env.store, self.env.clock
        with self.locks.hold(project):
            if job_id is None:
                job_id = uuid.uuid4().hex
                store.add_job(job_id, project, "confirm", clock())
            # marked started before the hints are read: a webhook arriving now queues a new job
            store.update_job(job_id, clock(), state="started", message="reading the hinted tasks")
            if not store.pending_count(project):
                store.update_job(job_id, clock(), state="finished", progress=1.0, message="nothing pending")
                return {"job": job_id, "state": "finished", "hints": 0, "pending": 0}, None
            result, stopped = self._read_hinted(project, job_id)
            if stopped is not None:
                return stopped, None
            ls_status.record_success(store, clock())
            message = f"confirmed {result['tasks_read']} task(s) of {result['hints']} hint(s)"
            if result["waiting"]:  # new tasks Label Studio does not show yet (its import not committed)
                message += f"; {result['waiting']} hint(s) of new tasks kept for another read"
                result["retry"] = (self.schedule_retry(project, delay=CREATED_RETRY_SECONDS)
                                   or self._reread_later(project))
            store.update_job(job_id, clock(), state="finished", progress=1.0, message=message,
                             result={k: v for k, v in result.items() if k != "stored"})
        answer = {"job": job_id, "state": "finished", **{k: v for k, v in result.items() if k != "stored"}}
        return answer, result["stored"]

    def _read_hinted(self, project: int, job_id: str) -> tuple[dict | None, dict | None]:
        """``(result, None)`` with :func:`~backend.confirm.confirm_project`'s result, or ``(None, answer)``
        when the job ended without one (failed, or the project is gone from Label Studio)."""
        from .labelstudio_api import LabelStudioAPIError

        store, clock, url = self.env.store, self.env.clock, self.env.settings.label_studio_url
        pending = {"job": job_id, "state": "failed"}
        try:
            api = self.api()
            choices = self._confirmed_choices(project, api)
            if choices is None:
                store.update_job(job_id, clock(), state="finished", progress=1.0,
                                 message="Label Studio has no such project: its hints were dropped")
                return None, {"job": job_id, "state": "finished", "dropped": True, "pending": 0}
            return confirm_project(store, api, project, choices, clock,
                                   on_new_tasks=lambda new, hints: self._new_batch_round(project, new, hints)), None
        except LabelStudioAPIError as exc:
            message = ls_status.describe_failure(exc, url)
            ls_status.record_failure(store, exc, url, clock())
            store.update_job(job_id, clock(), state="failed", message=f"hints kept for a retry: {message}")
            retry = self.schedule_retry(project)
            return None, {**pending, "error": message, "problem": exc.kind,
                          "pending": store.pending_count(project), "retry": retry}
        except RequestError as exc:  # the pool does not fit the config Label Studio has: hints wait for /setup
            self.configs.errors[project] = exc.message
            store.update_job(job_id, clock(), state="failed", message=exc.message)
            return None, {**pending, "error": exc.message, "pending": store.pending_count(project)}
        except Exception as exc:  # recorded for /jobs; the hints stay, the acknowledged webhook stays 200
            logger.error("confirmation of project %s failed\n%s", project, redact_text(
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
            message = redact_text(f"{type(exc).__name__}: {exc}")
            store.update_job(job_id, clock(), state="failed", message=f"hints kept: {message}")
            return None, {**pending, "error": message, "pending": store.pending_count(project)}

    def _reread_later(self, project: int) -> str | None:
        """Without Redis: read the kept hints of new tasks again in :data:`CREATED_RETRY_SECONDS`, on a timer
        thread of this process (Label Studio sends TASKS_CREATED inside its import transaction, so the tasks
        show only after the webhook is answered; the 30 s hint sweep would be the next reader otherwise)."""
        if self.env.settings.redis_url or project in self._timers:
            return None

        def reread() -> None:
            self._timers.pop(project, None)
            try:
                self.env.confirm_pending(project)
            except Exception:  # noqa: BLE001 - a background re-read must not die loudly; the sweep retries
                logger.warning("re-reading the new tasks of project %s failed", project, exc_info=True)

        timer = self._timers[project] = threading.Timer(CREATED_RETRY_SECONDS, reread)
        timer.daemon = True
        timer.start()
        return "inline re-read"

    def schedule_retry(self, project: int, delay: float = CONFIRM_RETRY_SECONDS) -> str | None:
        """Queue one delayed confirmation (rq only) unless one already waits: hints of a down Label Studio
        are tried again every :data:`CONFIRM_RETRY_SECONDS` without a chain per failed webhook.

        An rq worker's own service runs jobs inline, so the retry goes through an rq runner built
        from ``REDIS_URL`` here.
        """
        settings, store, clock = self.env.settings, self.env.store, self.env.clock
        if not settings.redis_url:
            return None
        now = clock()
        if store.waiting_job(project, "confirm", now - CONFIRM_STALE_SECONDS):
            return None
        if self._retry_runner is None:  # never inline: a retry that ran at once would only fail again
            self._retry_runner = jobs.RQRunner(settings.redis_url, settings.redis_queue, jobs.DropRunner())
        job_id = uuid.uuid4().hex
        store.add_job(job_id, project, "confirm", now, now + delay)
        if self.submit_recorded(self._retry_runner, "confirm_pending", job_id, project, job_id, True,
                                delay=delay) is None:
            store.update_job(job_id, clock(), state="failed", message="retry not enqueued (Redis unreachable)")
            return None
        return job_id

    def _confirmed_choices(self, project: int, api) -> ChoicesControl | None:
        """The project's Choices; its label config re-read from Label Studio when a hint asks for it.

        None when Label Studio has no such project (a forged or stale hint).
        """
        from .labelstudio_api import LabelStudioAPIError

        store = self.env.store
        hints = store.pending_hints(project)
        if store.get_label_config(project) is None or any(h["config"] for h in hints):
            try:
                config = api.get_project(project).get("label_config")
            except LabelStudioAPIError as exc:
                if exc.status == 404:
                    store.remove_hints([h["id"] for h in hints])
                    return None
                raise
            if not isinstance(config, str) or not config.strip():
                raise RequestError(422, f"Label Studio's project {project} has no label config")
            choices = self.configs.project_choices(project, config)
            store.remove_hints([h["id"] for h in hints if h["config"] and not h["tasks"] and not h["annotations"]])
            return choices
        return self.configs.project_choices(project)

    def _new_batch_round(self, project: int, new_tasks: list[int], hints: list[dict]) -> int | None:
        """A new round when a ``TASKS_CREATED`` hint named only tasks new to the backend (as in payload mode)."""
        new = set(new_tasks)
        if any(h["action"] == "TASKS_CREATED" and h["tasks"] and set(h["tasks"]) <= new for h in hints):
            return self.new_round(project)
        return None

    def resume_pending(self, confirm_now: Callable[[int], dict]) -> dict:
        """Submit a confirmation for every project with pending hints (at start of the service or a worker).

        ``confirm_now(project)`` runs one inline (the inline runner's case).
        """
        out = {}
        if not self.env.confirm_labels:
            return out
        for project in self.env.store.hint_projects():
            try:
                if self.env.runner.kind == "inline":
                    out[project] = confirm_now(project).get("state")
                else:  # always a fresh job: a "queued" record may be one a crash never enqueued
                    out[project] = self.submit(project)
            except Exception as exc:  # start-up must go on; the next webhook, refresh or /sync retries
                logger.error("project %s: could not resume its pending hints: %s", project,
                             redact_text(f"{type(exc).__name__}: {exc}"))
        return out

    def submit(self, project: int) -> str | None:
        """Record and submit a fresh confirmation job of ``project``; the rq job id (None when run inline)."""
        job_id = uuid.uuid4().hex
        self.env.store.add_job(job_id, project, "confirm", self.env.clock())
        return self.submit_recorded(self.env.runner, "confirm_pending", job_id, project, job_id)

    def submit_recorded(self, runner, job: str, job_id: str, *args, delay: float | None = None) -> str | None:
        """``runner.submit(job, *args)``; when rq accepted it, the record ``job_id`` is marked as on the queue,
        so later requests may wait for it (:meth:`~backend.store.SQLiteStore.waiting_job`)."""
        rq_id = runner.submit(job, *args, delay=delay)
        if rq_id is not None:
            self.env.store.mark_enqueued(job_id, self.env.clock())
        return rq_id

    def sweep_unattended_hints(self) -> dict[int, str | None]:
        """Submit a confirmation for each project whose hints have waited :data:`HINT_SWEEP_AGE_SECONDS`
        with no confirmation job queued or started since (the job was lost in a crash).

        Returns ``{project: rq job id or None}`` for the projects it submitted.
        """
        out: dict[int, str | None] = {}
        if not self.env.confirm_labels:
            return out
        for project in self.env.store.unattended_hint_projects(self.env.clock() - HINT_SWEEP_AGE_SECONDS):
            logger.warning("project %s: hints waited over %.0f s with no confirmation job (one was lost in a crash); "
                           "submitting one", project, HINT_SWEEP_AGE_SECONDS)
            try:
                out[project] = self.submit(project)
            except Exception as exc:  # the next sweep tries again
                logger.error("project %s: could not submit a confirmation: %s", project,
                             redact_text(f"{type(exc).__name__}: {exc}"))
        return out

"""What the endpoints do, free of Flask: one object that wires the backend's parts together.

The service translates between Label Studio and the core.  It keeps no
belief of its own: the belief is rebuilt from the store whenever the store's
revision for a project changes (:mod:`backend.belief_cache`).  Each job lives
in its own module and the service only wires them and checks requests:

* :mod:`backend.project_configs`: label configs and the Choices the pool answers in;
* :mod:`backend.predictions`: the candidates' answers per task;
* :mod:`backend.ingest` and :mod:`backend.sync`: webhooks, /predict, confirmations and /sync into the store;
* :mod:`backend.confirmation`: the jobs that confirm hints with Label Studio's API;
* :mod:`backend.belief_cache`: the fitted belief of each project's round;
* :mod:`backend.decider`: the stopping rule and its records;
* :mod:`backend.refresh`: queue order, ranking block and clean-up written back to Label Studio;
* :mod:`backend.rankings`: the /rankings answer, kept in the store.

The parts read the shared environment (``settings``, ``store``, ``pool``,
``strategy``, ``runner``, ``clock``, ``confirm_labels``) from the service at
every call, so a service reconfigured in place (tests do) is seen by all.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import modelpicker_core as core

from . import jobs, ls_status, predictions
from .belief import Belief, fit_belief, model_version
from .belief_cache import BeliefCache
from .confirmation import HINT_SWEEP_AGE_SECONDS, Confirmer
from .decider import Decider, stopping_rule, strategy_params
from .decisions import LiveDecision, is_stopped
from .errors import RequestError
from .events import Event
from .ingest import Ingest
from .labelconfig import ChoicesControl
from .mlflow_tracking import RoundTracker
from .pool import Pool, PoolError, load_pool
from .project_configs import ProjectConfigs
from .rankings import RANKING_MAX_STALE_SECONDS, RANKING_STALE_SECONDS, RankingKeeper
from .redact import basename, redact, redact_text, strip_dirs
from .refresh import Refresher
from .request_args import parse_project
from .settings import Settings, SettingsError, resolve_strategy
from .store import Store, open_store
from .sync import SYNC_CLAIM_SHARE, Syncer
from .timefmt import iso_fields

logger = logging.getLogger(__name__)

#: the time fields of a job record (POSIX seconds in the store, ISO 8601 UTC in answers)
JOB_TIMES = ("created_at", "started_at", "finished_at", "run_after")
#: what /health and the start-up log say when webhooks cannot be confirmed
UNCONFIRMED = ("labels are UNCONFIRMED: webhook payloads are stored as sent, so anyone who can reach /webhook "
               "can plant, overwrite or delete labels; set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY so every "
               "annotation and task event is confirmed with Label Studio's API before it counts")


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
    runner : the job runner; None = the settings' (rq when ``REDIS_URL`` is set and not ``inline``, with
        this service inline as the fallback).
    """

    def __init__(self, settings: Settings, pool: Pool | None, pool_error: str | None, store: Store,
                 strategy: str, inline: bool = False, clock: Callable[[], float] = time.time,
                 runner: jobs.JobRunner | None = None):
        self.settings = settings
        self.pool = pool
        self.pool_error = pool_error
        self.store = store
        self.strategy = strategy
        self.runner = runner or jobs.make_runner(None if inline else settings.redis_url, settings.redis_queue, self)
        self.clock = clock
        self._api = None
        #: confirmation mode: webhooks are hints and labels are read from Label Studio's API (see backend.confirm)
        self.confirm_labels: bool = bool(settings.label_studio_configured)
        self._wire()
        #: project -> why the pool does not fit its stored label config (found at start)
        self.project_errors: dict[int, str] = self.configs.errors
        if pool is not None:
            self.configs.check_known_projects()

    def _wire(self) -> None:
        """Build the parts (one job each); they read the shared environment from ``self`` at every call."""
        self.configs = ProjectConfigs(self.store, self.require_pool)
        self.beliefs = BeliefCache(self.store, self.configs, self.require_pool, self._fit, self._version)
        self.decider = Decider(self)
        self.tracker = RoundTracker(self)  # rounds as MLflow runs (no-op unless MLFLOW_TRACKING_URI is set)
        self.ranking_keeper = RankingKeeper(self, self.beliefs, self.decider.live_decision,
                                            self.task_prediction_errors)
        self.confirmer = Confirmer(self, self.configs, self._label_studio_api, self.decider.round_after_decision)
        self.refresher = Refresher(
            self, self.beliefs, self.decider, self.ranking_keeper, self.configs,
            label_studio=lambda: self.label_studio,
            confirm_hints=lambda project: self.confirm_pending(project, refresh=False),
            compute_predictions=self.compute_predictions, prediction_errors=self.task_prediction_errors,
            submit_recorded=self.confirmer.submit_recorded)
        self.ingest = Ingest(self, self.configs, self.beliefs, self.confirmer, self.request_refresh,
                             self.decider.round_after_decision, self.compute_predictions,
                             self.task_prediction_errors)
        self.syncer = Syncer(self, self.configs, self.ingest, self.beliefs, self._label_studio_api,
                             self.request_refresh, self.task_prediction_errors)

    @classmethod
    def from_settings(cls, settings: Settings, inline: bool = False) -> Service:
        """Load the pool (keeping its error for /health), open the store, pick the strategy.

        Raises :class:`SettingsError` when the strategy is unknown; a bad pool
        does not raise here (``python -m backend`` checks it and exits).
        """
        strategy = resolve_strategy(settings.strategy, core.available())
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
        return cls(settings, pool, error, open_store(settings.database_url, settings.db_path), strategy,
                   inline=inline)


    # ----------------------------------------------------------------- helpers
    def require_pool(self) -> Pool:
        """The loaded candidate pool; a 503 naming why when it could not be loaded."""
        if self.pool is None:
            raise RequestError(503, f"candidate pool unusable: {self.pool_error}")
        return self.pool

    def choices_for(self, label_config: str) -> ChoicesControl:
        """Parse a label config and check the pool against it (:class:`~backend.project_configs.ProjectConfigs`)."""
        return self.configs.choices_for(label_config)

    def project_choices(self, project: int, label_config: str | None = None) -> ChoicesControl:
        """Choices of the given config (stored if new) or of the stored one."""
        return self.configs.project_choices(project, label_config)

    def belief(self, project: int) -> Belief:
        """The project's belief over its current round, refitted when its labels changed."""
        return self.beliefs.belief_at(project)[1]

    def belief_at(self, project: int) -> tuple[int, Belief]:
        """``(store revision, belief)``: see :meth:`backend.belief_cache.BeliefCache.belief_at`."""
        return self.beliefs.belief_at(project)

    def _fit(self, project: int, matrix, choices: ChoicesControl, labels: list, round_: int,
             previous: Belief | None) -> Belief:
        """Fit the strategy of the settings to a round (:func:`backend.belief.fit_belief`)."""
        st = self.settings
        return fit_belief(project, self.strategy, st.seed, self.pool.fingerprint, matrix.task_ids, matrix.predictions,
                          choices, labels, round_, history=st.patience - 1, params=self.strategy_params(),
                          delta=st.delta, previous=previous)

    def _version(self, project: int, labels: list, round_: int, task_ids) -> str:
        """The priority version of a round without a fit (:func:`backend.belief.model_version`)."""
        return model_version(project, labels, self.strategy, self.settings.seed, self.pool.fingerprint, round_,
                             task_ids)

    def compute_predictions(self, project: int, task_ids: list[int] | None = None) -> int:
        """Cache every candidate's prediction for stored tasks that lack one; returns tasks tried.

        See :func:`backend.predictions.compute_predictions` (``task_ids``: those tasks only, None = all).
        """
        return predictions.compute_predictions(self.store, self.require_pool(), self.project_choices(project),
                                               project, task_ids)

    def task_prediction_errors(self, project: int, task_ids: list[int] | None = None) -> list[dict]:
        """``[{"task", "candidate", "error"}]``: see :func:`backend.predictions.task_prediction_errors`."""
        return predictions.task_prediction_errors(self.store, self.require_pool(), project, task_ids)

    def stopping_rule(self):
        """The rule of the settings (``MODELPICKER_STOP_RULE``), the very object ``bench --stop`` builds."""
        return stopping_rule(self.settings)

    def strategy_params(self) -> dict:
        """Constructor parameters the settings give the strategy (the certificate's delta and epsilon)."""
        return strategy_params(self.strategy, self.settings)

    def live_decision(self, project: int, belief: Belief) -> LiveDecision:
        """What the stopping rule says now about the round's belief (not recorded)."""
        return self.decider.live_decision(project, belief)

    # ------------------------------------------------------------------- jobs
    def confirm_pending(self, project: int, job_id: str | None = None, refresh: bool = True) -> dict:
        """The confirmation job (:meth:`backend.ingest.Ingest.confirm_pending`)."""
        return self.ingest.confirm_pending(project, job_id, refresh)

    def refresh(self, project: int, job_id: str | None = None, force: bool = False) -> dict:
        """The refresh job (:meth:`backend.refresh.Refresher.run`); never raises."""
        return self.refresher.run(project, job_id, force)

    def request_refresh(self, project: int, force: bool = False) -> dict:
        """Queue (or run, inline) a refresh if one is due (:meth:`backend.refresh.Refresher.request`)."""
        return self.refresher.request(project, force)

    def resume_pending(self) -> dict:
        """Submit a confirmation for every project with pending hints (at start of the service or a worker)."""
        return self.confirmer.resume_pending(self.confirm_pending)

    def sweep_unattended_hints(self) -> dict[int, str | None]:
        """Resubmit confirmations a crash lost (:meth:`backend.confirmation.Confirmer.sweep_unattended_hints`)."""
        return self.confirmer.sweep_unattended_hints()

    # -------------------------------------------------------------- endpoints
    def setup(self, project: int, schema: str) -> dict:
        """/setup: check the pool against the project's config, remember the config; the version comes without
        a fit (``label_summary``): Label Studio's connect check waits seconds, a large project's fit longer."""
        self.project_choices(project, schema)
        return {"model_version": self.beliefs.label_summary(project)["model_version"]}

    def predict(self, project: int, tasks: list[tuple[int, dict]], label_config: str | None = None) -> dict:
        """/predict: one Label Studio prediction per ``(id, data)`` task, its score the task's priority."""
        self.require_pool()
        return self.ingest.predict(project, tasks, label_config)

    def webhook(self, event: Event) -> dict:
        """/webhook: a hint to re-read (confirmation mode), or the event stored as sent (payload mode).

        Either way the request only stores, commits and enqueues:
        confirmation, predictions and refreshes run on the rq worker when
        ``REDIS_URL`` is set (inline otherwise, after the commit).
        """
        self.require_pool()
        if self.confirm_labels:
            return self.ingest.webhook_hint(event)
        return self.ingest.webhook_payload(event)

    def labels_health(self) -> dict:
        """The ``labels`` part of /health: confirmed or not, hints waiting, and how to fix unconfirmed labels."""
        if self.confirm_labels:
            return {"confirmed": True, "pending_hints": self.store.pending_count(),
                    "how": "webhooks are hints; labels and tasks are read from Label Studio's API"}
        return {"confirmed": False, "pending_hints": 0, "warning": UNCONFIRMED}

    def sync(self, project: int, full_listing: bool = True) -> dict:
        """POST /sync: the store mirrors Label Studio for every labelled task and lists every task (sync.py)."""
        self.require_known(project)
        self.require_pool()
        self.project_choices(project)
        if self._api is None and not self.settings.label_studio_configured:
            raise RequestError(409, "sync reads Label Studio's export: set LABEL_STUDIO_URL and "
                                    "LABEL_STUDIO_API_KEY")
        return self.syncer.sync(project, full_listing)

    def sync_all(self) -> dict[int, dict]:
        """The periodic sync (web process, every ``MODELPICKER_SYNC_EVERY_SECONDS``): :meth:`sync` each project
        no process sharing the store has synced within :data:`~backend.sync.SYNC_CLAIM_SHARE` of the period."""
        return self.syncer.sync_all(lambda p: self.sync(p, full_listing=False),
                                    SYNC_CLAIM_SHARE * self.settings.sync_every_seconds)

    # ------------------------------------------------------------------ rounds
    def require_known(self, project: int) -> int:
        """``project``, when this backend knows it (a /setup or a webhook stored its config); a 404 otherwise."""
        if self.store.get_label_config(project) is None:
            raise RequestError(404, f"project {project} is unknown to this backend")
        return project

    def start_round(self, project: int, reason: str | None = None) -> dict:
        """POST /rounds: start the next round by hand; tasks stored from now on belong to it."""
        self.require_known(project)
        round_ = self.store.start_round(project, reason or "started by POST /rounds", self.clock())
        return {"project": project, "round": round_, "refresh": self.request_refresh(project, force=True)}

    def rounds(self, project: int) -> dict:
        """GET /rounds: every round of the project with its tasks, labels and decision history."""
        self.require_known(project)
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

    # ------------------------------------------------------- label studio
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

    def jobs(self, project: int, limit: int = 50) -> dict:
        """GET /jobs: the project's latest ``limit`` job records, newest first."""
        self.require_known(project)
        return {"project": project, "runner": self.runner.kind,
                "jobs": [iso_fields(j, JOB_TIMES) for j in self.store.jobs(project, limit)]}

    def versions(self, project: int | None = None) -> dict:
        """GET/POST /versions: the current priority version of one project, or of every known project."""
        if project is not None:
            projects = [self.require_known(project)]
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

    def rankings(self, project: int) -> dict:
        """/rankings: the ranking as JSON, best first (:meth:`backend.rankings.RankingKeeper.answer`)."""
        self.require_pool()
        return self.ranking_keeper.answer(self.require_known(project))

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
                     "project_errors": {str(k): redact_text(v) for k, v in self.project_errors.items()},
                     "unavailable": [redact(u) for u in (self.pool.unavailable if self.pool else [])]},
            "store": {"ok": ok, "path": store_path if "://" in store_path else basename(store_path),
                      "error": strip_dirs(error, store_path, pool_path)},
            "label_studio": self.label_studio_health(),
            "labels": self.labels_health(),
            "sync": self.sync_health(ok),
            "mlflow": self.tracker.health(),
        }

    def sync_health(self, store_ok: bool) -> dict:
        """The ``sync`` part of /health: the period and each project's last periodic sync (none without a store)."""
        every = self.settings.sync_every_seconds or None
        if not store_ok:
            return {"every_seconds": every, "projects": {}, "error": "the store cannot be read"}
        return {"every_seconds": every, "projects": {str(p): iso_fields(v, ("at", "last_caught_up_at"))
                                                     for p, v in self.store.sync_log().items()}}


__all__ = ["Service", "parse_project", "RequestError", "SettingsError", "HINT_SWEEP_AGE_SECONDS",
           "RANKING_STALE_SECONDS", "RANKING_MAX_STALE_SECONDS", "UNCONFIRMED"]

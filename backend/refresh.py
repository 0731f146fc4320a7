"""Refresh jobs: rescore the round, decide, keep the ranking and write it all back to Label Studio.

A label changes the belief; the refresh (inline, or on the rq worker) turns
that into Label Studio's queue order (:func:`backend.label_studio_predictions.switch_queue`),
the ranking block of the project description, the candidates' predictions and
the clean-up of superseded priorities.  :meth:`Refresher.request` decides
whether one is due (:mod:`backend.debounce`) and keeps at most one waiting per
project.
"""
from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ls_status, queue_stop
from .belief import Belief, ranking_records
from .debounce import plan_refresh
from .decisions import RoundDecision
from .label_studio_predictions import RetiredVersions
from .locks import ProjectLocks
from .project_lock import project_lock
from .redact import redact_text

logger = logging.getLogger(__name__)

#: a refresh record still "queued" after this many seconds is taken as lost (worker gone) and not waited for
STALE_QUEUED_SECONDS = 600.0
#: how many of the queue's first task ids a refresh result names (``queue_top``, best first)
QUEUE_TOP = 10
#: what the refresh keeps of the live decision in its result
DECISION_FIELDS = ("stop", "candidate", "p_best", "gap", "reason", "labels", "state")


class Refresher:
    """Requests and runs the refresh of each project.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``store``, ``settings``, ``pool``,
        ``strategy``, ``runner``, ``clock()``, ``confirm_labels``.
    beliefs : :class:`~backend.belief_cache.BeliefCache` (its per-project locks also guard the request).
    decider : :class:`~backend.decider.Decider`.
    rankings : :class:`~backend.rankings.RankingKeeper`.
    configs : :class:`~backend.project_configs.ProjectConfigs`.
    label_studio : returns the Label Studio client, or None when write-back is off.
    confirm_hints : ``confirm_hints(project)`` confirms the project's pending hints (no refresh of its own).
    compute_predictions, prediction_errors : ``(project)`` -> tasks tried / tasks a candidate cannot predict.
    submit_recorded : :meth:`backend.confirmation.Confirmer.submit_recorded`.
    """

    def __init__(self, env, beliefs, decider, rankings, configs, label_studio: Callable, confirm_hints: Callable,
                 compute_predictions: Callable, prediction_errors: Callable, submit_recorded: Callable):
        self.env, self.beliefs, self.decider, self.rankings, self.configs = env, beliefs, decider, rankings, configs
        self.label_studio, self.confirm_hints = label_studio, confirm_hints
        self.compute_predictions, self.prediction_errors = compute_predictions, prediction_errors
        self.submit_recorded = submit_recorded
        self.locks = ProjectLocks()
        self.retired = RetiredVersions()
        #: project -> the (matrix revision, pool, label config) at which no stored task lacked a prediction
        self._predictions_complete: dict[int, tuple] = {}

    def request(self, project: int, force: bool = False) -> dict:
        """Queue (or run, inline) a refresh if the debounce rule says so; at most one waits per project.

        Returns what happened: ``{"status": "queued"|"done"|"coalesced"|"deferred"|"not needed", ...}``.
        """
        env = self.env
        store, settings, runner = env.store, env.settings, env.runner
        now = env.clock()
        with self.beliefs.locks.hold(project):
            state = store.refresh_state(project)
            last = state["last_refresh_at"]
            plan = plan_refresh(state["label_changes"] - state["changes_at_refresh"],
                                None if last is None else now - last,
                                settings.refresh_every_labels, settings.refresh_min_seconds)
            if force:
                plan = type(plan)(True, 0.0)
            if plan.delay is None:
                return {"status": "not needed"}
            if not plan.due and not runner.delays:
                return {"status": "deferred", "seconds": plan.delay,
                        "why": "fewer than MODELPICKER_REFRESH_EVERY_LABELS changes within "
                               "MODELPICKER_REFRESH_MIN_SECONDS; the next label event checks again"}
            waiting = store.waiting_job(project, "refresh", now - STALE_QUEUED_SECONDS)
            if waiting:
                return {"status": "coalesced", "job": waiting}
            job_id = uuid.uuid4().hex
            store.add_job(job_id, project, "refresh", now, None if plan.due else now + plan.delay)
        rq_id = self.submit_recorded(runner, "refresh", job_id, project, job_id, bool(force),
                                     delay=None if plan.due else plan.delay)
        if rq_id is None:
            record = next((j for j in store.jobs(project, 5) if j["id"] == job_id), None)
            return {"status": "done", "job": job_id, "state": record["state"] if record else None}
        return {"status": "queued", "job": job_id, "rq_job": rq_id, "delay": None if plan.due else plan.delay}

    def run(self, project: int, job_id: str | None = None, force: bool = False) -> dict:
        """The refresh job: rescore, decide, push the queue and the ranking to Label Studio.

        Never raises: a failure is recorded on the job (``GET /jobs``) and
        returned, so an inline refresh cannot turn a stored label into an
        error answer.
        """
        from .labelstudio_api import LabelStudioAPIError

        store, clock, url = self.env.store, self.env.clock, self.env.settings.label_studio_url
        if job_id is None:
            job_id = uuid.uuid4().hex
            store.add_job(job_id, project, "refresh", clock())
        # one refresh of a project at a time in every process sharing the store; the job stays "queued" while
        # it waits, so labels arriving meanwhile coalesce into it
        with self.locks.hold(project), project_lock(store, project):
            store.update_job(job_id, clock(), state="started", progress=0.0,
                             message="computing missing candidate predictions")
            try:
                result = self._refresh(project, job_id)
            except LabelStudioAPIError as exc:  # a setting or Label Studio itself: one log line per kind, no traceback
                message = ls_status.describe_failure(exc, url)
                ls_status.record_failure(store, exc, url, clock())
                store.update_job(job_id, clock(), state="failed", message=message)
                return {"job": job_id, "state": "failed", "error": message, "problem": exc.kind}
            except Exception as exc:  # recorded for /jobs; the webhook answer must not fail
                logger.error("refresh of project %s failed\n%s", project, redact_text(
                    "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
                message = redact_text(f"{type(exc).__name__}: {exc}")
                store.update_job(job_id, clock(), state="failed", message=message)
                return {"job": job_id, "state": "failed", "error": message}
            if result.get("wrote_back"):
                ls_status.record_success(store, clock())
            store.update_job(job_id, clock(), state="finished", progress=1.0, message=result["message"],
                             result=result)
            return {"job": job_id, "state": "finished", **result}

    def _refresh(self, project: int, job_id: str) -> dict:
        """Rescore and decide, keep the ranking, then write back (when a Label Studio client is set)."""
        start = time.perf_counter()
        store, clock = self.env.store, self.env.clock
        if self.env.confirm_labels and store.pending_count(project):
            # hints a failed confirmation left behind are retried by every refresh
            self.confirm_hints(project)
        self._complete_predictions(project)
        skipped = self.prediction_errors(project)
        started_from = self._state_key(project)
        # forced or not (force skips the debounce): the same state gives the same ranking, decision and queue
        done = self._done_already(project, job_id, started_from)
        if done is not None:
            return self._same_as(project, job_id, done, start)
        covered = store.mark_refresh_started(project, clock())
        store.update_job(job_id, clock(), progress=0.2, message="rescoring the unlabelled tasks")
        revision, belief = self.beliefs.belief_at(project)
        decision = self.decider.decide(project, belief)
        store.add_belief_history(project, decision.round, int((belief.labels >= 0).sum()), self.env.pool.names,
                                 belief.strategy.p_best(), belief.gap, clock())  # the history the page charts
        summary = decision.to_dict()
        result: dict[str, Any] = {"project": project, "round": decision.round, "labels": belief.n_labels,
                                  "label_changes": covered, "started_from": started_from,
                                  "model_version": belief.model_version,
                                  "decision": {k: summary[k] for k in DECISION_FIELDS},
                                  "pushed": 0, "deleted": 0, "superseded": [], "description": False,
                                  "candidate_predictions": 0, "seconds": {},
                                  "tasks_without_predictions": skipped}
        api = self.label_studio()
        if api is not None and self.env.settings.stop_queue and decision.live.stop:
            # the queue is emptied before the STOP shows anywhere (/rankings, the description, the page)
            self._stop_queue(api, project, job_id, belief, decision, result)
        self.rankings.keep(project, (revision, belief))  # what /rankings serves until the next change
        if api is None:
            result["message"] = ("ranking and decision updated; Label Studio write-back is off "
                                 "(LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY unset or MODELPICKER_WRITEBACK=false)")
        else:
            self._write_back(api, project, job_id, belief, decision, result)
        result["state_key"] = started_from  # the state it computed from (benchmarks/scale_checks.py audits it)
        tracked = self.env.tracker.after_refresh(project, decision, belief)  # MLflow, when tracking is on
        if tracked is not None:
            result["mlflow"] = tracked
        result["seconds"]["total"] = time.perf_counter() - start
        if api is not None:
            result["wrote_back"] = True
            queue = (f"STOP: queue emptied ({result['stopped_tasks']} task(s) taken out)" if "stopped_tasks" in result
                     else f"queue follows {belief.model_version}; pushed {result['pushed']}")
            result["message"] = (f"{queue}, deleted {result['deleted']} superseded; decision: "
                                 f"{'stop' if decision.live.stop else 'keep labelling'}")
        return result

    def _complete_predictions(self, project: int) -> None:
        """Compute the predictions stored tasks lack, unless nothing changed since a check found none missing.

        The check reads every cached prediction (7 s at 100,000 tasks x 100 candidates) and a label changes
        none of them.  The state is read before the check: a task stored meanwhile moves the revision on.
        """
        store = self.env.store
        pool = self.env.pool
        state = (store.matrix_revision(project), pool and pool.fingerprint, store.get_label_config(project))
        if self._predictions_complete.get(project) == state:
            return
        if self.compute_predictions(project) == 0:
            self._predictions_complete[project] = state

    def _done_already(self, project: int, job_id: str, state_key: str) -> dict | None:
        """The refresh job that last finished, when it computed from ``state_key`` (this job would redo it:
        another process's job for the same labels, an rq retry); None otherwise, or when the last one failed."""
        last = max((j for j in self.env.store.jobs(project, 50) if j["kind"] == "refresh" and j["id"] != job_id
                    and j["state"] in ("finished", "failed") and j["finished_at"] is not None),
                   key=lambda j: j["finished_at"], default=None)
        if last is None or last["state"] != "finished" or not last["result"]:
            return None
        return last if last["result"].get("state_key") == state_key else None

    def _same_as(self, project: int, job_id: str, done: dict, start: float) -> dict:
        """The result of a refresh that finds the state ``done`` computed from: ``done``'s ranking, decision
        and queue (its ``model_version``, ``decision``, ``queue_top``, ``switched_at``) stand, so readers of the
        latest refresh see them; nothing is pushed again.  Only a clean-up a grace period held back is done."""
        covered_by = done["result"].get("labels_covered_by") or done["id"]
        result = {k: v for k, v in done["result"].items() if k not in ("mlflow", "wrote_back", "stopped_tasks",
                                                                       "reopened_tasks", "kept")}
        result.update(skipped=True, labels_covered_by=covered_by, pushed=0, deleted=0, superseded=[],
                      description=False, candidate_predictions=0, seconds={},
                      message=f"nothing new since refresh {covered_by}: its ranking, decision and queue stand")
        api = self.label_studio()
        if api is not None and self.retired.waiting(project):
            self._delete_superseded(api, project, job_id, result)
            result["message"] += f"; deleted {result['deleted']} superseded priorities"
        result["seconds"]["total"] = time.perf_counter() - start
        return result

    def _state_key(self, project: int) -> str:
        """What a refresh's outcome depends on: the project's store revision (labels, tasks, predictions,
        config, rounds) and the ranking's key (pool, strategy, stopping settings)."""
        return f"{self.env.store.revision(project)}/{self.rankings.snapshot_key}"

    def _write_back(self, api, project: int, job_id: str, belief: Belief, decision: RoundDecision,
                    result: dict) -> None:
        """Order (or, on STOP, empty) the queue, write the ranking block and the candidates' predictions,
        then delete the priorities superseded longer than the grace period."""
        from .description_block import write_ranking

        env = self.env
        pushed = env.store.refresh_state(project)["pushed_version"]
        if "stopped_tasks" not in result:  # else emptied on STOP by _refresh, before the ranking was kept
            stopped = queue_stop.stopped_round(pushed)
            if stopped is not None:  # the stopped round reopened, or a new batch started the next round
                self._reopen_queue(api, project, job_id, belief, result, pushed, same_round=stopped == decision.round)
                pushed = None
            self._push_queue(api, project, job_id, belief, pushed, result)
        env.store.update_job(job_id, env.clock(), progress=0.6, message="writing the ranking into the project")
        t0 = time.perf_counter()
        write_ranking(api, project, ranking_records(belief, env.pool.names), decision, env.strategy)
        result["description"] = True
        result["seconds"]["description"] = time.perf_counter() - t0
        if env.settings.write_candidates:
            self._push_candidates(api, project, job_id, result)
        switched = pushed != env.store.refresh_state(project)["pushed_version"]
        if result["pushed"] or "stopped_tasks" in result or switched or self.retired.waiting(project):
            self._delete_superseded(api, project, job_id, result)

    def _delete_superseded(self, api, project: int, job_id: str, result: dict) -> None:
        """Delete the priority versions the queue left at least ``priority_grace_seconds`` ago."""
        from .label_studio_predictions import delete_superseded

        env = self.env
        current = env.store.refresh_state(project)["pushed_version"]
        env.store.update_job(job_id, env.clock(), progress=0.8, message="deleting superseded priorities")
        removed = delete_superseded(api, project, current or "", keep=env.pool.names,
                                    due=lambda versions: self.retired.due(project, versions, env.clock(),
                                                                          env.settings.priority_grace_seconds))
        result.update(deleted=removed["deleted"], superseded=removed["superseded"], kept=removed["kept"])
        result["seconds"].update(removed["seconds"])

    def _stop_queue(self, api, project: int, job_id: str, belief: Belief, decision: RoundDecision,
                    result: dict) -> None:
        """STOP: take the tasks left out of Label Studio's queue (the next ones first) and say STOP in the
        instructions; no new priorities until the round reopens."""
        from .description_block import decision_text

        env, live = self.env, decision.live
        env.store.update_job(job_id, env.clock(), progress=0.3, message="STOP: taking the tasks left out of the queue")
        level = None if live.delta is None else 1.0 - live.delta
        line = decision_text(True, live.candidate, live.p_best, reason=live.reason_text, gap=live.gap, level=level)
        pushed = env.store.refresh_state(project)["pushed_version"]
        # a label after the STOP: the value kept then is put back later, not the 0 Label Studio has now
        kept = queue_stop.stopped_overlap(pushed) if queue_stop.stopped_round(pushed) == decision.round else None
        def keep(overlap: int) -> None:  # before the request: a STOP Label Studio applies late keeps the value
            env.store.set_pushed_version(project, queue_stop.stopped_marker(decision.round, overlap))

        stopped = queue_stop.stop_queue(api, project, kept_overlap=kept, keep=keep)
        instruction = api.get_project(project).get("expert_instruction")
        queue_stop.announce(api, project, line, instruction)
        result["stopped_tasks"] = stopped["stopped_tasks"]
        result["seconds"]["stop_queue"] = stopped["seconds"]

    def _reopen_queue(self, api, project: int, job_id: str, belief: Belief, result: dict, marker: str,
                      same_round: bool) -> None:
        """After a STOP (``marker``: the stopped project's ``pushed_version``): the tasks without a label go
        back into the queue and the STOP block comes off.  The push that follows orders the current round's
        tasks first; an earlier round's carry no priority, so they come last."""
        env = self.env
        env.store.update_job(job_id, env.clock(), progress=0.25, message="round reopened: tasks back in the queue"
                             if same_round else "a new round: the queue serves again, the STOP comes off")
        # a project stopped task by task (an earlier release) is reopened so: the stopped round's tasks only
        legacy = belief.task_ids[np.flatnonzero(belief.labels < 0)] if same_round else []
        instruction = api.get_project(project).get("expert_instruction")
        reopened = queue_stop.reopen_queue(api, project, queue_stop.stopped_overlap(marker), legacy, instruction)
        result["reopened_tasks"] = reopened["reopened_tasks"]
        result["seconds"]["reopen_queue"] = reopened["seconds"]

    def _push_queue(self, api, project: int, job_id: str, belief: Belief, pushed_version: str | None,
                    result: dict) -> None:
        """Write the unlabelled tasks' priorities as the belief's version (the first ``push_limit`` only)."""
        from .label_studio_predictions import switch_queue

        env = self.env
        unlabelled = np.flatnonzero(belief.labels < 0)
        if env.settings.push_limit and unlabelled.size > env.settings.push_limit:
            first = np.argsort(belief.priority[unlabelled], kind="stable")[:env.settings.push_limit]
            unlabelled = np.sort(unlabelled[first])
        top = unlabelled[np.argsort(belief.priority[unlabelled], kind="stable")[:QUEUE_TOP]]
        result["queue_top"] = [int(t) for t in belief.task_ids[top]]
        if pushed_version != belief.model_version and unlabelled.size:
            env.store.update_job(job_id, env.clock(), progress=0.3,
                                 message=f"pushing {unlabelled.size} priorities as {belief.model_version}")
            switch_began = env.clock()
            switched = switch_queue(api, project, belief.task_ids[unlabelled], belief.priority[unlabelled],
                                    belief.model_version)
            env.store.set_pushed_version(project, belief.model_version)
            result["switched_at"] = switch_began  # a task asked from now on may come from this order
            result["pushed"] = switched["pushed"]
            result["seconds"].update(switched["seconds"])

    def _push_candidates(self, api, project: int, job_id: str, result: dict) -> None:
        """Import every candidate's answer as a Label Studio prediction, once per task."""
        from .label_studio_predictions import candidate_predictions

        env = self.env
        todo = env.store.tasks_without_candidate_push(project)
        answers = env.store.predictions(project, todo)
        todo = [t for t in todo if len(answers.get(t, {})) == len(env.pool.candidates)]
        if todo:
            env.store.update_job(job_id, env.clock(), progress=0.7,
                                 message=f"writing the candidates' predictions for {len(todo)} tasks")
            choices = self.configs.project_choices(project)
            rows = candidate_predictions(todo, answers, [(c.name, c.cache_key) for c in env.pool.candidates],
                                         choices.name, choices.to_name)
            result["candidate_predictions"] = api.import_predictions(project, rows)
            env.store.mark_candidates_pushed(project, todo)

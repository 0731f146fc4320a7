"""What Label Studio sends becomes stored tasks, labels and predictions: /predict, webhooks, confirmations.

Every path ends the same way: the tasks stored get the candidates'
predictions (:meth:`Ingest.predict_stored`, as a job or now), and a change of
labels or tasks asks for a refresh.  In confirmation mode a webhook only
commits a hint and Label Studio's API decides what is stored
(:mod:`backend.confirmation`); without it (payload mode) the payload is stored
as sent.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from .confirm import hint_of
from .confirmation import CONFIRM_STALE_SECONDS
from .errors import RequestError
from .events import annotation_versions
from .labelconfig import ChoicesControl
from .pool import PredictionError
from .predictions import predict_in_memory
from .redact import redact_text

logger = logging.getLogger(__name__)

#: webhook actions after which a refresh is considered (labels changed)
LABEL_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")


class Ingest:
    """Stores what webhooks and confirmations bring, then predicts and asks for a refresh.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``store``, ``pool`` (and
        ``require_pool()``), ``settings``, ``runner``, ``label_studio``, ``clock()``, ``confirm_labels``.
    configs : :class:`~backend.project_configs.ProjectConfigs`.
    beliefs : :class:`~backend.belief_cache.BeliefCache` (its label summary answers inline webhooks).
    confirmer : :class:`~backend.confirmation.Confirmer`.
    request_refresh : ``request_refresh(project, force=False) -> dict`` (:meth:`backend.refresh.Refresher.request`).
    new_round : ``new_round(project) -> round or None`` (:meth:`backend.decider.Decider.round_after_decision`).
    compute_predictions, prediction_errors : ``(project, task_ids)`` -> tasks tried / tasks a candidate
        cannot predict.
    """

    def __init__(self, env, configs, beliefs, confirmer, request_refresh: Callable, new_round: Callable,
                 compute_predictions: Callable, prediction_errors: Callable):
        self.env, self.configs, self.beliefs, self.confirmer = env, configs, beliefs, confirmer
        self.request_refresh, self.new_round = request_refresh, new_round
        self.compute_predictions, self.prediction_errors = compute_predictions, prediction_errors

    def predict(self, project: int, parsed: list[tuple[int, dict]], label_config: str | None) -> dict:
        """/predict of checked arguments: predict the tasks, store them, answer with their priorities.

        ``label_config``: the project's config sent with the request (stored), or None (the stored one).
        """
        pool = self.env.require_pool()
        choices = self.configs.choices_for(label_config) if label_config else self.configs.project_choices(project)
        ids = [t for t, _ in parsed]
        # 1. predict in memory, no lock and no write transaction held: candidates may be slow (an http
        #    model server) and must not hold up other requests; predictions still valid (same task data)
        #    are reused, and asking again retries failures (e.g. a model server that was down)
        data = dict(parsed)
        stored = self.env.store.task_data(project, ids)
        cached = self.env.store.predictions(project, [t for t in data if stored.get(t) == data[t]])
        try:
            rows, errors = predict_in_memory(pool, choices, data, cached)
        except PredictionError as whole:
            raise RequestError(422, redact_text(str(whole))) from None
        if errors and {t for t, _, _ in errors} >= set(ids):
            raise RequestError(422, "; ".join(message for _, _, message in errors))  # nothing stored
        new_tasks, new_round = self._store_predicted(project, parsed, rows, errors, label_config)
        if new_tasks and self.env.runner.delays and self.env.label_studio is not None:
            # tasks imported before the backend was connected reach it here (Label Studio's
            # "Retrieve predictions"); order them in the background, never inside /predict
            self.request_refresh(project, force=True)
        answer = self._prediction_answer(project, ids, choices)
        if new_round is not None:
            answer["new_round"] = new_round
        return answer

    def _store_predicted(self, project: int, parsed: list[tuple[int, dict]], rows: list, errors: list,
                         label_config: str | None) -> tuple[list[int], int | None]:
        """Store the tasks, their predictions and failures in one short transaction; ``(new tasks, new round)``."""
        ids = [t for t, _ in parsed]
        try:
            with self.env.store.transaction():
                if label_config:
                    self.configs.project_choices(project, label_config)
                new_tasks = self.env.store.new_task_ids(project, ids)
                # tasks first seen here after the round was decided are a new batch, as with TASKS_CREATED
                new_round = self.new_round(project) if new_tasks else None
                self.env.store.upsert_tasks(project, parsed)
                self.env.store.clear_prediction_errors(project, ids)
                self.env.store.save_predictions(project, rows)
                if errors:
                    self.env.store.save_prediction_errors(project, errors)
        except BaseException:
            self.beliefs.forget(project)
            raise
        return new_tasks, new_round

    def _prediction_answer(self, project: int, ids: list[int], choices: ChoicesControl) -> dict:
        """The /predict answer: per task the priority score, its candidates' answers and any failure."""
        failures = self.prediction_errors(project, ids)
        failed = {e["task"] for e in failures}
        belief = self.beliefs.belief_at(project)[1]
        cached = self.env.store.predictions(project, ids)
        best = self.env.pool.cache_keys[belief.strategy.ranking().best] if self.env.settings.show_best else None
        results = []
        for task_id in ids:
            row = belief.row(task_id)
            answers = cached.get(task_id, {})
            by_name = {c.name: answers[c.cache_key] for c in self.env.pool.candidates if c.cache_key in answers}
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
        return {"results": results, "model_version": belief.model_version}

    def confirm_pending(self, project: int, job_id: str | None = None, refresh: bool = True) -> dict:
        """The confirmation job (:meth:`backend.confirmation.Confirmer.confirm`), then, as the payload flow
        does: candidates' predictions for the tasks stored, and a refresh when labels or tasks changed
        (``refresh``)."""
        answer, stored = self.confirmer.confirm(project, job_id)
        if stored is None:
            return answer
        self.predict_stored(project, stored, answer, now=True)
        if refresh and (answer["new_tasks"] or answer["changed"] or answer["removed"] or answer["tasks_removed"]):
            answer["refresh"] = self.request_refresh(project, force=bool(answer["new_tasks"]))
        return answer

    def webhook_hint(self, event) -> dict:
        """Confirmation mode: commit a hint naming the event's ids, then confirm (job or inline).

        Nothing of the payload but ids is kept: Label Studio's API decides
        what the store holds (:mod:`backend.confirm`).
        """
        store, runner, project = self.env.store, self.env.runner, event.project
        tasks, annotations, config = hint_of(event)
        now = self.env.clock()
        job_id = waiting = None
        with store.transaction():  # one commit: the hint and, with rq, the job record
            if store.get_label_config(project) is None:
                config = True  # a project never set up: its config is read from Label Studio too
            hint = store.add_hint(project, event.action, tasks, annotations, config, now)
            if runner.kind != "inline":
                waiting = store.waiting_job(project, "confirm", now - CONFIRM_STALE_SECONDS)
                if waiting is None:
                    job_id = uuid.uuid4().hex
                    store.add_job(job_id, project, "confirm", now)
                else:
                    job_id = waiting
        answer = {"status": "ok", "action": event.action, "project": project, "hint": hint}
        if runner.kind == "inline":  # development set-ups: the effects are there before the answer
            self._confirmed_inline(project, answer)
        elif waiting is None:
            answer["rq_job"] = self.confirmer.submit_recorded(runner, "confirm_pending", job_id, project, job_id)
        answer["job"] = job_id if job_id is not None else answer["confirmation"].get("job")
        answer["pending"] = store.pending_count(project)
        return answer

    def _confirmed_inline(self, project: int, answer: dict) -> None:
        """Confirm at once and put what changed into the webhook's ``answer``."""
        confirmed = answer["confirmation"] = self.confirm_pending(project)
        answer.update({"annotations_changed": confirmed.get("changed", 0),
                       "annotations_removed": confirmed.get("removed", 0)})
        answer.update({k: confirmed[k] for k in ("refresh", "prediction_error") if k in confirmed})
        if confirmed.get("new_round") is not None:
            answer["new_round"] = confirmed["new_round"]
        if confirmed.get("state") == "finished" and self.env.store.get_label_config(project) is not None:
            answer.update(self.beliefs.label_summary(project))

    def webhook_payload(self, event) -> dict:
        """Payload mode (no Label Studio API configured): store what the event says, as sent."""
        store, project = self.env.store, event.project
        choices = self.configs.project_choices(project) if event.label_config is None else \
            self.configs.choices_for(event.label_config)
        versions = annotation_versions(event.annotations, choices)  # may raise; nothing stored yet
        new_round = None
        with store.transaction():
            if event.label_config is not None:
                store.set_label_config(project, event.label_config)
            if event.action == "TASKS_CREATED" and event.tasks and \
                    len(store.new_task_ids(project, [t for t, _ in event.tasks])) == len(event.tasks):
                new_round = self.new_round(project)
            stored_tasks = store.upsert_tasks(project, event.tasks) if event.tasks else []
            changed = store.apply_annotations(project, versions)
            removed = store.delete_annotations(project, event.deleted_annotations)
            if event.deleted_tasks:
                store.delete_tasks(project, event.deleted_tasks)
            store.count_label_changes(project, changed + removed)
        answer = {"status": "ok", "action": event.action, "project": project,
                  "annotations_changed": changed, "annotations_removed": removed}
        if new_round is not None:
            answer["new_round"] = new_round
        self._predict_and_report(project, stored_tasks, answer)
        if event.action == "TASKS_CREATED" and event.tasks:
            answer["refresh"] = self.request_refresh(project, force=True)
        elif event.action in LABEL_ACTIONS and changed + removed:
            answer["refresh"] = self.request_refresh(project)
        if self.env.runner.kind == "inline":  # with rq the answer stays cheap: the summary is /rankings' job
            answer.update(self.beliefs.label_summary(project))
        return answer

    def _predict_and_report(self, project: int, stored_tasks: list[int], answer: dict) -> None:
        """Predict the stored tasks; name in ``answer`` those a candidate cannot predict."""
        stored_tasks = self.predict_stored(project, stored_tasks, answer)
        if stored_tasks:
            failures = self.prediction_errors(project, stored_tasks)
            if failures:
                # the event itself is stored; those tasks stay out of the belief until their data changes
                answer["prediction_error"] = "; ".join(
                    ([answer["prediction_error"]] if "prediction_error" in answer else []) +
                    [e["error"] for e in failures])
                answer["tasks_without_predictions"] = failures

    def predict_stored(self, project: int, stored: list[int], answer: dict, now: bool = False) -> list[int]:
        """Cache the candidates' predictions of the ``stored`` tasks that lack one: as a job, or ``now``.

        A candidate failing as a whole is logged and put in ``answer["prediction_error"]`` (the next
        computation retries); a job id goes to ``answer["job"]``.  Returns the tasks it asked for.
        """
        todo = self.env.store.tasks_without_predictions(project, self.env.pool.cache_keys, stored) if stored else []
        if not todo:
            return todo
        try:
            if now:
                self.compute_predictions(project, todo)
            else:
                job = self.env.runner.submit("compute_predictions", project, todo)
                if job:
                    answer["job"] = job
        except PredictionError as exc:
            logger.error("project %s: %s", project, redact_text(str(exc)))
            answer["prediction_error"] = redact_text(str(exc))
        return todo

"""Rounds as MLflow runs: one run per (project, round), metrics stepped by label count, the decision's files.

When tracking is on (:class:`backend.mlflow_settings.MlflowSettings`), every
refresh logs, at step = the round's label count, each candidate's P(best)
(``p_best.<candidate>``) and certified bound (``bound.<candidate>``, accuracy
points below the best), and the named candidate's (``p_best``, ``bound``).
The run is made at the round's first refresh, with the strategy, the pool and
the stopping rule's settings as parameters; it is found again by its tags
(``modelpicker.project``, ``modelpicker.round``), so a restart or another
process logs into the same run.

On STOP the run gets the export files (``decision.json``, ``ranking.csv`` and
``.json``, the chosen candidate's ``predictions.json``) and ``pbest.png`` (P(best)
of each candidate against labels, :mod:`backend.pbest_chart`), the chosen
version gets the registry alias (:mod:`backend.mlflow_champion`), and the run
is marked FINISHED; a retried refresh finds the tag
``modelpicker.stopped_at_labels`` and does not do it twice.  ``export`` does the same for the round exported.

MLflow being down never fails a refresh or an export: the failure is logged,
kept for ``/health`` (``mlflow``) and put in the job's result; the next
refresh tries again.
"""
from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from .mlflow_champion import TAG, promote
from .mlflow_client import Mlflow, MlflowUnavailable
from .redact import basename, redact_text
from .timefmt import iso

logger = logging.getLogger(__name__)

#: characters MLflow refuses in a metric name (replaced by ``_``)
_METRIC_UNSAFE = re.compile(r"[^\w\-. /]")
#: MLflow's limit on a parameter value
PARAM_MAX = 6000


def metric_name(prefix: str, candidate: str) -> str:
    """``<prefix>.<candidate>`` with the characters MLflow refuses replaced."""
    return f"{prefix}.{_METRIC_UNSAFE.sub('_', candidate)}"


class RoundTracker:
    """Logs each project's rounds to MLflow (no-ops when tracking is off).

    Parameters
    ----------
    env : the service (``settings``, ``pool``, ``store``, ``strategy``, ``clock()``; and what
        :func:`backend.export.build_export` reads).
    """

    def __init__(self, env: Any):
        self.env = env
        self._runs: dict[tuple[int, int], str] = {}
        self._experiment: str | None = None
        self.last_error: str | None = None
        self.last_ok_at: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.env.settings.mlflow.tracking)

    def registry(self) -> Mlflow:
        return Mlflow(self.env.settings.mlflow.tracking_uri)

    def health(self) -> dict:
        """The ``mlflow`` part of /health (this process's last call)."""
        st = self.env.settings.mlflow
        return {"tracking": self.enabled, "uri": redact_text(st.tracking_uri) if st.tracking_uri else None,
                "experiment": st.experiment if self.enabled else None, "alias": st.alias if self.enabled else None,
                "ok": None if not self.enabled or (self.last_error is None and self.last_ok_at is None)
                else self.last_error is None,
                "error": self.last_error, "last_ok_at": iso(self.last_ok_at)}

    # ---------------------------------------------------------------- hooks
    def after_refresh(self, project: int, decision: Any, belief: Any) -> dict | None:
        """Log the refresh's belief at its label count; on a (new) STOP, the files, the alias, FINISHED.

        Returns what was logged (``{"run_id", "step", ...}``), ``{"error": ...}`` or None when tracking is off.
        """
        if not self.enabled:
            return None
        return self._guard(f"project {project} round {decision.round}",
                           lambda: self._log_refresh(project, decision, belief))

    def after_export(self, project: int, bundle: dict) -> dict | None:
        """An export: the files go into the round's run and the chosen candidate gets the alias."""
        if not self.enabled:
            return None
        decision = bundle["decision"]
        return self._guard(f"export of project {project} round {decision['round']}",
                           lambda: self._conclude(self._run(project, decision["round"]), project, bundle))

    # ------------------------------------------------------------- internals
    def _guard(self, what: str, work) -> dict:
        try:
            out = work()
        except MlflowUnavailable as exc:
            self.last_error = f"{what}: {exc}"
            logger.warning("MLflow: %s", self.last_error)
            return {"error": self.last_error}
        self.last_error, self.last_ok_at = None, self.env.clock()
        return out

    def _log_refresh(self, project: int, decision: Any, belief: Any) -> dict:
        live, names = decision.live, self.env.pool.names
        run_id = self._run(project, decision.round)
        step = int((belief.labels >= 0).sum())
        metrics = {metric_name("p_best", n): float(p) for n, p in zip(names, belief.strategy.p_best())}
        if belief.gap is not None:
            metrics.update({metric_name("bound", n): 100.0 * float(g) for n, g in zip(names, belief.gap)})
        metrics["p_best"] = float(live.p_best)
        if live.gap is not None:
            metrics["bound"] = 100.0 * float(live.gap)
        self.registry().log_batch(run_id, metrics, step, timestamp_ms=int(1000 * self.env.clock()),
                                  tags={f"{TAG}candidate": live.candidate,
                                        f"{TAG}state": "stop" if live.stop else "labelling"})
        out: dict[str, Any] = {"run_id": run_id, "step": step, "metrics": len(metrics)}
        if decision.state == "stop" and self.registry().run_tags(run_id).get(f"{TAG}stopped_at_labels") != str(step):
            from .export import build_export

            out["stop"] = self._conclude(run_id, project, build_export(self.env, project, decision.round))
        return out

    def _conclude(self, run_id: str, project: int, bundle: dict) -> dict:
        """The decision's files and chart into the run, the alias on the chosen version, the run FINISHED."""
        from .export import export_files
        from .pbest_chart import chart_png

        decision, registry, st = bundle["decision"], self.registry(), self.env.settings.mlflow
        evidence = decision["evidence"]
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in export_files(bundle).items():
                (Path(tmp) / name).write_text(text)
            history = self.env.store.belief_history(project, decision["round"])
            (Path(tmp) / "pbest.png").write_bytes(chart_png(
                history, [r["name"] for r in bundle["ranking"]], evidence.get("epsilon"),
                title=f"project {project}, round {decision['round']}"))
            registry.log_artifacts(run_id, Path(tmp))
        labels = evidence.get("labels")
        facts = {"project": project, "round": decision["round"], "labels": labels,
                 "p_best": evidence.get("p_best"), "bound_points": None if evidence.get("gap") is None
                 else round(100.0 * float(evidence["gap"]), 3), "stopped": decision["stopped"],
                 "decided_at": decision["decided_at"], "run_id": run_id}
        promoted = promote(registry, self.env.pool, decision["chosen"], st.alias, facts, self.env.clock())
        registry.log_batch(run_id, {}, 0, tags={f"{TAG}chosen": decision["chosen"],
                                                f"{TAG}stopped_at_labels": str(labels),
                                                f"{TAG}registry": promoted.get("uri") or promoted.get("skipped")})
        if decision["stopped"]:
            registry.finish_run(run_id)
        return {"artifacts": [*export_files(bundle), "pbest.png"], "registry": promoted}

    def _run(self, project: int, round_: int) -> str:
        """The run of the round: remembered, else found by its tags, else made (with the parameters)."""
        key = (project, round_)
        if key in self._runs:
            return self._runs[key]
        registry, st = self.registry(), self.env.settings.mlflow
        if self._experiment is None:
            self._experiment = registry.experiment_id(st.experiment)
        tags = {f"{TAG}project": str(project), f"{TAG}round": str(round_)}
        run_id = registry.find_run(self._experiment, tags)
        if run_id is None:
            run_id = registry.create_run(self._experiment, f"project {project} round {round_}", tags)
            registry.log_batch(run_id, {}, 0, params=self._params(project, round_))
            with tempfile.TemporaryDirectory() as tmp:  # the pool, one row per candidate (too many for params)
                (Path(tmp) / "pool.json").write_text(json.dumps(self._pool_rows(), indent=2) + "\n")
                registry.log_artifacts(run_id, Path(tmp))
        self._runs[key] = run_id
        return run_id

    def _params(self, project: int, round_: int) -> dict[str, str]:
        """The run's parameters: strategy, pool, stopping rule."""
        s, pool = self.env.settings, self.env.pool
        params = {"project": project, "round": round_, "strategy": self.env.strategy, "seed": s.seed,
                  "stop_rule": s.stop_rule, "epsilon": s.epsilon, "delta": s.delta, "confidence": s.confidence,
                  "patience": s.patience, "min_labels": s.min_labels, "label_budget": s.label_budget,
                  "pool_file": basename(pool.path), "pool_fingerprint": pool.fingerprint,
                  "n_candidates": len(pool.candidates), "candidates": ",".join(pool.names)[:PARAM_MAX]}
        return {k: str(v) for k, v in params.items()}

    def _pool_rows(self) -> list[dict]:
        """Each candidate: name, source type, the registered version (``mlflow``) and the cache key."""
        return [{"name": c.name, "source": c.source.type, "model_uri": getattr(c.source, "model_uri", None),
                 "cache_key": c.cache_key} for c in self.env.pool.candidates]

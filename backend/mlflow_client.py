"""Every call into MLflow goes through here (the only module that imports ``mlflow``).

MLflow is an optional extra (``pip install -r requirements-mlflow.txt``, the
``mlflow-skinny`` client): nothing imports this module unless the pool names
an ``mlflow`` source or ``MLFLOW_TRACKING_URI`` is set.  Each function turns
MLflow's own exceptions (connection refused, ``RESOURCE_DOES_NOT_EXIST``, a
model whose flavour fails to load) into :class:`MlflowUnavailable` with one
line that names the server or the model, never a traceback.

Before the first import, MLflow's usage telemetry and its download progress
bars are switched off (nothing leaves the process but the calls we make; the
job log stays readable), unless the environment already says otherwise.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .redact import redact_text

T = TypeVar("T")
#: MLflow reads these at import; we set them only where the environment is silent
_QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
          "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
          # a server that is down answers in seconds, not after MLflow's default minutes of retries
          "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
          "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


class MlflowUnavailable(RuntimeError):
    """MLflow could not do what was asked; the message names the server, model or run, without secrets."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version: ``name``, ``version`` (a string, as MLflow keeps it), its ``tags`` and
    ``aliases``; :attr:`uri` is the immutable ``models:/<name>/<version>``."""

    name: str
    version: str
    tags: dict[str, str]
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def mlflow_module():
    """``mlflow``, imported on first use; :class:`MlflowUnavailable` telling how to install it when missing."""
    for key, value in _QUIET.items():
        os.environ.setdefault(key, value)
    try:
        import mlflow
    except ImportError:
        raise MlflowUnavailable("the mlflow client is not installed: pip install -r requirements-mlflow.txt "
                                "(mlflow-skinny)") from None
    return mlflow


def tracking_uri() -> str | None:
    """``MLFLOW_TRACKING_URI`` as set (None when unset or empty)."""
    return (os.environ.get("MLFLOW_TRACKING_URI") or "").strip() or None


def calling(what: str, call: Callable[[], T], server: str) -> T:
    """``call()``; any failure becomes :class:`MlflowUnavailable` ``"<what>: <one line>"`` (``server``: the
    URI as shown)."""
    mlflow_module()
    try:
        return call()
    except MlflowUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises MlflowException, requests' and flavour errors alike
        raise MlflowUnavailable(f"{what}: {describe(exc, server)}") from None


def describe(exc: BaseException, server: str) -> str:
    """One line for an MLflow failure: the kind, not the stack (a refused connection says so)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if "Max retries exceeded" in str(exc) or "Connection refused" in str(exc) or "NewConnectionError" in str(exc):
        first = f"cannot reach the MLflow server at {server}"
    elif "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in first.lower():
        first = first.split("Response body:")[0].strip()
    return redact_text(f"{type(exc).__name__}: {first}"[:400])


class Mlflow:
    """The calls we make to one MLflow tracking server (and its registry): ``Mlflow(uri)``, where ``uri``
    None means ``MLFLOW_TRACKING_URI``.  Every method raises :class:`MlflowUnavailable` on failure."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or tracking_uri()
        self._client = None

    @property
    def shown(self) -> str:
        """The URI as messages show it (no user or password)."""
        return redact_text(self.uri or "MLflow's default tracking URI (./mlruns)")

    def client(self):
        """The ``MlflowClient`` (made on first use)."""
        if self._client is None:
            mlflow = mlflow_module()
            self._client = mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def call(self, what: str, fn: Callable[[Any], T]) -> T:
        """``fn(client)``; a failure becomes :class:`MlflowUnavailable` ``"<what>: <one line>"``."""
        return calling(what, lambda: fn(self.client()), self.shown)

    # ------------------------------------------------------------ registry
    def get_version(self, name: str, version: str) -> ModelVersion:
        """The registered version ``name``/``version``."""
        return self.call(f"registered model {name!r} version {version}",
                         lambda c: _version(c.get_model_version(name, str(version))))

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version of ``name`` the alias points to."""
        return self.call(f"registered model {name!r} alias {alias!r}",
                         lambda c: _version(c.get_model_version_by_alias(name, alias)))

    def alias_holder(self, name: str, alias: str) -> ModelVersion | None:
        """The version of ``name`` holding ``alias``, None when no version does."""
        try:
            return self.version_by_alias(name, alias)
        except MlflowUnavailable as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
                return None
            raise

    def search_versions(self, name: str, version_filter: str | None) -> list[ModelVersion]:
        """Every version of ``name`` (and ``version_filter``, MLflow's filter syntax), by number."""
        text = f"name = '{name}'" + (f" and {version_filter}" if version_filter else "")
        found = self.call(f"registered model {name!r} (filter {text!r})",
                          lambda c: c.search_model_versions(text, max_results=1000))
        return sorted((_version(v) for v in found), key=lambda v: int(v.version))

    def load_pyfunc(self, uri: str):
        """The model at ``uri`` loaded with MLflow's ``pyfunc`` loader (its artifacts downloaded).

        The loader reads ``models:/`` URIs from MLflow's process-wide registry URI, which is
        ``MLFLOW_TRACKING_URI``: the pool's sources always use that one.
        """
        mlflow = mlflow_module()
        return self.call(f"cannot load {uri}", lambda c: mlflow.pyfunc.load_model(uri))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.call(f"alias {alias!r} of {name!r}", lambda c: c.set_registered_model_alias(name, alias, str(version)))

    def delete_alias(self, name: str, alias: str) -> None:
        self.call(f"alias {alias!r} of {name!r}", lambda c: c.delete_registered_model_alias(name, alias))

    def tag_version(self, name: str, version: str, tags: dict[str, str]) -> None:
        def send(c) -> None:
            for key, value in tags.items():
                c.set_model_version_tag(name, str(version), key, str(value))
        self.call(f"tags of {name!r} version {version}", send)

    # ------------------------------------------------------------ tracking
    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created when missing."""
        def get_or_create(c) -> str:
            found = c.get_experiment_by_name(name)
            return found.experiment_id if found is not None else c.create_experiment(name)
        return self.call(f"experiment {name!r}", get_or_create)

    def find_run(self, experiment: str, tags: dict[str, str]) -> str | None:
        """The newest run of ``experiment`` carrying every tag of ``tags``; None when there is none."""
        text = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = self.call(f"runs of experiment {experiment}",
                         lambda c: c.search_runs([experiment], filter_string=text, max_results=1,
                                                 order_by=["attributes.start_time DESC"]))
        return runs[0].info.run_id if runs else None

    def create_run(self, experiment: str, run_name: str, tags: dict[str, str]) -> str:
        """A new run's id."""
        return self.call(f"new run in experiment {experiment}",
                         lambda c: c.create_run(experiment, tags=tags, run_name=run_name).info.run_id)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return self.call(f"run {run_id}", lambda c: dict(c.get_run(run_id).data.tags))

    def log_batch(self, run_id: str, metrics: dict[str, float], step: int, params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None, timestamp_ms: int = 0) -> None:
        """Metrics at ``step`` (and params, tags) in one request."""
        mlflow_module()
        from mlflow.entities import Metric, Param, RunTag

        self.call(f"logging to run {run_id}", lambda c: c.log_batch(
            run_id, metrics=[Metric(k, float(v), timestamp_ms, int(step)) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()]))

    def log_artifacts(self, run_id: str, directory: Path) -> None:
        """Upload every file of ``directory`` to the run's artifact root."""
        self.call(f"artifacts of run {run_id}", lambda c: c.log_artifacts(run_id, str(directory)))

    def finish_run(self, run_id: str) -> None:
        """Mark the run FINISHED (metrics may still be logged to it later)."""
        self.call(f"run {run_id}", lambda c: c.set_terminated(run_id, "FINISHED"))


def _version(v: Any) -> ModelVersion:
    return ModelVersion(name=v.name, version=str(v.version), tags=dict(v.tags or {}),
                        aliases=tuple(getattr(v, "aliases", None) or ()))


def raw_model(model: Any) -> Any:
    """The flavour's own object behind a pyfunc model (a scikit-learn estimator, ...), None if not exposed."""
    try:
        return model.get_raw_model()
    except Exception:  # noqa: BLE001 - flavours without a raw model raise differently
        return None

"""A real ``mlflow server`` for tests: its own venv, a SQLite backend store, a local artifact root, 127.0.0.1.

MLflow's server (``mlflow==MLFLOW_VERSION``, full package) lives in its own
virtual environment, ``$MODELPICKER_MLFLOW_VENV`` (default
``<repo>/.cache/mlflow-venv``, made by ``make mlflow-venv``): it pins other
Flask and gunicorn versions than the backend's venv, which holds only the
client (``mlflow-skinny``, requirements-mlflow.txt), as a team's backend would.

* :func:`start_mlflow_server` -> :class:`MlflowServer` (``url``, ``stop()``), on a free port of a range.
* :func:`register_sklearn_models` registers fitted scikit-learn models as versions of one registered model
  through the client, with tags (what a team's training jobs do).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .labelstudio import REPO_ROOT, ServerError, _popen, _server_env, log_tail, stop_process_group, wait_for_http
from .ports import free_port

#: the MLflow release the server venv holds (the client in .venv is mlflow-skinny of the same release)
MLFLOW_VERSION = "3.17.2"
#: the server's first start creates its database (about 20 s on 2 busy cores)
MLFLOW_START_TIMEOUT = 180.0
#: what keeps an MLflow client or server from sending anything off the machine
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
             "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def mlflow_venv_path() -> Path:
    """``$MODELPICKER_MLFLOW_VENV``, default ``<repo>/.cache/mlflow-venv``."""
    return Path(os.environ.get("MODELPICKER_MLFLOW_VENV") or REPO_ROOT / ".cache" / "mlflow-venv")


def mlflow_executable() -> Path:
    """The server venv's ``mlflow``; :class:`ServerError` telling how to install it when missing."""
    exe = mlflow_venv_path() / "bin" / "mlflow"
    if not exe.exists():
        raise ServerError(f"no MLflow server at {exe}: `make mlflow-venv` installs mlflow=={MLFLOW_VERSION} "
                          f"into its own venv (or set MODELPICKER_MLFLOW_VENV)")
    return exe


@dataclass
class MlflowServer:
    """A running ``mlflow server``: ``url`` (the tracking URI), its work directory and log."""

    url: str
    process: subprocess.Popen
    work_dir: Path
    log_path: Path

    def log_tail(self, n_lines: int = 60) -> str:
        return log_tail(self.log_path, n_lines)

    def stop(self) -> None:
        stop_process_group(self.process)

    def __enter__(self) -> MlflowServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_mlflow_server(work_dir: Path | str, port_range: tuple[int, int],
                        timeout: float = MLFLOW_START_TIMEOUT) -> MlflowServer:
    """``mlflow server`` on 127.0.0.1 with ``sqlite:///<work_dir>/mlflow.db`` and ``<work_dir>/artifacts``
    (served through the server: clients need no access to the directory); waits for ``/health``."""
    exe = mlflow_executable()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(*port_range)
    log_path = work_dir / "mlflow-server.log"
    command = [str(exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{work_dir / 'mlflow.db'}",
               "--artifacts-destination", str(work_dir / "artifacts")]
    process = _popen("mlflow server", command, _server_env(QUIET_ENV, exe.parent), log_path, work_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout, process, log_path, what="mlflow server")
    except ServerError:
        stop_process_group(process)
        raise
    return MlflowServer(url=url, process=process, work_dir=work_dir, log_path=log_path)


def client_env(url: str) -> dict[str, str]:
    """The environment a backend (or this process) needs to use the server."""
    return {"MLFLOW_TRACKING_URI": url, **QUIET_ENV}


def register_sklearn_models(url: str, registered_model: str, models: Mapping[str, Any],
                            tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """Log each fitted model (``name -> estimator``) in one run and register it as a version of
    ``registered_model``, tagged ``candidate_name=<name>`` plus ``tags``; returns ``name -> version``.

    Uses the MLflow client of this process (mlflow-skinny), pickled with cloudpickle (skops is not
    installed), the way a team's training job would register its candidates.
    """
    os.environ.update(client_env(url))
    import mlflow
    import sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    versions: dict[str, str] = {}
    with mlflow.start_run(run_name=f"register {registered_model}"):
        for name, estimator in models.items():
            # the server's SQL store creates a version at once: no need to poll for it (MLflow's default waits);
            # requirements given, not inferred (MLflow would load the model in a subprocess to find them)
            info = mlflow.sklearn.log_model(estimator, name=name, serialization_format="cloudpickle",
                                            registered_model_name=registered_model, await_registration_for=0,
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            version = str(info.registered_model_version)
            for key, value in {"candidate_name": name, **(tags or {})}.items():
                client.set_model_version_tag(registered_model, version, key, value)
            versions[name] = version
    return versions

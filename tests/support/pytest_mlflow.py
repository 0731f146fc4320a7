"""Pytest plugin: one real ``mlflow server`` per test session, for the suites that use MLflow.

Registered from ``tests/conftest.py``.  ``mlflow_server`` (session scope) starts
``mlflow server`` from its own venv (``make mlflow-venv``; see
:mod:`tests.support.mlflow_server`) on 127.0.0.1 in a port of 18300-18399, with a SQLite
backend store and a local artifact root in a temporary directory, and stops it at the end.
Tests sharing it stay independent by registering models under their own names.
"""
from __future__ import annotations

import pytest

from tests.support.mlflow_server import MlflowServer, start_mlflow_server

#: ports of the shared MLflow server (apart from Label Studio's 18100-18199 and the backends' 19100-19300)
MLFLOW_PORTS = (18300, 18400)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> MlflowServer:
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"), MLFLOW_PORTS)
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "mlflow_server" in getattr(item, "fixturenames", ()):
        server = item.funcargs.get("mlflow_server") if hasattr(item, "funcargs") else None
        if server is not None:
            report.sections.append((f"log tail of the mlflow server at {server.url}", server.log_tail(60)))

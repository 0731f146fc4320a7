"""Fixtures for end-to-end tests against a real Label Studio and a real backend process.

``label_studio`` (session scope) installs Label Studio into its own venv when
missing (``$MODELPICKER_LS_VENV``, default ``<repo>/.cache/ls-venv``; pip's
progress is shown even under output capture), starts it on 127.0.0.1 in a
port of 18100-18199 with a temporary data directory, and stops it at the end.
When a test fails, the tails of the Label Studio and backend logs are added to
its report.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import labelstudio  # noqa: E402

#: ports assigned to this suite (see /work/notes/layout.md)
LS_PORTS = (18100, 18200)
BACKEND_PORTS = (19200, 19300)

#: servers started by the fixtures of the running session, for failure reports
_SERVERS: list[labelstudio._Server] = []


@pytest.fixture(scope="session")
def label_studio(pytestconfig) -> labelstudio.LabelStudioServer:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        labelstudio.ensure_label_studio()
        print(f"\n[labelstudio] starting Label Studio {labelstudio.LS_VERSION} on 127.0.0.1", flush=True)
    server = labelstudio.start_label_studio(port_range=LS_PORTS)
    _SERVERS.append(server)
    yield server
    server.stop()
    _SERVERS.remove(server)


@pytest.fixture(scope="module")
def start_backend(tmp_path_factory):
    """Factory ``start_backend(env, name="backend")``: a ``python -m backend`` stopped after the module.

    Its log goes to a temporary directory, named in the failure report.
    """
    started: list[labelstudio.BackendServer] = []
    log_dir = tmp_path_factory.mktemp("backend-logs")

    def start(env: dict[str, str], name: str = "backend") -> labelstudio.BackendServer:
        server = labelstudio.start_backend(env, log_dir / f"{name}.log", port_range=BACKEND_PORTS)
        started.append(server)
        _SERVERS.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        _SERVERS.remove(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _SERVERS:
            report.sections.append(
                (f"log tail of {type(server).__name__} at {server.url} ({server.log_path})",
                 server.log_tail(80)),
            )

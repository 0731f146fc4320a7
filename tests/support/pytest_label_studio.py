"""Pytest plugin: one real Label Studio per test session, shared by every suite that needs one.

Registered from ``tests/conftest.py``.  ``label_studio`` (session scope) installs Label Studio into
its own venv when missing (``$MODELPICKER_LS_VENV``, default ``<repo>/.cache/ls-venv``; pip's
progress is shown even under output capture), starts it on 127.0.0.1 in a port of 18100-18199 with
a temporary data directory, and stops it at the end of the session.  Tests sharing it stay
independent by creating their own projects.

When a test that uses ``label_studio`` fails, the log tails of the servers in :data:`SERVERS`
(Label Studio and the backends the e2e fixtures started) are added to its report.
"""
from __future__ import annotations

import pytest

from tests.support import labelstudio

#: ports of the shared Label Studio (apart from the backends' 19100-19300)
LS_PORTS = (18100, 18200)

#: servers started by fixtures of the running session, for failure reports
SERVERS: list[labelstudio._Server] = []


@pytest.fixture(scope="session")
def label_studio(pytestconfig) -> labelstudio.LabelStudioServer:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        labelstudio.ensure_label_studio()
        print(f"\n[labelstudio] starting Label Studio {labelstudio.LS_VERSION} on 127.0.0.1", flush=True)
    server = labelstudio.start_label_studio(port_range=LS_PORTS)
    SERVERS.append(server)
    yield server
    server.stop()
    SERVERS.remove(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "label_studio" in getattr(item, "fixturenames", ()):
        for server in SERVERS:
            report.sections.append(
                (f"log tail of {type(server).__name__} at {server.url} ({server.log_path})",
                 server.log_tail(80)),
            )

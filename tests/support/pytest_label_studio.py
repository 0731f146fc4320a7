"""Pytest plugin: one real Label Studio per test session, shared by every suite that needs one.

Registered from ``tests/conftest.py``.  ``label_studio`` (session scope) installs Label Studio into
its own venv when missing (``$MODELPICKER_LS_VENV``, default ``<repo>/.cache/ls-venv``; pip's
progress is shown even under output capture), starts it on 127.0.0.1 in a port of 18100-18199 with
a temporary data directory, and stops it at the end of the session.  Tests sharing it stay
independent by creating their own projects.

``label_studio_pg`` (session scope, started only when a test asks for it) is a second Label Studio of
the same version whose database is on PostgreSQL: a throw-away cluster on 127.0.0.1
(:mod:`tests.support.postgres_server`, a port of 15400-15499) with an empty database that Label Studio
migrates on its start (ports 18600-18699).  When PostgreSQL cannot start, the tests that ask for it
fail with the reason (how to install it included); they are never skipped.

When a test that uses ``label_studio`` or ``label_studio_pg`` fails, the log tails of the servers in :data:`SERVERS`
(Label Studio and the backends the e2e fixtures started) are added to its report.
"""
from __future__ import annotations

import pytest

from tests.support import labelstudio

#: ports of the shared Label Studio (apart from the backends' 19100-19300)
LS_PORTS = (18100, 18200)
#: ports of the Label Studio on PostgreSQL and of its cluster
LS_PG_PORTS, PG_PORTS = (18600, 18700), (15400, 15500)
#: the fixtures whose failures get the servers' log tails
LS_FIXTURES = ("label_studio", "label_studio_pg")

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


@pytest.fixture(scope="session")
def label_studio_pg(pytestconfig) -> labelstudio.LabelStudioServer:
    """Label Studio on PostgreSQL (``server.database == "postgresql"``, ``server.database_url``)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        labelstudio.ensure_label_studio()
        print(f"\n[labelstudio] starting Label Studio {labelstudio.LS_VERSION} on PostgreSQL on 127.0.0.1",
              flush=True)
    with labelstudio.label_studio_on_postgres(port_range=LS_PG_PORTS, pg_port_range=PG_PORTS) as server:
        with capture.global_and_fixture_disabled():
            print(f"[labelstudio] Label Studio on PostgreSQL answered after {server.start_seconds:.1f} s "
                  "(migrations included)", flush=True)
        SERVERS.append(server)
        try:
            yield server
        finally:
            SERVERS.remove(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and set(LS_FIXTURES) & set(getattr(item, "fixturenames", ())):
        for server in SERVERS:
            report.sections.append(
                (f"log tail of {type(server).__name__} at {server.url} ({server.log_path})",
                 server.log_tail(80)),
            )

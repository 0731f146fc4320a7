"""Fixtures for end-to-end tests against a real Label Studio and a real backend process.

``label_studio`` (session scope) installs Label Studio into its own venv when
missing (``$MODELPICKER_LS_VENV``, default ``<repo>/.cache/ls-venv``; pip's
progress is shown even under output capture), starts it on 127.0.0.1 in a
port of 18100-18199 with a temporary data directory, and stops it at the end.
When a test fails, the tails of the Label Studio and backend logs are added to
its report.
"""
from __future__ import annotations

import importlib.util
import json
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

#: the digits example the e2e tests use (the README quotes results for these)
DIGITS_TASKS, DIGITS_SEED = 400, 0

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


def _load_make_example():
    spec = importlib.util.spec_from_file_location(
        "digits_make_example", REPO_ROOT / "examples" / "digits" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict:
    """The digits example (400 tasks, seed 0) built into a temporary folder.

    Keys: ``dir`` (with ``pool.yaml``), ``summary`` (true accuracies, true
    best), ``tasks``, ``labels`` (``{ref_id: value}``), ``label_config``,
    ``ref_field``.
    """
    make_example = _load_make_example()
    out = tmp_path_factory.mktemp("digits")
    summary = make_example.build(out, n_tasks=DIGITS_TASKS, seed=DIGITS_SEED)
    assert summary["true_best_unique"], "the example's true best candidate must be unique"
    return {
        "dir": out,
        "summary": summary,
        "tasks": json.loads((out / "tasks.json").read_text()),
        "labels": json.loads((out / "labels.json").read_text()),
        "label_config": (out / "label_config.xml").read_text(),
        "ref_field": make_example.REF_FIELD,
    }


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

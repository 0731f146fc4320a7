"""Fixtures for end-to-end tests against a real Label Studio and a real backend process.

``label_studio`` (the one Label Studio of the test session) comes from
``tests/support/pytest_label_studio.py``, registered in ``tests/conftest.py``;
it also adds the tails of the Label Studio and backend logs to the report of a
failing test.  Here: ``start_backend`` (backends in ports 19200-19299) and the
``digits`` example.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from tests.support import labelstudio  # noqa: E402
from tests.support.pytest_label_studio import SERVERS  # noqa: E402

#: ports assigned to this suite's backends (apart from tests/backend's and the shared Label Studio's)
BACKEND_PORTS = (19200, 19300)

#: the digits example the e2e tests use (the README quotes results for these)
DIGITS_TASKS, DIGITS_SEED = 400, 0


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
        SERVERS.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        SERVERS.remove(server)


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

"""Fixtures for the backend tests: a tiny demo pool, and backends built on it.

The pool has three candidates over 30 tasks whose true labels are fixed by a
seeded generator: ``good`` (right on 27 tasks), ``fair`` (21) and ``poor``
(12), stored as one CSV and two JSONL prediction files keyed by the task data
field ``key``.  Helpers are exposed as fixtures (``backend_factory``,
``events``, ``free_port``, ``redis_url``) rather than importable modules, so
nothing here clashes with other test folders.

Every test that uses the store (``backend_factory``, ``backend``,
``make_store``, ``database_url``) runs twice: on SQLite (``[sqlite]``) and on
PostgreSQL (``[postgres]``, a throw-away cluster started once per session, see
:mod:`tests.support.store_kinds`).  When PostgreSQL cannot start, the
``[postgres]`` tests fail with the reason (how to install it included), they
are never skipped.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from backend.app import create_app  # noqa: E402
from backend.service import Service  # noqa: E402
from backend.settings import from_env  # noqa: E402
from tests.support import ports  # noqa: E402
from tests.support.postgres_server import postgres_server  # noqa: E402
from tests.support.redis_server import redis_server  # noqa: E402
from tests.support.store_kinds import Schemas, open_test_store, stores_under_test  # noqa: E402

CHOICES = ("zero", "one", "two")
CONFIG = ('<View><Text name="text" value="$key"/>'
          '<Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES)
          + "</Choices></View>")
N_TASKS = 30
#: number of tasks each candidate gets right
ACCURATE = {"good": 27, "fair": 21, "poor": 12}
#: this suite's ports (apart from the e2e backends' 19200-19300 and the shared Label Studio's 18100-18200)
PORTS = (19100, 19200)


@pytest.fixture(scope="session")
def free_port():
    """``free_port()``: a free loopback port in this suite's range."""
    return lambda: ports.free_port(*PORTS)


@pytest.fixture
def redis_url(tmp_path):
    """URL of a throw-away redis-server on 127.0.0.1 (no persistence), stopped after the test."""
    with redis_server(PORTS, tmp_path) as url:
        yield url


def pytest_report_header(config):
    chosen = os.environ.get("MODELPICKER_TEST_STORES")
    return (f"backend store tests on: {', '.join(stores_under_test())} "
            + ("(default)" if chosen is None else f"(MODELPICKER_TEST_STORES={chosen!r})"))


@pytest.fixture(scope="session")
def postgres_server_url():
    """URL (a superuser's, with its password) of the session's throw-away PostgreSQL cluster."""
    with postgres_server(PORTS) as url:
        yield url


@pytest.fixture(params=stores_under_test())
def store_kind(request) -> str:
    """``sqlite`` or ``postgres``: the store this run of the test uses."""
    return request.param


@pytest.fixture
def pg_schemas(store_kind, request):
    """The test's PostgreSQL schemas (None on SQLite), dropped after it."""
    if store_kind != "postgres":
        yield None
        return
    schemas = Schemas(request.getfixturevalue("postgres_server_url"))
    yield schemas
    schemas.drop()


@pytest.fixture
def database_url(pg_schemas, monkeypatch) -> str | None:
    """The test's ``DATABASE_URL`` (None on SQLite), also set in the environment: an rq worker of the test
    builds its service from the environment and must find the same store."""
    if pg_schemas is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        return None
    url = pg_schemas.url()
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def make_store(store_kind, database_url, pg_schemas, tmp_path):
    """``make_store(name="s")``: a store of the test's kind, closed after the test; the same ``name`` opens the
    same state again (SQLite file ``tmp_path/<name>.sqlite3``, or the PostgreSQL schema of ``name``)."""
    opened = []

    def make(name: str = "s"):
        store = open_test_store(store_kind, tmp_path, pg_schemas, name)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    """A fresh store of the test's kind."""
    return make_store()


@pytest.fixture(scope="session")
def truth() -> list[int]:
    rng = np.random.default_rng(7)
    return [int(x) for x in rng.integers(0, len(CHOICES), N_TASKS)]


def _answers(truth: list[int], n_right: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    wrong = set(rng.choice(len(truth), len(truth) - n_right, replace=False).tolist())
    return [(t + 1 + int(rng.integers(0, 2))) % 3 if i in wrong else t for i, t in enumerate(truth)]


@pytest.fixture
def pool_dir(tmp_path: Path, truth: list[int]) -> Path:
    """A directory with ``pool.yaml`` and the prediction files of three candidates."""
    d = tmp_path / "pool"
    d.mkdir()
    good, fair, poor = (_answers(truth, ACCURATE[n], s) for n, s in (("good", 1), ("fair", 2), ("poor", 3)))
    with open(d / "good.csv", "w") as fh:
        fh.write("key,label\n")
        fh.writelines(f"k{i},{a}\n" for i, a in enumerate(good))
    with open(d / "fair.jsonl", "w") as fh:
        fh.writelines(json.dumps({"key": f"k{i}", "pred": CHOICES[a]}) + "\n" for i, a in enumerate(fair))
    with open(d / "poor.jsonl", "w") as fh:
        fh.writelines(json.dumps({"key": f"k{i}", "label": a}) + "\n" for i, a in enumerate(poor))
    (d / "pool.yaml").write_text(
        "data_field: key\n"
        "candidates:\n"
        "  - name: good\n"
        "    source: {type: predictions, path: good.csv}\n"
        "    labels: {0: zero, 1: one, 2: two}\n"
        "  - name: fair\n"
        "    source: {type: predictions, path: fair.jsonl, label_column: pred}\n"
        "  - name: poor\n"
        "    source: {type: predictions, path: poor.jsonl}\n"
        "    labels: {'0': zero, '1': one, '2': two}\n")
    return d


@dataclasses.dataclass
class Backend:
    """An app, its test client and its service."""

    app: Any
    client: Any
    service: Service

    def post(self, path: str, body: Any, **kw):
        return self.client.post(path, json=body, **kw)

    def webhook(self, body: dict):
        # a fake Label Studio that keeps a record (tests/backend/test_refresh.py) learns what its real
        # counterpart would hold when it sends this webhook: the confirmation job reads it back
        record = getattr(self.service._api, "record_event", None)
        if record is not None:
            record(body)
        return self.client.post("/webhook", json=body)

    def labels(self, project: int = 1) -> list[tuple[int, int, str]]:
        return [(x.annotation, x.task, x.choice) for x in self.service.store.labels(project)]

    def ranking(self, project: int = 1) -> dict:
        response = self.client.get(f"/rankings?project={project}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def backend_factory(tmp_path: Path, pool_dir: Path, database_url: str | None, pg_schemas):
    """``make(**env)`` builds a backend on the demo pool with MODEL_DIR under tmp_path.

    Environment keys override the defaults (strategy ``modelpicker``, seed 0).  On PostgreSQL each
    ``MODEL_DIR`` gets a ``DATABASE_URL`` of its own, as it would a SQLite file of its own (the default
    MODEL_DIR's is the ``database_url`` fixture's).
    """
    made: list[Backend] = []
    default_dir = str(tmp_path / "model_dir")

    def make(**env: str) -> Backend:
        base = {"MODEL_DIR": default_dir, "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                "MODELPICKER_STRATEGY": "modelpicker"}
        base.update(env)
        if database_url is not None and "DATABASE_URL" not in env:
            model_dir = base["MODEL_DIR"]
            base["DATABASE_URL"] = database_url if model_dir == default_dir else pg_schemas.url(model_dir)
        settings = from_env({k: v for k, v in base.items() if v is not None})
        service = Service.from_settings(settings)
        app = create_app(settings, service)
        backend = Backend(app=app, client=app.test_client(), service=service)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.service.store.close()


@pytest.fixture
def backend(backend_factory) -> Backend:
    """A backend connected (via /setup) to project 1 with the demo config."""
    b = backend_factory()
    response = b.post("/setup", {"project": "1.1700000000", "schema": CONFIG})
    assert response.status_code == 200, response.get_json()
    return b


class Events:
    """Builders of Label Studio webhook payloads (shapes of Label Studio 1.23.2)."""

    config = CONFIG
    choices = CHOICES

    @staticmethod
    def project(pid: int = 1, config: str = CONFIG) -> dict:
        return {"id": pid, "title": "demo", "label_config": config, "sampling": "Uncertainty sampling"}

    @staticmethod
    def task(tid: int) -> dict:
        return {"id": tid, "data": {"key": f"k{tid - 1}"}, "project": 1}

    @staticmethod
    def annotation(aid: int, tid: int, choice: str | None, second: int = 0, cancelled: bool = False) -> dict:
        result = [] if choice is None else [
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
        return {"id": aid, "task": tid, "project": 1, "result": result, "was_cancelled": cancelled,
                "ground_truth": False, "updated_at": f"2026-11-23T10:00:{second:02d}.000000Z"}

    def created(self, aid: int, tid: int, choice: str | None, second: int = 0, **kw) -> dict:
        return {"action": "ANNOTATION_CREATED", "project": self.project(),
                "annotation": self.annotation(aid, tid, choice, second, **kw), "task": self.task(tid)}

    def updated(self, aid: int, tid: int, choice: str | None, second: int = 0, **kw) -> dict:
        body = self.created(aid, tid, choice, second, **kw)
        body["action"] = "ANNOTATION_UPDATED"
        return body

    def bulk_created(self, items: list[tuple[int, int, str]], second: int = 0) -> dict:
        return {"action": "ANNOTATIONS_CREATED", "project": self.project(),
                "annotation": [self.annotation(a, t, c, second) for a, t, c in items],
                "task": [self.task(t) for _, t, _ in items]}

    def deleted(self, *aids: int) -> dict:
        return {"action": "ANNOTATIONS_DELETED", "project": self.project(), "annotations": [{"id": a} for a in aids]}

    def tasks_created(self, *tids: int) -> dict:
        return {"action": "TASKS_CREATED", "project": self.project(), "tasks": [self.task(t) for t in tids]}

    def tasks_deleted(self, *tids: int) -> dict:
        return {"action": "TASKS_DELETED", "project": self.project(), "tasks": [{"id": t} for t in tids]}


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def all_tasks(truth) -> list[dict]:
    return [Events.task(i + 1) for i in range(len(truth))]

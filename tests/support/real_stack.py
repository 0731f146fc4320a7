"""The documented production set-up, for real: Label Studio 1.23.2, gunicorn, Redis and an rq worker.

Why a module of its own: the kill -9 test (``tests/e2e/test_kill9_e2e.py``) and
the load script (``benchmarks/load_annotators.py``) need the same stack, and
need to kill and restart its parts by process id:

* :func:`write_pool` -- a pool of prediction-file candidates over ``n`` tasks
  (seeded; candidate ``c0`` is the most accurate), its label config and tasks;
* :class:`Stack` -- Redis, gunicorn (``backend.gunicorn_conf``, basic auth on,
  confirmation mode: ``LABEL_STUDIO_URL``/``LABEL_STUDIO_API_KEY`` set) and an
  rq worker on one ``MODEL_DIR``, with :meth:`Stack.kill_backend` /
  :meth:`Stack.kill_worker` (SIGKILL to the process group: master and workers
  die at once, as in a crash) and restarts on the same port;
* :func:`prepare_project` -- a Label Studio project with the tasks, set up in
  the backend (``/setup``) and announced to it as Label Studio does
  (``TASKS_CREATED``);
* :func:`annotation_webhook` -- the ``ANNOTATION_CREATED`` body Label Studio
  sends for an annotation it holds.

Label Studio itself is started by the caller (:func:`tests.support.labelstudio.start_label_studio`).
"""
from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

from demo import config as demo_config
from demo import processes

from .labelstudio import backend_python
from .ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHOICES = ("zero", "one", "two")
CONFIG = ('<View><Text name="text" value="$key"/><Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")
#: accuracy of each candidate of :func:`write_pool`
ACCURACY = (0.9, 0.8, 0.7, 0.6, 0.5)
USER, PASSWORD = "labelstudio", "stack-" + base64.b16encode(os.urandom(8)).decode().lower()


def write_pool(directory: Path, n_tasks: int, seed: int = 0) -> dict:
    """Prediction files of ``len(ACCURACY)`` candidates over tasks ``k0..k<n-1>`` and ``pool.yaml``.

    Returns ``{"pool": path, "truth": [choice per task], "tasks": [{"key": ...}]}``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CHOICES), n_tasks)
    lines = ["data_field: key", "candidates:"]
    for c, acc in enumerate(ACCURACY):
        wrong = rng.random(n_tasks) > acc
        answers = np.where(wrong, (truth + rng.integers(1, len(CHOICES), n_tasks)) % len(CHOICES), truth)
        with open(directory / f"c{c}.jsonl", "w") as fh:
            fh.writelines(json.dumps({"key": f"k{i}", "pred": CHOICES[a]}) + "\n" for i, a in enumerate(answers))
        lines += [f"  - name: c{c}", f"    source: {{type: predictions, path: c{c}.jsonl, label_column: pred}}"]
    (directory / "pool.yaml").write_text("\n".join(lines) + "\n")
    return {"pool": directory / "pool.yaml", "truth": [CHOICES[t] for t in truth],
            "tasks": [{"key": f"k{i}"} for i in range(n_tasks)]}


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass
class Stack:
    """Redis + gunicorn + rq worker on ``work_dir``; ``ls_url``/``ls_token`` the Label Studio they read."""

    work_dir: Path
    pool: Path
    ls_url: str
    ls_token: str
    redis_url: str
    port_range: tuple[int, int] = (19200, 19300)
    extra_env: dict = field(default_factory=dict)
    port: int = 0
    backend: processes.Server | None = None
    worker: processes.Server | None = None
    #: every rq worker started (``worker`` is the latest)
    workers: list = field(default_factory=list)
    backend_starts: int = 0
    worker_starts: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or free_port(*self.port_range)
        self.session = requests.Session()
        self.session.headers["Authorization"] = basic_auth()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.work_dir / "model_dir" / "modelpicker.sqlite3"

    def env(self) -> dict[str, str]:
        """The backend's and the worker's settings (they share MODEL_DIR and Redis)."""
        return {"MODEL_DIR": str(self.work_dir / "model_dir"), "MODELPICKER_POOL": str(self.pool),
                "LABEL_STUDIO_URL": self.ls_url, "LABEL_STUDIO_API_KEY": self.ls_token,
                "REDIS_URL": self.redis_url, "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD,
                "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "WARNING",
                "MODELPICKER_STRATEGY": "certified", "PYTHONUNBUFFERED": "1", **self.extra_env}

    def _full_env(self) -> dict[str, str]:
        full = demo_config.server_env(os.environ, self.env())
        full.pop("MODELPICKER_ALLOW_UNAUTHENTICATED", None)
        return full

    # ------------------------------------------------------------ processes
    def start_backend(self, timeout: float = 90.0) -> float:
        """gunicorn with the production config on :attr:`port`; seconds until ``/health`` answered."""
        t0 = time.monotonic()
        python = backend_python()
        gunicorn = str(Path(python).parent / "gunicorn")
        self.backend = processes.start("gunicorn", [gunicorn, "-c", "python:backend.gunicorn_conf",
                                                    "backend.wsgi:app"],
                                       self._full_env(), self.work_dir / "gunicorn.log", REPO_ROOT)
        self.backend_starts += 1
        deadline = t0 + timeout
        while True:
            if not self.backend.running():
                raise RuntimeError(f"gunicorn exited: {self.backend.failure()}")
            try:
                if self.session.get(self.url + "/health", timeout=5).status_code == 200:
                    return time.monotonic() - t0
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not up within {timeout} s:\n{processes.log_tail(self.backend.log_path)}")
            time.sleep(0.1)

    def start_worker(self) -> None:
        """``rq worker --with-scheduler`` (SimpleWorker) as docs/backend.md runs it; call again for more."""
        rq = str(Path(backend_python()).parent / "rq")
        log = "worker.log" if not self.workers else f"worker-{len(self.workers) + 1}.log"
        self.worker = processes.start(
            "rq worker", [rq, "worker", "--with-scheduler", "--worker-class", "rq.worker.SimpleWorker",
                          "-u", self.redis_url, "--path", str(REPO_ROOT),
                          self.env().get("RQ_QUEUE_NAME", "modelpicker")],
            self._full_env(), self.work_dir / log, REPO_ROOT)
        self.workers.append(self.worker)
        self.worker_starts += 1

    @staticmethod
    def _kill(server: processes.Server | None) -> None:
        """SIGKILL to the whole process group (gunicorn's master and workers die together, as in a crash)."""
        if server is None:
            return
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while processes.group_alive(server.process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def kill_backend(self) -> None:
        self._kill(self.backend)

    def kill_worker(self) -> None:
        self._kill(self.worker)

    def stop(self) -> None:
        for server in (self.backend, *self.workers):
            if server is not None:
                processes.stop(server)
        self.session.close()

    # ------------------------------------------------------------ reading
    def store_labels(self, project: int) -> dict[int, tuple[int, str | None]]:
        """``{annotation: (task, choice)}`` committed in the store (a connection of its own: read-only on SQLite;
        on PostgreSQL (``DATABASE_URL`` in ``extra_env``) a plain query)."""
        query = "SELECT annotation, task, choice FROM annotations WHERE project = ?"
        url = self.extra_env.get("DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url) as db:
                rows = db.execute(query.replace("?", "%s"), (project,)).fetchall()
        else:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as db:
                rows = db.execute(query, (project,)).fetchall()
        return {int(a): (int(t), c) for a, t, c in rows}

    def integrity(self) -> str:
        """SQLite's ``integrity_check``; on PostgreSQL, "ok" when the database answers (it checks itself)."""
        url = self.extra_env.get("DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url) as db:
                return "ok" if db.execute("SELECT 1").fetchone()[0] == 1 else "no answer"
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0]

    def health(self) -> dict:
        return self.session.get(self.url + "/health", timeout=30).json()

    def drain(self, project: int, expected: int | None = None, timeout: float = 180.0,
              jobs_idle: bool = False) -> float:
        """Wait until no hint is pending, (if given) ``expected`` labels are stored and (``jobs_idle``) no job
        is queued or started.  A job killed with its worker stays "started" in the records, so the checks of
        a run with kills leave ``jobs_idle`` off.

        Returns the seconds waited; raises ``TimeoutError`` with what is still missing.
        """
        t0 = time.monotonic()
        last = {}
        while time.monotonic() - t0 < timeout:
            try:
                health = self.health()
                jobs = self.session.get(self.url + f"/jobs?project={project}&limit=200", timeout=30).json()
            except (requests.RequestException, ValueError) as exc:
                last = {"error": repr(exc)}
                time.sleep(0.5)
                continue
            pending = (health.get("labels") or {}).get("pending_hints", 0)
            busy = [j for j in jobs.get("jobs", []) if j.get("state") in ("queued", "started")]
            stored = len(self.store_labels(project))
            last = {"pending_hints": pending, "busy_jobs": len(busy), "stored": stored, "expected": expected}
            if not pending and not (jobs_idle and busy) and (expected is None or stored >= expected):
                return time.monotonic() - t0
            time.sleep(0.5)
        raise TimeoutError(f"not drained within {timeout} s: {last}")


class LabelStudioAPI:
    """The few Label Studio calls the stack needs (legacy-token session of the test's Label Studio)."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, **kwargs) -> Any:
        kwargs.setdefault("timeout", 120)
        for attempt in range(5):
            r = self.session.request(method, self.url + path, **kwargs)
            if r.status_code != 500:  # Label Studio on SQLite: "database is locked" while a refresh cleans up
                break
            time.sleep(1.0 + attempt)
        r.raise_for_status()
        return r.json() if r.content else None

    def tasks(self, project: int) -> list[dict]:
        """Every task of the project with its annotations (the export, what the backend reads too)."""
        return self.call("GET", f"/api/projects/{project}/export",
                         params={"exportType": "JSON", "download_all_tasks": "true"})


def prepare_project(ls: LabelStudioAPI, stack: Stack, tasks: list[dict],
                    title: str = "load test") -> tuple[dict, list[dict]]:
    """A Label Studio project holding ``tasks``, set up in the backend and announced with ``TASKS_CREATED``.

    Returns (the project as Label Studio describes it, its tasks ``[{"id", "data"}]``).
    """
    project = ls.call("POST", "/api/projects/", json={"title": title, "label_config": CONFIG})
    pid = int(project["id"])
    for i in range(0, len(tasks), 1000):
        ls.call("POST", f"/api/projects/{pid}/import", json=[{"data": t} for t in tasks[i:i + 1000]])
    stored = sorted(ls.tasks(pid), key=lambda t: t["id"])
    r = stack.session.post(stack.url + "/setup", json={"project": f"{pid}.{int(time.time())}", "schema": CONFIG},
                           timeout=120)
    r.raise_for_status()
    project = ls.call("GET", f"/api/projects/{pid}/")
    for i in range(0, len(stored), 500):
        body = {"action": "TASKS_CREATED", "project": project,
                "tasks": [{"id": t["id"], "data": t["data"], "project": pid} for t in stored[i:i + 500]]}
        r = stack.session.post(stack.url + "/webhook", json=body, timeout=120)
        r.raise_for_status()
    return project, [{"id": t["id"], "data": t["data"]} for t in stored]


def annotate(ls: LabelStudioAPI, task_id: int, choice: str) -> dict:
    """Create an annotation in Label Studio as the annotation editor's submit does; Label Studio's answer."""
    return ls.call("POST", f"/api/tasks/{task_id}/annotations/",
                   json={"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                     "value": {"choices": [choice]}}], "lead_time": 1.0})


def annotation_webhook(project: dict, task: dict, annotation: dict) -> dict:
    """The ``ANNOTATION_CREATED`` body Label Studio 1.23.2 sends for ``annotation`` of ``task``."""
    return {"action": "ANNOTATION_CREATED", "project": project,
            "task": {"id": task["id"], "data": task["data"], "project": project["id"]}, "annotation": annotation}


def ids_of(items: Iterable[dict]) -> list[int]:
    return [int(x["id"]) for x in items]

"""``python -m demo run``: start the demo stack, set up the digits project, print where to click, supervise.

Order: Redis (when ``redis-server`` is installed), then Label Studio (its
first start takes about 45 s), the admin's Personal Access Token (the backend
is given one, as a user would give it), the backend and its rq worker, then
the project set-up through Label Studio's API, then a wait for the backend's
first ranking (the queue is ordered before anyone clicks).
Every server runs in its own process group and is recorded in
``stack.json`` as soon as it starts, so Ctrl-C, SIGTERM, a server that dies or
a failed set-up all end in the same clean-up, and a later run can stop the
leftovers of a demo that was killed outright.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import requests

from backend.description_block import MARKER_PREFIX
from backend.labelstudio_api import UNCERTAINTY_SAMPLING

from . import credentials, processes, stack
from .config import (
    LS_VERSION,
    REPO_ROOT,
    ConfigError,
    DemoPaths,
    Example,
    backend_env,
    label_studio_command,
    label_studio_env,
    pick_port,
    redis_command,
    server_env,
    worker_command,
)
from .instructions import format_instructions
from .lsapi import PROJECT_TITLE, LabelStudio, LabelStudioError

LS_START_TIMEOUT, BACKEND_START_TIMEOUT, REDIS_START_TIMEOUT = 300.0, 90.0, 20.0
#: the backend's first ranking: scoring the pool, pushing priorities, writing the description
FIRST_RANKING_TIMEOUT = 300.0
#: how long a second ``make run`` waits for the first one to finish starting
OTHER_RUN_TIMEOUT = 600.0


class Interrupted(Exception):
    """Ctrl-C (SIGINT), SIGTERM or SIGHUP: stop everything that was started."""


@dataclass(frozen=True)
class Options:
    """What ``python -m demo run`` was asked for (see :mod:`demo.__main__`)."""

    demo_dir: Path
    example_dir: Path
    ls_venv: Path
    ls_port: int
    backend_port: int
    redis_port: int
    use_redis: bool = True


class Stack:
    """The servers started so far; records them in ``stack.json`` and stops them all, last first."""

    def __init__(self, paths: DemoPaths, out: TextIO):
        self.paths, self.out = paths, out
        self.servers: list[processes.Server] = []
        self.state: dict[str, Any] = {"pid": os.getpid(), "ready": False, "servers": []}

    def start(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> processes.Server:
        log = self.paths.logs / f"{name.lower().replace(' ', '-')}.log"
        server = processes.start(name, command, env, log, cwd)
        self.servers.append(server)
        self.state["servers"].append({"name": name, "pid": server.pid, "start_time": stack.start_time(server.pid),
                                      "log": str(log)})
        self.save()
        print(f"[demo] started {name} (pid {server.pid}, log {log})", file=self.out, flush=True)
        return server

    def save(self, **fields: Any) -> None:
        self.state.update(fields)
        stack.write(self.paths.stack, self.state)

    def dead(self) -> processes.Server | None:
        return next((s for s in self.servers if not s.running()), None)

    def stop(self) -> None:
        for server in reversed(self.servers):
            print(f"[demo] stopping {server.name} (pid {server.pid})", file=self.out, flush=True)
            processes.stop(server)
        self.servers.clear()
        stack.clear(self.paths.stack)


# ------------------------------------------------------------------ entry
def run(options: Options, out: TextIO = sys.stdout) -> int:
    """Start the demo (or show the one already running); returns the exit code."""
    paths = DemoPaths(options.demo_dir)
    try:
        lock = stack.try_lock(paths.lock)
    except OSError as exc:
        print(f"[demo] error: cannot use the demo directory {paths.root}: {exc.strerror}", file=sys.stderr)
        return 1
    if lock is None:
        return show_running(paths, out)
    stopping = {"now": False}

    def interrupt(signum, frame):
        if stopping["now"]:
            print("[demo] still stopping; the servers get SIGKILL after 20 s", file=out, flush=True)
            return
        stopping["now"] = True
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    servers = Stack(paths, out)
    try:
        stop_leftovers(paths, out)
        servers.save()
        start_and_set_up(options, paths, servers, out)
        return supervise(servers, out)
    except Interrupted as exc:
        print(f"\n[demo] {exc}: stopping everything this demo started", file=out, flush=True)
        return 0
    except (ConfigError, processes.StartError, LabelStudioError) as exc:
        print(f"[demo] error: {exc}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:  # a file of the demo directory or the example could not be read or written
        print(f"[demo] error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stopping["now"] = True
        servers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()
        print(f"[demo] stopped; the demo's data stays in {paths.root} for the next `make run`", file=out,
              flush=True)


def stop_leftovers(paths: DemoPaths, out: TextIO) -> None:
    """Stop the servers of a demo that died without cleaning up (its lock is gone, its stack.json is not)."""
    state = stack.read(paths.stack)
    if state is None:
        return
    for server in stack.leftovers(state):
        print(f"[demo] stopping {server['name']} (pid {server['pid']}) left by an earlier demo", file=out, flush=True)
        pid = int(server["pid"])
        processes.stop_group(pid, lambda grace, pid=pid: _wait_gone(pid, grace))
    stack.clear(paths.stack)


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while processes.group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def show_running(paths: DemoPaths, out: TextIO) -> int:
    """Another ``make run`` holds the lock: print its instructions (waiting while it is still starting)."""
    print(f"[demo] a demo stack is already running from {paths.root}", file=out, flush=True)

    def ready() -> dict | None:
        state = stack.read(paths.stack)
        if state and state.get("ready"):
            return state
        probe = stack.try_lock(paths.lock)
        if probe is not None:  # the other run ended meanwhile
            probe.close()
            raise processes.StartError("the other `make run` stopped before its stack was ready; run it again")
        return None

    try:
        state = ready() or processes.wait_until(ready, "the other `make run` to finish starting",
                                                OTHER_RUN_TIMEOUT, out=out)
    except processes.StartError as exc:
        print(f"[demo] error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(format_instructions(state), file=out, flush=True)
    print(f"(this stack runs in another terminal, pid {state['pid']}: press Ctrl-C there to stop it)", file=out,
          flush=True)
    return 0


# ------------------------------------------------------------- starting
def start_and_set_up(options: Options, paths: DemoPaths, servers: Stack, out: TextIO) -> None:
    example = Example(options.example_dir)
    example.check()
    ls_executable = options.ls_venv / "bin" / "label-studio"
    if not ls_executable.exists():
        raise ConfigError(f"Label Studio is not installed in {options.ls_venv}; `make ls-venv` installs "
                          f"label-studio=={LS_VERSION} there")
    admin = credentials.load_or_create(paths.credentials)
    for directory in (paths.ls_data, paths.model_dir, paths.logs):
        directory.mkdir(parents=True, exist_ok=True)

    redis_url = start_redis(options, paths, servers, out) if options.use_redis else None
    ls_port = pick_port(options.ls_port)
    _say_port(options.ls_port, ls_port, "Label Studio", out)
    ls_url = f"http://127.0.0.1:{ls_port}"
    ls_env = label_studio_env(paths, os.environ, admin.email, admin.password, admin.token)
    ls = servers.start("Label Studio", label_studio_command(ls_executable, ls_port),
                       server_env(ls_env, {}, ls_executable.parent), paths.root)
    servers.save(ls_url=ls_url)
    api = LabelStudio(ls_url, admin.token)
    processes.wait_until(api.healthy, f"Label Studio on {ls_url}", LS_START_TIMEOUT, [ls], out,
                         note="its first start migrates its database: about 45 s; later starts about 15 s")
    if not api.token_works():
        raise ConfigError(f"Label Studio's data in {paths.ls_data} belongs to another admin than "
                          f"{paths.credentials}; remove {paths.root} to start the demo over")
    # the backend authenticates as a user would: with a Personal Access Token (kept between runs)
    personal_token = api.personal_token(admin.personal_token)
    if personal_token != admin.personal_token:
        admin = replace(admin, personal_token=personal_token)
        credentials.save(paths.credentials, admin)

    backend_port = pick_port(options.backend_port)
    if backend_port == ls_port:
        backend_port = pick_port(backend_port + 1)
    _say_port(options.backend_port, backend_port, "the backend", out)
    backend_url = f"http://127.0.0.1:{backend_port}"
    # the backend asks every caller, Label Studio included, for this login (kept in admin.json, mode 0600)
    auth = (admin.backend_user, admin.backend_password)
    settings = backend_env(paths, example.pool, backend_port, ls_url, personal_token, redis_url, auth)
    backend = servers.start("backend", [sys.executable, "-m", "backend"], server_env(os.environ, settings), REPO_ROOT)
    watch = [ls, backend]
    if redis_url:
        watch.append(servers.start("rq worker", worker_command(redis_url), server_env(os.environ, settings),
                                   REPO_ROOT))
    servers.save(backend_url=backend_url)
    processes.wait_until(lambda: _answers(backend_url + "/health", auth), f"the backend on {backend_url}",
                         BACKEND_START_TIMEOUT, watch, out)
    project = set_up_project(api, example, backend_url, out, auth)
    processes.wait_until(lambda: first_ranking(api, backend_url, project, auth), "the backend's first ranking",
                         FIRST_RANKING_TIMEOUT, watch, out,
                         note="it scores the pool, pushes the queue order and writes the project description")
    servers.save(ready=True, project=project, title=PROJECT_TITLE, email=admin.email, password=admin.password,
                 backend_user=admin.backend_user,
                 jobs="rq" if redis_url else "inline", logs=str(paths.logs), demo_dir=str(paths.root))
    print(format_instructions(servers.state), file=out, flush=True)


def start_redis(options: Options, paths: DemoPaths, servers: Stack, out: TextIO) -> str | None:
    """Redis on loopback when ``redis-server`` is installed; its URL, or None (the backend runs jobs inline)."""
    executable = shutil.which("redis-server")
    if executable is None:
        print("[demo] redis-server is not installed: the backend runs its jobs inline (`make redis` installs "
              "it; then labels are processed by an rq worker)", file=out, flush=True)
        return None
    from redis import Redis
    from redis.exceptions import RedisError

    paths.redis_dir.mkdir(parents=True, exist_ok=True)
    port = pick_port(options.redis_port)
    url = f"redis://127.0.0.1:{port}/0"
    server = servers.start("redis", redis_command(executable, port, paths.redis_dir), server_env(os.environ, {}),
                           paths.redis_dir)

    def pong() -> bool:
        try:
            return bool(Redis.from_url(url, socket_timeout=2).ping())
        except RedisError:
            return False
    processes.wait_until(pong, f"Redis on {url}", REDIS_START_TIMEOUT, [server], out)
    return url


def set_up_project(api: LabelStudio, example: Example, backend_url: str, out: TextIO,
                   auth: tuple[str, str] | None = None) -> int:
    """The digits project (created once, reused later), connected to the backend, with its tasks.

    The backend is connected before the tasks are imported, so Label Studio's
    TASKS_CREATED webhook hands it every task (it ranks them at once).  With
    ``auth`` the connection uses basic auth and the webhook carries the header.
    """
    found = api.find_project()
    if found is None:
        project = int(api.create_project(example.label_config.read_text())["id"])
        print(f"[demo] created project {project} \"{PROJECT_TITLE}\"", file=out, flush=True)
    else:
        project = int(found["id"])
        print(f"[demo] using project {project} \"{PROJECT_TITLE}\" from an earlier run", file=out, flush=True)
    api.connect_backend(project, backend_url, auth=auth)
    print(f"[demo] connected the backend {backend_url} to project {project}"
          f"{' with basic auth (the webhook carries it too)' if auth else ''}", file=out, flush=True)
    if int(api.project(project).get("task_number") or 0) == 0:
        tasks = json.loads(example.tasks.read_text())
        api.import_tasks(project, tasks)
        print(f"[demo] imported {len(tasks)} tasks from {example.tasks}", file=out, flush=True)
    return project


def first_ranking(api: LabelStudio, backend_url: str, project: int,
                  auth: tuple[str, str] | None = None) -> dict | None:
    """The backend's ranking once Label Studio follows it: the project's queue version is the backend's,
    sampling is by uncertainty and the ranking block is in the description; else None."""
    try:
        response = requests.get(backend_url + "/rankings", params={"project": project}, timeout=10, auth=auth)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        ranking = response.json()
        settings = api.project(project)
    except (ValueError, LabelStudioError):  # e.g. "database is locked" while the first push is cleaned up
        return None
    if (ranking.get("model_version") and settings.get("model_version") == ranking["model_version"]
            and settings.get("sampling") == UNCERTAINTY_SAMPLING
            and MARKER_PREFIX in (settings.get("description") or "")):
        return ranking
    return None


def supervise(servers: Stack, out: TextIO) -> int:
    """Wait until a signal arrives (raised as :class:`Interrupted`) or a server dies (exit code 1)."""
    while True:
        dead = servers.dead()
        if dead is not None:
            print(f"[demo] error: {dead.failure()}\n[demo] stopping the rest", file=sys.stderr, flush=True)
            return 1
        time.sleep(1.0)


def _say_port(wanted: int, got: int, what: str, out: TextIO) -> None:
    if wanted != got:
        print(f"[demo] port {wanted} is taken: {what} uses {got}", file=out, flush=True)


def _answers(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return requests.get(url, timeout=5, auth=auth).status_code == 200
    except requests.RequestException:
        return False

"""Where the demo keeps its state, which ports it uses, and the environment of each server.

Pure functions only (no process is started here), so the settings that matter
-- Label Studio bound to loopback, allowed to reach a backend on loopback, and
sending nothing off the machine -- are unit-tested in ``tests/demo``.
"""
from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LS_VERSION = "1.23.2"
DEFAULT_LS_PORT, DEFAULT_BACKEND_PORT, DEFAULT_REDIS_PORT = 8080, 9090, 6379
#: the admin ``label-studio start`` creates on the first start
ADMIN_EMAIL = "admin@example.com"
#: the rq queue the backend and the worker share
RQ_QUEUE = "modelpicker"
#: variables of this process that must not leak into a server running from another venv
FOREIGN_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")

#: Label Studio 1.23.2 reports errors to Sentry (server and browser), sends usage analytics and asks
#: PyPI for its latest version by default; the demo keeps everything on this machine.  Label Studio
#: reads ``LABEL_STUDIO_<NAME>`` before ``<NAME>`` (``core.utils.params.get_env``), so the prefixed
#: names win over anything set in the caller's environment.
NOTHING_LEAVES = {
    "LABEL_STUDIO_SENTRY_DSN": "",
    "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
}

#: what the backend needs from Label Studio when both run on 127.0.0.1
LOOPBACK_BACKEND = {
    # connecting a backend on a private address is refused otherwise ("URL resolves to a reserved
    # network address"); the demo's backend is on 127.0.0.1
    "ML_BLOCK_LOCAL_IP": "false",
    # without it the webhook to the backend is refused as well (and the connect call answers 403)
    "SSRF_PROTECTION_ENABLED": "false",
    # the demo's own set-up calls use the admin's legacy token, fixed at the first start (so the demo can
    # act before anyone opens the UI); the backend gets a Personal Access Token, Label Studio's default kind
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
}


class ConfigError(ValueError):
    """A demo option or file the demo needs is unusable; the message says which and how to fix it."""


def _under_root(name: str) -> property:
    """A read-only attribute: the path ``name`` under the object's ``root``."""
    def path(self) -> Path:
        return self.root / name
    path.__doc__ = f"``root / {name!r}``"
    return property(path)


@dataclass(frozen=True)
class DemoPaths:
    """The files of one demo stack, all under ``root`` (``.cache/demo`` by default)."""

    root: Path

    ls_data = _under_root("label-studio")
    model_dir = _under_root("model_dir")
    redis_dir = _under_root("redis")
    logs = _under_root("logs")
    credentials = _under_root("admin.json")
    stack = _under_root("stack.json")
    lock = _under_root("run.lock")


@dataclass(frozen=True)
class Example:
    """The demo project's files (``examples/digits/make_example.py`` writes them)."""

    root: Path

    FILES = ("pool.yaml", "tasks.json", "label_config.xml")
    pool, tasks, label_config = (_under_root(name) for name in FILES)

    def check(self) -> None:
        """:class:`ConfigError` naming the missing files and the command that writes them."""
        missing = [name for name in self.FILES if not (self.root / name).is_file()]
        if missing:
            raise ConfigError(f"the demo example in {self.root} lacks {', '.join(missing)}; build it with "
                              f"`make example` (python examples/digits/make_example.py --out {self.root})")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nobody listens on ``host:port`` and this process may bind it.

    With ``SO_REUSEADDR``, as the servers bind: connections of a server that just stopped (TIME_WAIT)
    do not make its port look taken, so a restarted demo gets the same ports again.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, host: str = "127.0.0.1", span: int = 100) -> int:
    """``preferred`` unless taken, else the next free port of the ``span`` ports after it."""
    if not 1 <= preferred <= 65535:
        raise ConfigError(f"port {preferred} is not a TCP port (1-65535)")
    for port in range(preferred, min(preferred + span, 65536)):
        if port_is_free(port, host):
            return port
    raise ConfigError(f"ports {preferred}-{preferred + span - 1} on {host} are all taken")


def server_env(base: Mapping[str, str], extra: Mapping[str, str], venv_bin: Path | None = None) -> dict[str, str]:
    """``base`` without the caller's venv variables, with ``venv_bin`` first on PATH, plus ``extra``."""
    env = {k: v for k, v in base.items() if k not in FOREIGN_ENV}
    if venv_bin is not None:
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def label_studio_env(paths: DemoPaths, base: Mapping[str, str], email: str, password: str,
                     token: str) -> dict[str, str]:
    """Label Studio's environment: data under ``paths.ls_data`` (SQLite), loopback backend allowed,
    nothing sent off the machine, and the admin created on the first start with a fixed legacy token.

    The admin's password and token go through the environment, not the command line: a command line
    is readable by every user of the machine (``ps``), a process's environment only by its owner.
    """
    return {**{k: v for k, v in base.items() if k not in FOREIGN_ENV},
            "LABEL_STUDIO_BASE_DATA_DIR": str(paths.ls_data), **LOOPBACK_BACKEND, **NOTHING_LEAVES,
            "LABEL_STUDIO_USERNAME": email, "LABEL_STUDIO_PASSWORD": password, "LABEL_STUDIO_USER_TOKEN": token}


def label_studio_command(executable: Path, port: int) -> list[str]:
    """``label-studio start`` bound to 127.0.0.1 (``--internal-host``; ``--host`` alone binds 0.0.0.0)."""
    return [str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]


def backend_env(paths: DemoPaths, pool: Path, port: int, ls_url: str, token: str,
                redis_url: str | None, auth: tuple[str, str] | None = None) -> dict[str, str]:
    """The backend's settings (also the rq worker's): write-back into the demo's Label Studio on, and
    ``auth`` (user, password) as the basic-auth login every caller must give."""
    env = {
        "HOST": "127.0.0.1", "PORT": str(port),
        "MODEL_DIR": str(paths.model_dir), "MODELPICKER_POOL": str(pool),
        "LABEL_STUDIO_URL": ls_url, "LABEL_STUDIO_API_KEY": token,
        "MODELPICKER_WRITEBACK": "true", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
    }
    if redis_url:
        env.update(REDIS_URL=redis_url, RQ_QUEUE_NAME=RQ_QUEUE)
    if auth is not None:
        env.update(BASIC_AUTH_USER=auth[0], BASIC_AUTH_PASS=auth[1])
    return env


def worker_command(redis_url: str, python: str = sys.executable) -> list[str]:
    """One rq worker on the backend's queue, run the way ``docker-compose.yml`` runs it."""
    rq = str(Path(python).parent / "rq")
    return [rq, "worker", "--with-scheduler", "--worker-class", "rq.worker.SimpleWorker",
            "--url", redis_url, "--path", str(REPO_ROOT), RQ_QUEUE]


def redis_command(executable: str, port: int, workdir: Path) -> list[str]:
    """``redis-server`` on loopback, nothing persisted (the backend's state is in its SQLite file)."""
    return [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir)]

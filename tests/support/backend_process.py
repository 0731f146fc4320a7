"""A real backend server process (``python -m backend`` or gunicorn with ``backend.gunicorn_conf``) for tests
that must show behaviour the Flask test client cannot: chunked bodies, stalled clients, bind refusal, logs.

Unlike :func:`tests.support.labelstudio.start_backend` it accepts a ``/health`` answer of 401 as "up",
so a backend with basic auth on can be started, and it can run gunicorn.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from demo import config as demo_config
from demo import processes

from .ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python") if (REPO_ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")


@dataclass
class Running:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peak_rss_kb(self) -> int:
        """VmHWM (peak resident memory, kB) of the server process and its children (gunicorn workers)."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total = max(total, int(line.split()[1]))
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def command(kind: str) -> list[str]:
    if kind == "python":
        return [PYTHON, "-m", "backend"]
    if kind == "gunicorn":
        return [GUNICORN, "-c", "python:backend.gunicorn_conf", "backend.wsgi:app"]
    raise ValueError(kind)


@contextlib.contextmanager
def running(kind: str, env: Mapping[str, str], log_path: Path, port_range: tuple[int, int] = (19100, 19200),
            timeout: float = 60.0) -> Iterator[Running]:
    """Start the server ``kind`` (``python`` or ``gunicorn``) on 127.0.0.1 with ``env``; stop it on exit."""
    port = free_port(*port_range)
    full = demo_config.server_env(os.environ, {"PYTHONUNBUFFERED": "1", "HOST": "127.0.0.1", "PORT": str(port),
                                               **env})
    for key in ("BASIC_AUTH_USER", "BASIC_AUTH_PASS", "REDIS_URL", "MODELPICKER_ALLOW_UNAUTHENTICATED"):
        if key not in env:
            full.pop(key, None)
    server = processes.start(kind, command(kind), full, log_path, REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if not server.running():
                raise RuntimeError(f"{kind} exited: {server.failure()}")
            try:
                if requests.get(url + "/health", timeout=5).status_code in (200, 401):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} not up within {timeout} s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.3)
        yield Running(url=url, port=port, process=server.process, log_path=log_path)
    finally:
        processes.stop(server)


def run_to_exit(kind: str, env: Mapping[str, str], timeout: float = 60.0,
                extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run the server ``kind`` with ``env`` expecting it to refuse to start; its exit code and output."""
    full = demo_config.server_env(os.environ, {"PYTHONUNBUFFERED": "1", **env})
    for key in ("BASIC_AUTH_USER", "BASIC_AUTH_PASS", "MODELPICKER_ALLOW_UNAUTHENTICATED"):
        if key not in env:
            full.pop(key, None)
    return subprocess.run(command(kind) + list(extra), env=full, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)

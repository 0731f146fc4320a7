"""A throw-away ``redis-server`` on 127.0.0.1 for tests and benchmarks that run rq for real.

:func:`redis_server` starts it with no persistence (no RDB snapshots, no append-only file) in a
port of the caller's range, waits until it answers PING, yields its URL and stops it.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .labelstudio import log_tail, stop_process_group
from .ports import free_port

#: seconds a fresh redis-server may take to answer PING
REDIS_START_TIMEOUT = 20.0


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start; the message says why."""


def find_redis_server() -> str:
    """Path of the ``redis-server`` executable; :class:`RedisServerError` telling how to install it if missing."""
    executable = shutil.which("redis-server")
    if not executable:
        raise RedisServerError("redis-server is not installed (not on PATH); `make redis` installs it "
                               "(Debian package redis-server)")
    return executable


@contextmanager
def redis_server(port_range: tuple[int, int], work_dir: Path | str,
                 timeout: float = REDIS_START_TIMEOUT) -> Iterator[str]:
    """Run ``redis-server`` on 127.0.0.1 for the ``with`` block; yields ``redis://127.0.0.1:<port>/0``.

    Parameters
    ----------
    port_range : ``(start, stop)``; the first free port in it is used.
    work_dir : existing directory for redis's working files and ``redis.log`` (the log tail is in the
        error when the server does not start).
    timeout : seconds to wait for the first PING answer.
    """
    from redis import Redis

    executable = find_redis_server()
    port = free_port(*port_range)
    work_dir = Path(work_dir)
    log_path = work_dir / "redis.log"
    url = f"redis://127.0.0.1:{port}/0"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(work_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                Redis.from_url(url).ping()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RedisServerError(f"redis-server did not answer PING on {url} within {timeout:.0f} s "
                                           f"(exit code {process.poll()})\n--- last lines of {log_path} ---\n"
                                           f"{log_tail(log_path)}") from None
                time.sleep(0.05)
        yield url
    finally:
        stop_process_group(process)

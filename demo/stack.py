"""Knowing whether a demo stack is already up: a lock held by the running ``make run`` and a state file.

The running demo holds an exclusive ``flock`` on ``<demo dir>/run.lock`` for
its whole life (the kernel drops it when the process dies, however it dies),
and writes ``stack.json`` (addresses, login, project, its servers' process
groups) once the stack is ready.  A second ``make run`` that cannot take the
lock reads ``stack.json`` and prints the same instructions; one that takes the
lock while ``stack.json`` exists finds the leftovers of a demo that was killed
and stops their process groups before starting anew.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any


def try_lock(path: Path) -> IO | None:
    """The open, exclusively locked ``path``; None when another process holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def write(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` with ``state`` atomically (a reader never sees half a file); mode 0600 since it
    carries the admin's login."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
    os.replace(tmp, path)


def read(path: Path) -> dict[str, Any] | None:
    """The state in ``path``; None when missing or unreadable (a stale or half-written file is no stack)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def clear(path: Path) -> None:
    path.unlink(missing_ok=True)


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22); None when gone.

    Together with the pid it names one process for good: a pid reused later has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def leftovers(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Servers of ``state`` whose group leader still runs (same pid, same start time: not a reused pid)."""
    found = []
    for server in state.get("servers", []):
        try:
            pid, started = int(server["pid"]), int(server["start_time"])
        except (KeyError, TypeError, ValueError):
            continue
        if start_time(pid) == started:
            found.append(server)
    return found

"""Servers as process groups: start with a log file, wait with visible progress, stop without orphans.

Each server starts in its own session (process group), so the terminal's
Ctrl-C reaches only the demo, which then stops the servers in order: SIGTERM
to the whole group, SIGKILL to whatever is left after a grace period.  On
Linux each server also gets SIGTERM if the demo itself dies (even by
SIGKILL), through ``PR_SET_PDEATHSIG``.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    """A server did not start or stopped answering; the message names it and ends with its log tail."""


def log_tail(path: Path, n_lines: int = 30) -> str:
    """The last ``n_lines`` of a log file ('' when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n_lines:])
    except OSError:
        return ""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Server:
    """A started server: its ``name`` (for messages), ``process`` (the group leader) and ``log_path``."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def failure(self) -> str:
        """Why it is no longer running, with the tail of its log."""
        return (f"{self.name} exited with code {self.process.returncode}\n"
                f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}")


def start(name: str, command: list[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> Server:
    """Run ``command`` in a new session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        except OSError as exc:
            raise StartError(f"cannot start {name} ({command[0]}): {exc}") from None
    return Server(name, process, log_path)


def group_alive(pgid: int) -> bool:
    """Some process of group ``pgid`` still runs (and belongs to this user)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, wait: Callable[[float], bool], grace: float = 20.0) -> None:
    """SIGTERM group ``pgid``; SIGKILL what is left once ``wait(grace)`` returned (it says whether the
    leader exited), so no member of the group outlives the call."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait(grace)
    deadline = time.monotonic() + 5.0
    while group_alive(pgid) and time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.1)


def stop(server: Server, grace: float = 20.0) -> None:
    """Stop ``server``'s whole process group (see :func:`stop_group`)."""
    def wait(timeout: float) -> bool:
        try:
            server.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    stop_group(server.pid, wait, grace)
    if server.process.poll() is None:
        server.process.wait(timeout=10)


def wait_until(check: Callable[[], T | None], what: str, timeout: float, watch: Iterable[Server] = (),
               out: TextIO = sys.stdout, every: float = 5.0, note: str = "", interval: float = 0.5) -> T:
    """Call ``check`` until it returns something other than None/False; return that.

    Prints ``waiting for <what>`` once (with ``note``), then the elapsed time
    every ``every`` seconds, so a long first start is visibly alive.  Raises
    :class:`StartError` when a server in ``watch`` exits meanwhile (with its
    log tail) or after ``timeout`` seconds.
    """
    started = time.monotonic()
    next_report = started + every
    print(f"[demo] waiting for {what}{f' ({note})' if note else ''}", file=out, flush=True)
    while True:
        for server in watch:
            if not server.running():
                raise StartError(f"{server.failure()}\n(while waiting for {what})")
        result = check()
        if result is not None and result is not False:
            print(f"[demo] {what}: ready after {time.monotonic() - started:.0f} s", file=out, flush=True)
            return result
        now = time.monotonic()
        if now - started > timeout:
            raise StartError(f"{what} not ready within {timeout:.0f} s")
        if now >= next_report:
            print(f"[demo]   ... {now - started:.0f} s", file=out, flush=True)
            next_report = now + every
        time.sleep(interval)

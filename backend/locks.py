"""Per-project locks: work on one project never waits for another project.

The service used to hold one process-wide lock while it fitted a belief and
one while it refreshed, so a slow ``/setup`` or refresh of project A (a label
config with 50,000 choices took 51 s) made ``/rankings`` of project B wait
just as long.  :class:`ProjectLocks` hands out one re-entrant lock per
project id; only the short lookup of that lock is shared.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ProjectLocks:
    """``hold(project)``: a re-entrant lock of that project alone.

    Locks are created on first use and kept (one small object per project
    ever seen by this process).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[int, threading.RLock] = {}

    def lock(self, project: int) -> threading.RLock:
        with self._guard:
            lock = self._locks.get(project)
            if lock is None:
                lock = self._locks[project] = threading.RLock()
            return lock

    @contextlib.contextmanager
    def hold(self, project: int) -> Iterator[None]:
        with self.lock(project):
            yield

"""One refresh of a project at a time, across every process and host that shares the store.

The service's :class:`~backend.locks.ProjectLocks` serialise the threads of
one process.  With several gunicorn workers, hosts and rq workers, two
refresh jobs of one project could otherwise run at once: both push a queue
order, both write the description, both record the same STOP.  The store is
what they share, so the lock lives with it:

* PostgreSQL (``DATABASE_URL``): a session-level ``pg_advisory_lock`` on the
  project's key, taken on a connection of its own for as long as the refresh
  runs.  A process that dies loses its connection, and PostgreSQL releases the
  lock with it.
* SQLite: ``flock`` on ``<store file>.locks/project-<id>``.  SQLite already
  confines the store to one host.  The kernel releases the lock when the
  process dies.

Neither leaves a stale lock behind after a crash, so no lease is needed.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: first half of the advisory lock's two-int key (the second is the project id)
ADVISORY_NAMESPACE = 0x6D70  # "mp"


@contextlib.contextmanager
def project_lock(store: Any, project: int) -> Iterator[None]:
    """Hold the project's cross-process lock for the ``with`` block (waits for another holder)."""
    url = getattr(store, "lock_url", None)
    if url:
        with _advisory(url, project):
            yield
    else:
        with _flock(Path(str(store.path) + ".locks") / f"project-{int(project)}"):
            yield


@contextlib.contextmanager
def _advisory(url: str, project: int) -> Iterator[None]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (ADVISORY_NAMESPACE, int(project)))
        try:
            yield
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (ADVISORY_NAMESPACE, int(project)))


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Background work: inline by default, on an rq queue when ``REDIS_URL`` is set.

A job is named by a method of :class:`~backend.service.Service` plus
JSON-ready arguments, so the same job runs in the web process (inline) or in
an ``rq worker`` process, which builds its own service from the same
environment (``MODELPICKER_POOL``, ``MODEL_DIR``, ...): :func:`backend.worker.run_job`,
which :class:`RQRunner` enqueues by its import path (:data:`RQ_ENTRY_POINT`), so
this module never imports the service.  rq workers must see the same
``MODEL_DIR`` as the web process: the state is a SQLite file there.

Run a worker with::

    REDIS_URL=redis://127.0.0.1:6379/0 MODEL_DIR=... MODELPICKER_POOL=... \\
        rq worker --with-scheduler --url "$REDIS_URL" modelpicker

(``--with-scheduler`` runs the delayed refreshes of :mod:`backend.debounce`).
Job records (state, progress, message) live in the store, not in Redis, so
``GET /jobs`` shows inline and rq jobs alike.  Run one worker per queue: two
workers could refresh one project at the same time.
"""
from __future__ import annotations

import abc
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: seconds an rq job may run (a refresh of a very large project on SQLite Label Studio is slow)
JOB_TIMEOUT = 1800

#: Service methods a job may call.
JOBS = ("compute_predictions", "refresh", "confirm_pending")

#: the function an rq job runs, by import path: rq workers import it (the service is built there, not here)
RQ_ENTRY_POINT = "backend.worker.run_job"


class JobRunner(abc.ABC):
    """Runs a named service method now or later."""

    kind: str = ""

    #: whether :meth:`submit` can run a job later (``delay``)
    delays: bool = False

    @abc.abstractmethod
    def submit(self, job: str, *args: Any, delay: float | None = None) -> str | None:
        """Run (or enqueue) ``service.<job>(*args)``; returns an rq job id or None.

        ``delay`` (seconds) asks to run it later; runners that cannot
        (``delays`` False) run it now.
        """


class InlineRunner(JobRunner):
    """Runs the job in the calling thread, before :meth:`submit` returns."""

    kind = "inline"

    def __init__(self, target: Any):
        self.target = target

    def submit(self, job: str, *args: Any, delay: float | None = None) -> None:
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}")
        getattr(self.target, job)(*args)
        return None


class DropRunner(JobRunner):
    """Runs nothing: the fallback of a retry that must never run inline (it would retry itself at once)."""

    kind = "drop"

    def submit(self, job: str, *args: Any, delay: float | None = None) -> None:
        logger.warning("%s not enqueued (Redis unreachable); the next webhook, refresh, start or /sync retries it",
                       job)
        return None


class RQRunner(JobRunner):
    """Enqueues :func:`backend.worker.run_job` (by its path, :data:`RQ_ENTRY_POINT`) on an rq queue; falls back
    to inline when Redis is unreachable.

    Delayed jobs use rq's ``enqueue_in``: a worker started with
    ``--with-scheduler`` moves them to the queue when they are due.
    """

    kind = "rq"
    delays = True

    def __init__(self, redis_url: str, queue: str, fallback: JobRunner):
        from redis import Redis
        from rq import Queue

        self.redis_url, self.queue_name, self.fallback = redis_url, queue, fallback
        self.queue_ = Queue(queue, connection=Redis.from_url(redis_url))

    def submit(self, job: str, *args: Any, delay: float | None = None) -> str | None:
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}")
        from datetime import timedelta

        from redis.exceptions import RedisError

        try:
            if delay:
                return self.queue_.enqueue_in(timedelta(seconds=delay), RQ_ENTRY_POINT, job, *args,
                                              job_timeout=JOB_TIMEOUT).id
            return self.queue_.enqueue(RQ_ENTRY_POINT, job, *args, job_timeout=JOB_TIMEOUT).id
        except RedisError as exc:
            logger.warning("cannot enqueue %s on %s (%s); running it inline", job, self.redis_url, exc)
            return self.fallback.submit(job, *args)


def make_runner(redis_url: str | None, queue: str, target: Any) -> JobRunner:
    """:class:`RQRunner` when ``redis_url`` is set, else :class:`InlineRunner`."""
    inline = InlineRunner(target)
    return RQRunner(redis_url, queue, inline) if redis_url else inline


"""The web process's background loop: check Label Studio once at start, then never let a hint wait forever.

A webhook's hint is committed before the answer, and a confirmation job is
queued after the commit.  A crash can lose that job: the server killed
between the commit and the enqueue, or an rq worker killed in the middle of
the job.  The next webhook of the project queues a new one, but after the
last webhook of a batch nothing would, and acknowledged labels would stay
unconfirmed.  Every :data:`SWEEP_INTERVAL_SECONDS` this loop asks the service
to submit a confirmation for projects whose hints have waited
:data:`backend.service.HINT_SWEEP_AGE_SECONDS` with no job queued or started
since (:meth:`backend.service.Service.sweep_unattended_hints`).  Each gunicorn
worker runs one; a duplicate job only finds nothing pending.

With Label Studio configured, the first sweep and then every
``MODELPICKER_SYNC_EVERY_SECONDS`` also mirror every known project from
Label Studio (:meth:`backend.service.Service.sync_all`): a label whose webhook
never came (a webhook Label Studio could not deliver, a backend that was down)
is counted within that period, and /health shows what each sync caught up.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: seconds between two sweeps
SWEEP_INTERVAL_SECONDS = 15.0


def run(service: Any, stop: threading.Event, interval: float = SWEEP_INTERVAL_SECONDS,
        on_start: Callable[[dict], None] | None = None) -> None:
    """Check Label Studio (which also resumes pending hints), then sweep every ``interval`` s until ``stop``."""
    if service.settings.label_studio_configured:
        try:
            status = service.check_label_studio()
            if on_start is not None:
                on_start(status)
        except Exception as exc:  # the loop must go on; /health shows the problem
            logger.error("start-up check of Label Studio failed: %s", type(exc).__name__)
    every = service.settings.sync_every_seconds if service.settings.label_studio_configured else 0.0
    last_sync = None
    while not stop.wait(interval):
        try:
            service.sweep_unattended_hints()
        except Exception as exc:  # the store busy or gone for a moment: the next sweep tries again
            logger.error("hint sweep failed: %s", type(exc).__name__)
        if every and (last_sync is None or time.monotonic() - last_sync >= every):
            last_sync = time.monotonic()
            try:
                service.sync_all()
            except Exception as exc:  # each project's failure is recorded by sync_all; this is the store itself
                logger.error("periodic sync failed: %s", type(exc).__name__)


def start(service: Any, interval: float = SWEEP_INTERVAL_SECONDS,
          on_start: Callable[[dict], None] | None = None) -> threading.Event:
    """Run :func:`run` in a daemon thread; returns the event that stops it."""
    stop = threading.Event()
    threading.Thread(target=run, args=(service, stop, interval, on_start), daemon=True,
                     name="hint-sweeper").start()
    return stop

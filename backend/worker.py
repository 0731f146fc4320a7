"""The rq side of :mod:`backend.jobs`: the function every rq job runs.

:class:`backend.jobs.RQRunner` enqueues :func:`run_job` by its import path
(``backend.jobs.RQ_ENTRY_POINT``), so the runner never imports the service;
an ``rq worker`` process imports this module when it takes the first job.
Each worker builds one :class:`~backend.service.Service` from the environment
(``MODELPICKER_POOL``, ``MODEL_DIR``, ...: the same as the web process's), with
inline jobs, and on its first job confirms the hints webhooks left pending.
"""
from __future__ import annotations

from typing import Any

from . import settings as settings_module
from .jobs import JOBS
from .service import Service

_worker_service: Service | None = None


def worker_service() -> Service:
    """This worker's service: built from the environment on the first call, which also resumes pending hints."""
    global _worker_service
    if _worker_service is None:
        _worker_service = Service.from_settings(settings_module.from_env(), inline=True)
        # a worker (re)started after a crash or a Label Studio outage: confirm what webhooks left pending
        _worker_service.resume_pending()
    return _worker_service


def run_job(job: str, *args: Any) -> Any:
    """Entry point of an rq job: run ``service.<job>(*args)`` on this worker's service."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}")
    return getattr(worker_service(), job)(*args)

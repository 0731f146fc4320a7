"""One free-port finder for every test suite and benchmark; each keeps its own port range.

The check itself is the demo's (:func:`demo.config.pick_port`): a port counts as free when this
process can bind it with ``SO_REUSEADDR``, as the servers do, so the port of a server that just
stopped (connections in TIME_WAIT) is not skipped.

Under pytest-xdist (``make test`` runs two workers) each worker searches its own slice of a range
(:func:`worker_slice`): two workers never pick the same free port for servers they start at the
same moment.
"""
from __future__ import annotations

import os

from demo.config import ConfigError, pick_port


class NoFreePortError(RuntimeError):
    """Every port of the requested range is taken."""


def worker_slice(start: int, stop: int) -> tuple[int, int]:
    """``[start, stop)``, or this pytest-xdist worker's share of it (worker ``gwK`` of ``N`` gets the K-th
    of N equal parts; outside xdist, or when the range is too small to share, the whole range)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    if not worker.startswith("gw") or not worker[2:].isdigit() or not count.isdigit() or int(count) < 2:
        return start, stop
    index, n = int(worker[2:]), int(count)
    share = (stop - start) // n
    if share < 1 or index >= n:
        return start, stop
    return start + index * share, start + (index + 1) * share


def free_port(start: int, stop: int, host: str = "127.0.0.1") -> int:
    """First port in ``[start, stop)`` (this xdist worker's slice of it) that nobody listens on and we can bind.

    Raises :class:`NoFreePortError` when the whole range is taken.
    """
    first, last = worker_slice(start, stop)
    try:
        return pick_port(first, host, span=last - first)
    except ConfigError:
        raise NoFreePortError(f"no free port on {host} in range {first}-{last - 1}") from None

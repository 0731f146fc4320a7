"""One free-port finder for every test suite and benchmark; each keeps its own port range.

The check itself is the demo's (:func:`demo.config.pick_port`): a port counts as free when this
process can bind it with ``SO_REUSEADDR``, as the servers do, so the port of a server that just
stopped (connections in TIME_WAIT) is not skipped.
"""
from __future__ import annotations

from demo.config import ConfigError, pick_port


class NoFreePortError(RuntimeError):
    """Every port of the requested range is taken."""


def free_port(start: int, stop: int, host: str = "127.0.0.1") -> int:
    """First port in ``[start, stop)`` that nobody listens on and we can bind.

    Raises :class:`NoFreePortError` when the whole range is taken.
    """
    try:
        return pick_port(start, host, span=stop - start)
    except ConfigError:
        raise NoFreePortError(f"no free port on {host} in range {start}-{stop - 1}") from None

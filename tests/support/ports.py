"""One free-port finder for every test suite and benchmark; each keeps its own port range."""
from __future__ import annotations

import socket


class NoFreePortError(RuntimeError):
    """Every port of the requested range is taken."""


def free_port(start: int, stop: int, host: str = "127.0.0.1") -> int:
    """First port in ``[start, stop)`` that nobody listens on and we can bind.

    Raises :class:`NoFreePortError` when the whole range is taken.
    """
    for port in range(start, stop):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise NoFreePortError(f"no free port on {host} in range {start}-{stop - 1}")

"""The one exception type that becomes an HTTP error answer."""
from __future__ import annotations


class RequestError(Exception):
    """A request the backend cannot serve; becomes ``{"error": message}`` with ``status``.

    4xx for what the caller sent (malformed body, unknown project, a label
    config the pool does not fit), 503 when the backend itself is unusable
    (no pool loaded), 502 when a candidate model's source failed.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

"""One time format for everything that leaves the process: ISO 8601 in UTC.

The store keeps POSIX seconds (cheap to compare and to sort); every answer,
export and record a user reads shows ``2026-12-01T05:40:51.123+00:00``, so
``/rounds``, ``/jobs`` and ``/export`` can be compared by eye and parsed the
same way.
"""
from __future__ import annotations

from datetime import UTC, datetime


def iso(stamp: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC text with milliseconds; None stays None."""
    if stamp is None:
        return None
    return datetime.fromtimestamp(float(stamp), UTC).isoformat(timespec="milliseconds")


def iso_fields(record: dict, fields: tuple[str, ...]) -> dict:
    """A copy of ``record`` with the given time fields (POSIX seconds) as ISO text."""
    return {**record, **{f: iso(record[f]) for f in fields if f in record}}

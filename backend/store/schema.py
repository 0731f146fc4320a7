"""Chunked ``IN (...)`` lists for the store's SQL.

The tables themselves are created and migrated by alembic (:mod:`backend.store.migrate`, revisions in
``backend/store/migrations/versions/``), on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

#: values per SQL ``IN (...)`` list (older SQLite builds allow 999 bound parameters per statement)
IN_LIST_SIZE = 500


def in_lists(values: Iterable[Any]) -> Iterator[tuple[list, str]]:
    """``(chunk, "?,?,...")`` pairs over ``values``, :data:`IN_LIST_SIZE` at a time, for ``... IN ({marks})``."""
    values = list(values)
    for i in range(0, len(values), IN_LIST_SIZE):
        chunk = values[i:i + IN_LIST_SIZE]
        yield chunk, ",".join("?" * len(chunk))

"""Values the backend passes between its parts: one annotation's delivered state, one stored label.

Plain frozen dataclasses with no behaviour, so pure modules (the belief, the
event parsing, the confirmation) can use them without importing the storage
(:mod:`backend.store`, which re-exports both).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class AnnotationVersion:
    """One delivered state of one annotation.

    Attributes
    ----------
    annotation : Label Studio annotation id.
    task : the task it labels.
    choice : the Choice value, or None for a cancelled/skipped/empty annotation.
    version : ``updated_at`` as a POSIX timestamp; None when the payload had none
        (then the latest delivery wins).
    """

    annotation: int
    task: int
    choice: str | None
    version: float | None


@dataclasses.dataclass(frozen=True)
class Label:
    """A stored label: annotation ``annotation`` gave task ``task`` the Choice ``choice``."""

    annotation: int
    task: int
    choice: str

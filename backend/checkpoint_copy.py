"""Frozen copies of a strategy's state that share their unchanged arrays with the previous frozen copy.

A fit keeps ``O(log n)`` checkpoints of the replay (:class:`backend.belief.Checkpoint`), each a private copy
of the strategy.  Most of a strategy's memory is derived from the pool alone (the prediction matrix, its
patterns, the certificate's counts: about 160 MB at 20,000 tasks x 100 candidates, 800 MB at 100,000) and
is the same in every checkpoint; a deep copy per checkpoint made the rq worker hold gigabytes
(benchmarks/refresh_memory.py).  :func:`frozen_copy` copies the state as :func:`copy.deepcopy` does, but
an array equal (shape, dtype, values) to the one at the same place in the previous frozen copy is that
array, not a new one.

Frozen copies are never changed: every array in one is made read-only, and a fit that continues from a
checkpoint works on a :func:`copy.deepcopy` of it (writable arrays), so sharing is invisible.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

#: arrays smaller than this are copied as they are (not worth comparing)
SHARE_BYTES = 1 << 16
#: how deep :func:`arrays` looks into attributes, containers and their items
MAX_DEPTH = 8


def arrays(obj: Any, path: tuple = (), depth: int = 0, seen: set | None = None) -> Iterator[tuple[tuple, np.ndarray]]:
    """``(path, array)`` of every non-object ndarray reachable from ``obj`` through attributes, dict values
    (str or int keys), list and tuple items; each object once (its first path)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > MAX_DEPTH:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype != object:
            yield path, obj
        return
    if isinstance(obj, dict):
        items = [(k, v) for k, v in obj.items() if isinstance(k, (str, int))]
    elif isinstance(obj, (list, tuple)):
        items = list(enumerate(obj))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = list(vars(obj).items())
    else:
        return
    for key, value in items:
        if isinstance(value, (str, bytes, int, float, bool, type(None))):
            continue
        yield from arrays(value, (*path, key), depth + 1, seen)


def frozen_copy(obj: Any, previous: Any = None) -> Any:
    """A deep copy of ``obj`` with read-only arrays; arrays equal to those at the same path of ``previous``
    (an earlier frozen copy of the same kind of object, or None) are shared with it."""
    if obj is None:
        return None
    memo: dict[int, Any] = {}
    if previous is not None:
        before = {path: a for path, a in arrays(previous) if a.nbytes >= SHARE_BYTES and not a.flags.writeable}
        for path, a in arrays(obj):
            old = before.get(path)
            if old is not None and old.shape == a.shape and old.dtype == a.dtype and np.array_equal(old, a):
                memo[id(a)] = old
    out = copy.deepcopy(obj, memo)
    for _, a in arrays(out):
        a.flags.writeable = False
    return out


def frozen_state(strategy: Any, side: Any, kept: list) -> tuple[Any, Any]:
    """Frozen copies of a replay's ``strategy`` and ``side`` certificate, sharing unchanged arrays with the
    latest checkpoint of ``kept`` (objects with ``strategy`` and ``side``)."""
    last = kept[-1] if kept else None
    return (frozen_copy(strategy, None if last is None else last.strategy),
            frozen_copy(side, None if last is None else last.side))

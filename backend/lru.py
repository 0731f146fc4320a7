"""A cache bounded by entries and by total size, least recently used out first.

The parsed label configs were cached in a plain dict keyed by the config
text: 30 configs of 10 MB added 380 MB that were never freed.  Here the key is
a digest of the text (the text itself is not kept) and every entry carries a
size (the length of the config it came from, a fair proxy for its parsed
form), so neither the number of entries nor their total size exceeds the
bound.  An entry larger than the whole bound is not cached at all.
"""
from __future__ import annotations

import collections
import hashlib
import threading
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def digest(text: str) -> str:
    """A fixed-size key for a (possibly huge) text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class BoundedCache(Generic[V]):
    """``get(key)`` / ``put(key, value, size)`` with at most ``max_entries`` and ``max_bytes`` in total."""

    def __init__(self, max_entries: int, max_bytes: int):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a bounded cache needs max_entries >= 1 and max_bytes >= 1")
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self._items: collections.OrderedDict[str, tuple[Any, int]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """The total size of the cached entries."""
        return self._bytes

    def get(self, key: str) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, value: V, size: int) -> None:
        size = max(int(size), 1)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

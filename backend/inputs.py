"""Strict parsing of what a request sends: JSON bodies and integer parameters.

Every bad input becomes a :class:`~backend.errors.RequestError` (400) naming
the problem, before anything is stored:

* :func:`parse_json` refuses bodies nested deeper than :data:`MAX_JSON_DEPTH`
  (checked on the raw bytes, before the parser recurses), bodies that are not
  JSON, and strings holding a lone UTF-16 surrogate (``"\\ud800"``), which no
  UTF-8 text (SQLite, logs, Label Studio) can carry.
* :func:`parse_int` is the one parser of integer parameters: ASCII digits
  only (no ``²``, no sign, no spaces), at most :data:`MAX_DIGITS` digits,
  range-checked.
"""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .errors import RequestError

#: deepest nesting of arrays/objects a JSON body may have (Label Studio's webhooks nest about 6 deep)
MAX_JSON_DEPTH = 64
#: most digits an integer parameter may have (ids are below 2**63: 19 digits)
MAX_DIGITS = 20
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (brackets inside strings do not count)."""
    brackets = _STRING.sub(b'""', raw).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    arr = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((arr == ord("[")) | (arr == ord("{")), 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max())


def _lone_surrogate(value: Any) -> str | None:
    """The path (``$.schema``) of the first string or key holding a lone surrogate, or None."""
    todo = [("$", value)]
    while todo:
        path, item = todo.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if not key.isascii():
                    try:
                        key.encode("utf-8")
                    except UnicodeEncodeError:
                        return f"{path} (a key)"
                todo.append((f"{path}.{key}", sub))
        elif isinstance(item, list):
            todo.extend((f"{path}[{i}]", sub) for i, sub in enumerate(item))
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return path
    return None


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """The JSON value of ``raw``; :class:`RequestError` 400 naming the problem."""
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise RequestError(400, f"{what} nests JSON {depth} levels deep; the limit is {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError and over-long integers are ValueErrors
        raise RequestError(400, f"{what} is not valid JSON") from None
    where = _lone_surrogate(value)
    if where is not None:
        raise RequestError(400, f"{what}: {where} holds a lone UTF-16 surrogate (e.g. \"\\ud800\"), "
                                f"which is not valid Unicode text")
    return value


def parse_int(raw: Any, name: str, low: int, high: int) -> int:
    """``raw`` (a query parameter or a JSON value) as an integer in ``[low, high]``; 400 naming ``name``."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS:
        value = int(raw)
    else:
        shown = raw if not isinstance(raw, str) or len(raw) <= 40 else raw[:40] + f"... ({len(raw)} characters)"
        raise RequestError(400, f"'{name}' must be an integer between {low} and {high} (ASCII digits), got {shown!r}")
    if not low <= value <= high:
        raise RequestError(400, f"'{name}' must be an integer between {low} and {high}, got {value}")
    return value

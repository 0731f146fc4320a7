"""Redaction of secrets before anything leaves the process (answers, export files, logs).

:func:`redact` is the one function used wherever a pool entry, a setting or a
message that may quote one leaves the backend: it returns a copy in which

* the value of every key that names a secret (case-insensitive:
  ``authorization``, ``token``, ``api_key``, ``apikey``, ``password``,
  ``secret``, ``cookie``, ``x-api-key``, ``credentials`` ... or any key
  containing one of them) is replaced by :data:`REDACTED`;
* every value under a ``headers`` key is replaced by :data:`REDACTED` (the
  header names stay, so one can see *which* headers a source sends);
* user and password in URLs (``https://user:pass@host``), in any string, are
  replaced by :data:`REDACTED`.

It is pure: the input is not modified.  :func:`basename` shows a path by its
file name only (``/health`` and ``/versions`` show no absolute paths).
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

REDACTED = "[redacted]"
#: parts of a key (lower case, ``-`` and ``_`` ignored) that mark its value as secret
SECRET_KEY_PARTS = ("authorization", "token", "apikey", "password", "passwd", "secret", "cookie",
                    "credential", "privatekey", "sessionid")
#: keys whose whole value (every header) is secret
SECRET_CONTAINERS = ("headers",)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>]+@")


def is_secret_key(key: Any) -> bool:
    """Whether a mapping key names a secret (``Authorization``, ``X-API-Key``, ``db_password`` ...)."""
    if not isinstance(key, str):
        return False
    norm = key.lower().replace("-", "").replace("_", "")
    return any(part in norm for part in SECRET_KEY_PARTS)


def redact_text(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by :data:`REDACTED`."""
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def redact(value: Any, _under_headers: bool = False) -> Any:
    """A copy of ``value`` (dicts, lists, strings, scalars) with every secret replaced (see the module)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if _under_headers or is_secret_key(key):
                out[key] = REDACTED if not isinstance(item, (dict, list, tuple)) else redact(item, True)
            elif isinstance(key, str) and key.lower() in SECRET_CONTAINERS:
                out[key] = redact(item, True) if isinstance(item, (dict, list, tuple)) else REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, _under_headers) for item in value]
    if isinstance(value, str):
        return REDACTED if _under_headers else redact_text(value)
    return value


def basename(path: Any) -> str | None:
    """The file name of a path (no directories), or None."""
    if path is None:
        return None
    return PurePath(str(path)).name


def strip_dirs(text: str | None, *paths: Any) -> str | None:
    """``text`` with the directories of ``paths`` removed (``/a/b/pool.yaml`` -> ``pool.yaml``)."""
    if text is None:
        return None
    for path in paths:
        if path is None:
            continue
        parent = str(PurePath(str(path)).parent)
        if parent not in ("", ".", "/"):
            text = text.replace(parent.rstrip("/") + "/", "")
    return text

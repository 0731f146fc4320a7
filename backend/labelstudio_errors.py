"""What a call to Label Studio can fail with, Label Studio's message out of an error body, and id checks."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

#: the longest part of an error body quoted in an exception message
_MAX_MESSAGE = 600
#: what can go wrong with a call, as :attr:`LabelStudioAPIError.kind` (``/health`` and the log name it)
FAILURE_KINDS = ("unauthorized", "forbidden", "refused", "unreachable", "http_error", "bad_answer")


class LabelStudioAPIError(RuntimeError):
    """Label Studio answered a call with an error, or could not be reached.

    Attributes
    ----------
    method, path : the call, e.g. ``"PATCH"`` and ``"/api/projects/3/"``.
    status : the HTTP status, or None when no answer came (connection error,
        timeout).
    message : Label Studio's own message (its ``detail`` and
        ``validation_errors``), or the reason no answer came.
    kind : one of :data:`FAILURE_KINDS`: ``"unauthorized"`` (401: the API key
        was refused), ``"forbidden"`` (403), ``"refused"`` (nothing listens at
        the URL), ``"unreachable"`` (no connection or no answer in time: DNS,
        routing, timeout), ``"http_error"`` (any other error status) or
        ``"bad_answer"`` (an answer that is not what Label Studio sends).
        Given, or derived from ``status`` (no status: ``"unreachable"``).
    """

    def __init__(self, method: str, path: str, status: int | None, message: str, kind: str | None = None):
        self.method, self.path, self.status, self.message = method, path, status, message
        if kind is None:
            kind = {401: "unauthorized", 403: "forbidden", None: "unreachable"}.get(status, "http_error")
        if kind not in FAILURE_KINDS:
            raise ValueError(f"kind must be one of {FAILURE_KINDS}, got {kind!r}")
        self.kind = kind
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"Label Studio {method} {path} failed ({where}): {message}")


def no_answer(method: str, path: str, exc: BaseException) -> LabelStudioAPIError:
    """The error for a call that got no answer: ``"refused"`` when the connection was refused, else ``"unreachable"``.

    httpx wraps the socket error (``ConnectionRefusedError``) two levels deep;
    the chain of causes tells a stopped Label Studio from an unreachable one.
    """
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return LabelStudioAPIError(method, path, None, "connection refused (nothing listens at that "
                                                           "address and port)", kind="refused")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or "no detail"
    if "connection refused" in text.lower():
        return LabelStudioAPIError(method, path, None, f"connection refused: {text}", kind="refused")
    return LabelStudioAPIError(method, path, None, f"{type(exc).__name__}: {text}", kind="unreachable")


def error_message(body: Any) -> str:
    """Label Studio's message out of an error body (JSON dict, text or bytes).

    Label Studio 1.23.2 answers errors as ``{"detail": ..., "validation_errors":
    {...}, ...}``; this keeps ``detail`` and the validation errors and drops the
    rest (request id, version).
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            text = " ".join(body.split())
            if text.lower().startswith("<!doctype html") or text.lower().startswith("<html"):
                return "an HTML error page (see the Label Studio log)"
            return text[:_MAX_MESSAGE] or "(empty body)"
    if isinstance(body, dict):
        parts = [str(body["detail"])] if body.get("detail") else []
        if body.get("validation_errors"):
            parts.append(json.dumps(body["validation_errors"], ensure_ascii=False))
        if not parts:
            parts.append(json.dumps(body, ensure_ascii=False))
        return ": ".join(parts)[:_MAX_MESSAGE]
    return str(body)[:_MAX_MESSAGE]


def check_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)

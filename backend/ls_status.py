"""Whether Label Studio answers the backend: for ``/health`` and for one log line per kind of failure.

A refresh that cannot reach Label Studio, or whose API key Label Studio
refuses, fails the same way on every label until someone fixes the setting.
Logging a traceback each time buried the cause; this module keeps the last
outcome of the backend's calls to Label Studio in the store (shared with the
rq workers, so ``/health`` of the web process shows what a worker met) and
logs one clear line when the kind of failure changes, and one when Label
Studio answers again.  Nothing here holds or prints the API key.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from .labelstudio_api import LabelStudioAPIError
from .store import database_errors
from .timefmt import iso

logger = logging.getLogger("backend.labelstudio")

#: what to do about each kind of failure (see :attr:`LabelStudioAPIError.kind`)
ADVICE = {
    "unauthorized": "Label Studio refused LABEL_STUDIO_API_KEY: use a Personal Access Token (Account & Settings), "
                    "or a legacy token when Label Studio runs with LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true",
    "forbidden": "the user of LABEL_STUDIO_API_KEY may not do this: use the token of a user with access to the project",
    "refused": "nothing listens at LABEL_STUDIO_URL: start Label Studio or correct the URL (host and port)",
    "unreachable": "Label Studio at LABEL_STUDIO_URL did not answer: check the host name, the network and that "
                   "the backend can reach it",
    "http_error": "Label Studio answered a call with an error (see the message)",
    "bad_answer": "the answer was not Label Studio's: check that LABEL_STUDIO_URL is Label Studio's address",
}


#: failures about one call (logged again when the message changes), not a standing condition
PER_CALL_KINDS = ("http_error", "bad_answer")


def public_url(url: str | None) -> str | None:
    """``url`` without user and password (a URL may carry credentials; /health must not)."""
    if not url:
        return None
    parsed = urlparse(url)
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return parsed._replace(netloc=netloc).geturl()


def describe_failure(exc: LabelStudioAPIError, url: str | None) -> str:
    """One line: the kind, the call, Label Studio's message and what to do."""
    where = f"HTTP {exc.status}" if exc.status is not None else "no answer"
    return (f"Label Studio at {public_url(url)}: {exc.kind} ({exc.method} {exc.path}, {where}: {exc.message}); "
            f"{ADVICE[exc.kind]}")


def record_failure(store, exc: LabelStudioAPIError, url: str | None, now: float) -> None:
    """Remember a failed call; log one line when it is a new failure (no traceback).

    New means another kind; for the kinds that are about one call rather than
    a standing condition (``http_error``, ``bad_answer``) also another message.
    """
    line = describe_failure(exc, url)
    previous = store.set_label_studio_status(exc.kind, line, now)
    new = previous is None or previous["kind"] != exc.kind or \
        (exc.kind in PER_CALL_KINDS and previous["message"] != line)
    if new:
        logger.error("%s (logged once until the problem changes; GET /health shows it)", line)


def record_success(store, now: float) -> None:
    """Remember that Label Studio answered; log once when it answers again after a failure."""
    previous = store.set_label_studio_status("ok", None, now)
    if previous is not None and previous["kind"] != "ok":
        logger.info("Label Studio answers again (the last problem was: %s)", previous["kind"])


def health(store, settings, token_kind: str | None = None) -> dict[str, Any]:
    """The ``label_studio`` part of ``/health``.

    ``ok`` is None until the backend has called Label Studio; ``problem`` is
    the kind of the last failure (None when the last call worked) and
    ``error`` its line, with no secret.
    """
    try:
        status = store.label_studio_status()
    except database_errors():  # an unusable store is reported by /health's "store" part
        status = None
    kind = None if status is None else status["kind"]
    return {
        "configured": bool(settings.label_studio_configured),
        "writeback": bool(settings.writeback and settings.label_studio_configured),
        "url": public_url(settings.label_studio_url),
        "token": token_kind,
        "ok": None if kind is None else kind == "ok",
        "problem": None if kind in (None, "ok") else kind,
        "error": None if kind in (None, "ok") else status["message"],
        "since": None if status is None else iso(status["since"]),
        "last_ok_at": None if status is None else iso(status["last_ok_at"]),
    }

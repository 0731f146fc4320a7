"""Give Label Studio's webhook to this backend the basic-auth header the connection already has.

Checked against Label Studio 1.23.2 (tests/e2e/test_auth_e2e.py): basic auth
entered in the model connect form (``auth_method`` ``BASIC_AUTH``) is sent to
``/health``, ``/setup`` and ``/predict``, but the webhook Label Studio creates
for the backend (``<url>/webhook``, ``ml/models.py: create_ml_webhook``)
carries no headers, so a backend that requires auth would refuse every label.
A webhook's ``headers`` can carry ``Authorization`` (``PATCH /api/webhooks/<id>/``).

So when an authenticated ``/setup`` for project P arrives and the backend
has ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``, it patches the header
into P's webhooks whose URL is ``<url>/webhook`` of an ML backend of P
connected with *this* backend's user name.  Only those: the password goes
to no address the user has not already given it to.  Label Studio creates the
webhook right after the connect form's ``/setup`` is answered, so the patch
runs in a background thread that looks again for up to
:data:`PATIENCE_SECONDS`.
"""
from __future__ import annotations

import base64
import logging
import re
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

#: how long the background thread looks for the webhook Label Studio creates after /setup
PATIENCE_SECONDS, PAUSE_SECONDS = 60.0, 2.0

_running: set[tuple[str, int]] = set()
_lock = threading.Lock()


def basic_header(user: str, password: str) -> str:
    """``Basic <base64(user:password)>``, the value of the ``Authorization`` header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def project_id(value: Any) -> int | None:
    """The project id of a ``/setup`` payload's ``project`` (``"<id>.<created timestamp>"`` or an id)."""
    match = re.fullmatch(r"([0-9]{1,18})(\.[0-9]+)?", str(value or ""))
    return int(match.group(1)) if match else None


def _rows(answer: Any) -> list[dict]:
    rows = answer.get("results", []) if isinstance(answer, dict) else answer
    return [r for r in rows or [] if isinstance(r, dict)]


def ensure(api, project: int, user: str, password: str) -> tuple[int, int]:
    """Patch ``Authorization: Basic ...`` into project ``project``'s webhooks to this backend.

    ``api`` is a :class:`backend.labelstudio_api.LabelStudioAPI`.  Returns
    (webhooks to this backend found, webhooks patched); both 0 while Label
    Studio has not created the webhook yet.  Other headers of a webhook are kept.
    """
    header = basic_header(user, password)
    ours = {str(ml.get("url", "")).rstrip("/") + "/webhook"
            for ml in _rows(api.ml_backends(project))
            if ml.get("auth_method") == "BASIC_AUTH" and ml.get("basic_auth_user") == user}
    found = patched = 0
    for hook in _rows(api.webhooks(project)):
        if str(hook.get("url", "")).rstrip("/") not in ours or hook.get("project") not in (project, None):
            continue
        found += 1
        headers = hook.get("headers") if isinstance(hook.get("headers"), dict) else {}
        if headers.get("Authorization") == header:
            continue
        api.set_webhook_headers(int(hook["id"]), {**headers, "Authorization": header})
        patched += 1
    return found, patched


def ensure_until_found(settings, project: int, patience: float = PATIENCE_SECONDS,
                       pause: float = PAUSE_SECONDS) -> int:
    """:func:`ensure` until a webhook to this backend is found (or ``patience`` seconds passed); the
    number patched.  Failures are logged as one line without the credentials."""
    from .labelstudio_api import LabelStudioAPI, LabelStudioAPIError

    api = LabelStudioAPI(settings.label_studio_url, settings.label_studio_api_key, timeout=30.0)
    deadline = time.monotonic() + patience
    while True:
        try:
            found, patched = ensure(api, project, settings.basic_auth_user, settings.basic_auth_pass)
        except LabelStudioAPIError as exc:
            logger.warning("cannot give project %d's webhook the basic-auth header: %s; add it by hand "
                           "(README, section Security)", project, exc)
            return 0
        if found:
            if patched:
                logger.info("project %d: the webhook to this backend now carries the basic-auth header", project)
            return patched
        if time.monotonic() >= deadline:
            logger.warning("project %d: no webhook to this backend (connected with basic auth as %r) found "
                           "within %.0f s; webhooks will get 401 until it carries the Authorization header "
                           "(README, section Security)", project, settings.basic_auth_user, patience)
            return 0
        time.sleep(pause)


def ensure_in_background(settings, project_value: Any) -> bool:
    """Start :func:`ensure_until_found` for the ``/setup``'s project when it applies; whether it started.

    Applies when the backend requires auth (so this ``/setup`` was
    authenticated) and can call Label Studio; one thread per project at a time.
    """
    project = project_id(project_value)
    if project is None or not settings.auth_enabled or not settings.label_studio_configured:
        return False
    key = (str(settings.label_studio_url), project)
    with _lock:
        if key in _running:
            return False
        _running.add(key)

    def run() -> None:
        try:
            ensure_until_found(settings, project)
        except Exception as exc:  # a background thread must not die silently
            logger.warning("project %d: patching the webhook's header failed: %s", project, type(exc).__name__)
        finally:
            with _lock:
                _running.discard(key)

    threading.Thread(target=run, daemon=True, name=f"webhook-auth-{project}").start()
    return True

"""The address of the ranking page as the admin's browser reaches it, for the project description.

No setting names the backend's public address, so the link is built from the
ML backend URL Label Studio has registered for the project (*Settings > Model*,
``GET /api/ml/?project=ID``): Label Studio's admins connected the backend at
that URL, so their browsers usually reach it too (not always: compose connects
``http://backend:9090``, a name only Label Studio's container resolves).  With
one ML backend that URL is taken; with several, the one whose title or URL
names ModelPicker; otherwise, or when Label Studio cannot be asked, there is
no link.  Credentials in the URL are dropped.  The answer is kept for
:data:`LINK_TTL_SECONDS` per Label Studio and project, so a refresh does not
ask every time.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from .labelstudio_errors import LabelStudioAPIError

logger = logging.getLogger(__name__)

#: how long the ML backend URL of a project is kept before Label Studio is asked again
LINK_TTL_SECONDS = 300.0
_cache: dict[tuple[str, int], tuple[float, str | None]] = {}
_lock = threading.Lock()


def clean_url(url: Any) -> str | None:
    """``scheme://host[:port][/path]`` of an http(s) URL without user, password, query or fragment; else None."""
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"


def choose_backend_url(answer: Any) -> str | None:
    """The URL of this backend among Label Studio's ML backends of a project (``GET /api/ml/``'s answer)."""
    rows = answer.get("results", []) if isinstance(answer, dict) else answer if isinstance(answer, list) else []
    found = [(str(ml.get("title") or ""), clean_url(ml.get("url"))) for ml in rows if isinstance(ml, dict)]
    found = [(title, url) for title, url in found if url]
    if len(found) > 1:
        found = [(title, url) for title, url in found if "modelpicker" in f"{title} {url}".lower().replace(" ", "")]
    return found[0][1] if len(found) == 1 else None


def page_url(base: str, project: int) -> str:
    """The ranking page of ``project`` on the backend at ``base``."""
    return f"{base.rstrip('/')}/page?project={int(project)}"


def backend_url(api: Any, project: int, clock=time.monotonic) -> str | None:
    """The backend's URL registered in Label Studio for ``project`` (see the module), or None."""
    lookup = getattr(api, "ml_backends", None)
    if lookup is None:  # a client without the call (a test double): no link
        return None
    key = (str(getattr(api, "url", "")), int(project))
    with _lock:
        hit = _cache.get(key)
    if hit is not None and clock() - hit[0] < LINK_TTL_SECONDS:
        return hit[1]
    try:
        url = choose_backend_url(lookup(project))
    except LabelStudioAPIError as exc:
        logger.info("project %s: no link to the ranking page in the description (%s)", project, exc.kind)
        url = None
    with _lock:
        _cache[key] = (clock(), url)
    return url

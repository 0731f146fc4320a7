"""Every call the backend makes to Label Studio's REST API, in one place.

The backend steers Label Studio's labelling queue and writes its ranking back;
this module (with its parts) is the only code that talks to Label Studio.
Every call goes through ``label-studio-sdk`` (``LabelStudio``): its methods for
the calls it has and that were checked against Label Studio 1.23.2 (project
get/update, task list, bulk prediction import, project creation, task import),
and its own authenticated HTTP client for the ones it lacks (model versions,
annotation export, the next task of the queue).

The transport (the SDK client, error translation) is here, the only module
that imports the SDK; the calls are grouped in :mod:`backend.labelstudio_projects`
and :mod:`backend.labelstudio_tasks`, mixed into :class:`LabelStudioAPI`; the
errors are in :mod:`backend.labelstudio_errors`.

Why the SDK's transport for everything: one API key setting
(``LABEL_STUDIO_API_KEY``) has to work with both kinds of Label Studio token.
Label Studio 1.23.2 hands out a Personal Access Token by default, a JWT
refresh token that is never sent as such: the SDK (2.1.2,
``tokens/client_ext.py``) recognises it (it decodes as a JWT with an
expiry), exchanges it for a short-lived access token at
``POST /api/token/refresh/``, sends ``Authorization: Bearer <access>`` and
refreshes again when the access token has expired.  A key that is not a JWT
is a legacy token, sent as ``Authorization: Token <key>`` (accepted only when
Label Studio runs with ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``).
Hand-written ``Token`` headers made every call with a Personal Access Token
fail with 401 "Invalid token".

How Label Studio 1.23.2 orders the queue (``projects/functions/next_task.py``):
with project ``sampling = "Uncertainty sampling"`` the next task is the
unlabelled task whose prediction of the project's ``model_version`` has the
*lowest* ``score``.  :mod:`backend.label_studio_predictions` uses the calls here to
push priorities under a new model version, switch the project to it and then
remove the superseded priority versions.

Costs measured on Label Studio 1.23.2 with SQLite (see
``benchmarks/backend_push.py``): importing 10,000 predictions takes seconds;
deleting a model version with 10,000 predictions takes about two minutes,
because Label Studio runs a per-prediction signal, and on SQLite it holds the
database write lock all that time (annotators' requests fail with "database is
locked" meanwhile).  Run the deletion as its own background step, after the
switch, and keep the number of pushed priorities small when Label Studio runs
on SQLite.

Two Label Studio 1.23.2 behaviours that reset the project's ``model_version``
(the queue then falls back to random order until the next refresh): turning
off "show predictions to annotators" (``show_collab_predictions``) in the
project settings, and deleting any model version while ``model_version``
equals the title of a connected ML backend (so never title the backend
``modelpicker-p...``).
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlparse

from .labelstudio_errors import FAILURE_KINDS, LabelStudioAPIError, check_id, error_message, no_answer
from .labelstudio_projects import UNCERTAINTY_SAMPLING, ProjectCalls
from .labelstudio_tasks import TaskCalls

# httpx logs every request at INFO with its full URL, and a LABEL_STUDIO_URL may carry user:password@:
# keep its request lines out of the log (its warnings and errors still show)
logging.getLogger("httpx").setLevel(logging.WARNING)

#: predictions sent per import request (one request per chunk)
DEFAULT_CHUNK_SIZE = 5000
#: seconds to wait for a connection: an unreachable Label Studio fails fast, a slow bulk import does not
CONNECT_TIMEOUT = 10.0

__all__ = ["CONNECT_TIMEOUT", "DEFAULT_CHUNK_SIZE", "FAILURE_KINDS", "UNCERTAINTY_SAMPLING", "LabelStudioAPI",
           "LabelStudioAPIError", "error_message"]


class LabelStudioAPI(ProjectCalls, TaskCalls):
    """A Label Studio instance, reached with one API key.

    Parameters
    ----------
    url : Label Studio's base address, e.g. ``http://localhost:8080``.
    api_key : a Personal Access Token (Account & Settings; the SDK exchanges
        it for access tokens) or a legacy token (sent as ``Token <key>``).
    timeout : seconds to wait for any single answer.  Bulk imports of
        10,000 predictions take tens of seconds on SQLite, so keep it large.
        Connecting waits at most :data:`CONNECT_TIMEOUT` seconds.
    chunk_size : predictions per import request.

    Every method raises :class:`LabelStudioAPIError` naming the call, the HTTP
    status and Label Studio's message.  The SDK's automatic retries are off:
    retrying a bulk import after an error whose outcome is unknown could store
    every prediction twice.  No message carries the API key or an access token.
    """

    def __init__(self, url: str, api_key: str, timeout: float = 300.0,
                 chunk_size: int = DEFAULT_CHUNK_SIZE):
        parsed = urlparse(str(url or ""))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"Label Studio URL must look like http://host:port, got {url!r}")
        if not api_key or not str(api_key).strip():
            raise ValueError("Label Studio API key is empty")
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.url = str(url).rstrip("/")
        self.api_key = str(api_key).strip()
        self.timeout = float(timeout)
        self.chunk_size = check_id(chunk_size, "chunk_size")
        self._client = None

    def __repr__(self) -> str:
        return f"LabelStudioAPI(url={self.url!r}, timeout={self.timeout})"

    @property
    def token_kind(self) -> str | None:
        """``"personal access token"`` or ``"legacy token"``: how the SDK treats the key.

        None before the first call.
        """
        if self._client is None:
            return None
        tokens = getattr(self._client._client_wrapper, "_tokens_client", None)
        legacy = getattr(tokens, "_use_legacy_token", None)
        return None if legacy is None else ("legacy token" if legacy else "personal access token")

    # ------------------------------------------------------------ transport
    @property
    def client(self):
        """The ``label_studio_sdk.LabelStudio`` client (created on first use; importing the SDK takes ~1 s).

        Raises :class:`LabelStudioAPIError` (``"unauthorized"``) when the key is
        a Personal Access Token that has expired or has no expiry: the SDK
        checks that here, before any call.
        """
        if self._client is None:
            import httpx
            from label_studio_sdk import LabelStudio

            # the SDK joins the token refresh path to base_url with urljoin: a trailing "/" keeps a path prefix
            http = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
                                follow_redirects=True)
            with self._sdk("POST", "/api/token/refresh/"):
                self._client = LabelStudio(base_url=self.url + "/", api_key=self.api_key, max_retries=0,
                                           httpx_client=http)
        return self._client

    @contextlib.contextmanager
    def _sdk(self, method: str, path: str) -> Iterator[None]:
        """Turn the SDK's and httpx's exceptions into :class:`LabelStudioAPIError`.

        Also those of the SDK's token refresh, which runs inside any call made
        with a Personal Access Token: a refused refresh is an ``ApiError`` 401,
        a refresh answer that is not JSON a ``JSONDecodeError``.
        """
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except ApiError as exc:
            raise LabelStudioAPIError(method, path, exc.status_code, error_message(exc.body)) from None
        except (httpx.ConnectError, httpx.TimeoutException, httpx.NetworkError) as exc:
            raise no_answer(method, path, exc) from None
        except httpx.HTTPError as exc:
            raise LabelStudioAPIError(method, path, None, f"{type(exc).__name__}: {exc}") from None
        except json.JSONDecodeError:
            raise LabelStudioAPIError(method, path, None, "an answer was not JSON (is LABEL_STUDIO_URL the "
                                                          "address of Label Studio?)", kind="bad_answer") from None

    def _request(self, method: str, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """Call ``method url+path`` with the SDK's authenticated client; return the decoded JSON (None when empty).

        For the calls the SDK has no method for: the SDK's own HTTP client adds
        the authorization header (refreshing a Personal Access Token's access
        token when needed), so these calls authenticate exactly as the SDK's.
        """
        with self._sdk(method, path):
            response = self.client._client_wrapper.httpx_client.request(
                path.lstrip("/"), method=method, params=dict(params) if params else None, json=json,
                request_options={"max_retries": 0})
        if not 200 <= response.status_code < 300:
            raise LabelStudioAPIError(method, path, response.status_code, error_message(response.content))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise LabelStudioAPIError(method, path, response.status_code,
                                      f"answer is not JSON: {response.text[:200]!r}", kind="bad_answer") from None

    def whoami(self) -> dict:
        """The user the API key belongs to (``GET /api/current-user/whoami``): the cheapest check that it works."""
        with self._sdk("GET", "/api/current-user/whoami"):
            return self._as_dict(self.client.users.whoami())

    @staticmethod
    def _as_dict(model: Any) -> dict:
        return model.model_dump() if hasattr(model, "model_dump") else dict(model)

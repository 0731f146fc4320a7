"""Every call the backend makes to Label Studio's REST API, in one place.

The backend steers Label Studio's labelling queue and writes its ranking back;
this module is the only code that talks to Label Studio.  Every call goes
through ``label-studio-sdk`` (``LabelStudio``): its methods for the calls it
has and that were checked against Label Studio 1.23.2 (project get/update,
task list, bulk prediction import, project creation, task import), and its
own authenticated HTTP client for the ones it lacks (model versions,
annotation export, the next task of the queue).

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
*lowest* ``score``.  :mod:`backend.queue_writeback` uses the calls here to
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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

# httpx logs every request at INFO with its full URL, and a LABEL_STUDIO_URL may carry user:password@:
# keep its request lines out of the log (its warnings and errors still show)
logging.getLogger("httpx").setLevel(logging.WARNING)

#: the project sampling under which Label Studio serves tasks by prediction score
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
#: predictions sent per import request (one request per chunk)
DEFAULT_CHUNK_SIZE = 5000
#: the longest part of an error body quoted in an exception message
_MAX_MESSAGE = 600
#: seconds to wait for a connection: an unreachable Label Studio fails fast, a slow bulk import does not
CONNECT_TIMEOUT = 10.0
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


def _no_answer(method: str, path: str, exc: BaseException) -> LabelStudioAPIError:
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


def _check_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class LabelStudioAPI:
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
        self.chunk_size = _check_id(chunk_size, "chunk_size")
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
            raise _no_answer(method, path, exc) from None
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

    # -------------------------------------------------------------- projects
    def get_project(self, project_id: int) -> dict:
        """The project's settings: ``title``, ``label_config``, ``description``, ``model_version``, ``sampling``, ..."""
        project_id = _check_id(project_id, "project id")
        with self._sdk("GET", f"/api/projects/{project_id}/"):
            return self._as_dict(self.client.projects.get(id=project_id))

    def ml_backends(self, project_id: int) -> Any:
        """The project's ML backend connections (``GET /api/ml/``), as Label Studio answers."""
        return self._request("GET", "/api/ml/", params={"project": _check_id(project_id, "project id")})

    def webhooks(self, project_id: int) -> Any:
        """The project's webhooks (``GET /api/webhooks/``), as Label Studio answers."""
        return self._request("GET", "/api/webhooks/", params={"project": _check_id(project_id, "project id")})

    def set_webhook_headers(self, webhook_id: int, headers: dict[str, str]) -> Any:
        """Replace the headers Label Studio sends with webhook ``webhook_id``."""
        return self._request("PATCH", f"/api/webhooks/{_check_id(webhook_id, 'webhook id')}/",
                             json={"headers": headers})

    def update_project(self, project_id: int, **fields: Any) -> dict:
        """PATCH the given project fields (e.g. ``description=...``); returns the project."""
        project_id = _check_id(project_id, "project id")
        if not fields:
            raise ValueError("update_project needs at least one field to change")
        with self._sdk("PATCH", f"/api/projects/{project_id}/"):
            return self._as_dict(self.client.projects.update(id=project_id, **fields))

    def set_queue_version(self, project_id: int, model_version: str,
                          sampling: str = UNCERTAINTY_SAMPLING) -> dict:
        """Make the queue follow the predictions of ``model_version`` (lowest score first)."""
        if not model_version:
            raise ValueError("model_version is empty")
        return self.update_project(project_id, model_version=model_version, sampling=sampling)

    def set_description(self, project_id: int, description: str) -> dict:
        """Replace the project description (what admins see in the project settings and card)."""
        if not isinstance(description, str):
            raise ValueError(f"description must be text, got {type(description).__name__}")
        return self.update_project(project_id, description=description)

    def create_project(self, title: str, label_config: str, **fields: Any) -> dict:
        """Create a project (``title`` needs 3+ characters); returns it, with its ``id``."""
        with self._sdk("POST", "/api/projects/"):
            project = self.client.projects.create(title=title, label_config=label_config, **fields)
        return self._as_dict(project)

    # ----------------------------------------------------------------- tasks
    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> int:
        """Import tasks (each a dict of task data, or ``{"data": {...}}``); returns how many were created."""
        project_id = _check_id(project_id, "project id")
        with self._sdk("POST", f"/api/projects/{project_id}/import"):
            answer = self.client.projects.import_tasks(id=project_id, request=list(tasks))
        return int(answer.task_count or 0)

    def task_ids(self, project_id: int, page_size: int = 1000) -> dict[int, bool]:
        """Every task of the project: ``{task id: is labelled}``, in id order.

        Reads only the ``id`` and ``is_labeled`` fields, ``page_size`` tasks per
        request (10,000 tasks: about 5 s on SQLite).
        """
        project_id = _check_id(project_id, "project id")
        with self._sdk("GET", f"/api/tasks/?project={project_id}"):
            pages = self.client.tasks.list(project=project_id, include="id,is_labeled",
                                           page_size=_check_id(page_size, "page_size"))
            tasks = {int(task.id): bool(task.is_labeled) for task in pages}
        return dict(sorted(tasks.items()))

    def annotated_tasks(self, project_id: int) -> list[dict]:
        """Every task with at least one annotation, with its annotations; Label Studio's own record.

        Uses the JSON export (``GET /api/projects/{id}/export?exportType=JSON``),
        which returns only tasks that have annotations.  Each item is
        ``{"id", "data", "annotations": [{"id", "result", "was_cancelled",
        "completed_by", "updated_at", ...}]}``; prediction ids are dropped.
        """
        project_id = _check_id(project_id, "project id")
        exported = self._request("GET", f"/api/projects/{project_id}/export",
                                 params={"exportType": "JSON", "download_all_tasks": "false"})
        if not isinstance(exported, list):
            raise LabelStudioAPIError("GET", f"/api/projects/{project_id}/export", 200,
                                      f"expected a list of tasks, got {type(exported).__name__}")
        return [{"id": task["id"], "data": task.get("data", {}),
                 "annotations": task.get("annotations", [])} for task in exported]

    def tasks_by_id(self, project_id: int, task_ids: Sequence[int], batch: int = 200) -> dict[int, dict]:
        """The named tasks of the project as Label Studio has them now: ``{id: {"id", "data", "annotations"}}``.

        Reads ``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true&ids[]=...``
        (``batch`` ids per request, so the URL stays short).  Checked on Label
        Studio 1.23.2 (``data_export/api.py``): it returns every named task of
        this project, annotated or not, with all its annotations (cancelled
        ones included, each with ``id``, ``result``, ``was_cancelled``,
        ``updated_at``); ids of other projects or of deleted tasks are simply
        absent, so an id missing from the answer is a task Label Studio does
        not have (the "404" of a batch read).  Unlike ``GET /api/tasks/{id}/``
        it never makes Label Studio call the ML backend's ``/predict`` (the
        task view does, for a task without predictions).
        """
        project_id = _check_id(project_id, "project id")
        ids = sorted({_check_id(t, "task id") for t in task_ids})
        path = f"/api/projects/{project_id}/export"
        out: dict[int, dict] = {}
        for start in range(0, len(ids), max(1, int(batch))):
            chunk = ids[start:start + batch]
            answer = self._request("GET", path, params={"exportType": "JSON", "download_all_tasks": "true",
                                                        "ids[]": chunk})
            if not isinstance(answer, list):
                raise LabelStudioAPIError("GET", path, 200, f"expected a list of tasks, got {type(answer).__name__}",
                                          kind="bad_answer")
            wanted = set(chunk)
            for task in answer:
                if isinstance(task, dict) and task.get("id") in wanted:
                    out[int(task["id"])] = {"id": int(task["id"]), "data": task.get("data"),
                                            "annotations": task.get("annotations") or []}
        return out

    def next_task(self, project_id: int) -> dict | None:
        """The task Label Studio would show this API user next (``GET /api/projects/{id}/next/``).

        Returns None when the queue is empty.  Label Studio locks the returned
        task for this user for a while; asking again returns the same task
        until it is annotated or skipped.
        """
        project_id = _check_id(project_id, "project id")
        path = f"/api/projects/{project_id}/next/"
        try:
            return self._request("GET", path)
        except LabelStudioAPIError as exc:
            if exc.status == 404:  # Label Studio answers 404 "No more tasks found"
                return None
            raise

    # ------------------------------------------------------------ predictions
    def import_predictions(self, project_id: int, predictions: Sequence[Mapping[str, Any]],
                           chunk_size: int | None = None) -> int:
        """Store predictions in bulk (``POST /api/projects/{id}/import/predictions``).

        Parameters
        ----------
        predictions : dicts ``{"task": id, "result": [...], "score": float,
            "model_version": str}``.
        chunk_size : predictions per request (default: the instance's).

        Returns
        -------
        The number created.  Label Studio 1.23.2 silently skips a prediction
        it cannot store (e.g. a non-numeric score) and still answers 201; a
        shortfall is therefore raised as an error here.
        """
        project_id = _check_id(project_id, "project id")
        size = _check_id(chunk_size, "chunk_size") if chunk_size is not None else self.chunk_size
        path = f"/api/projects/{project_id}/import/predictions"
        created = 0
        for start in range(0, len(predictions), size):
            chunk = list(predictions[start:start + size])
            with self._sdk("POST", path):
                answer = self.client.projects.import_predictions(id=project_id, request=chunk)
            stored = int(answer.created or 0)
            created += stored
            if stored != len(chunk):
                raise LabelStudioAPIError(
                    "POST", path, 201,
                    f"Label Studio stored {stored} of {len(chunk)} predictions "
                    f"(items {start}-{start + len(chunk) - 1}); it skips predictions whose "
                    f"result does not fit the labelling config or whose score is not a number; "
                    f"{created} stored in total before this stop")
        return created

    def model_versions(self, project_id: int) -> dict[str, int]:
        """``{model_version: number of predictions}`` of the project, newest first.

        Includes the project's current ``model_version`` (count 0 when it has
        no predictions).
        """
        project_id = _check_id(project_id, "project id")
        answer = self._request("GET", f"/api/projects/{project_id}/model-versions/")
        return {str(k): int(v) for k, v in (answer or {}).items()}

    def delete_model_version(self, project_id: int, model_version: str) -> int:
        """Delete every prediction of ``model_version`` in the project; returns how many.

        One call (``DELETE /api/projects/{id}/model-versions/``).  Slow on
        SQLite (about 2 minutes for 10,000 predictions) and it holds the
        database write lock meanwhile; see the module docstring.  Annotations
        made while a deleted prediction was shown are kept (their link to the
        prediction is set to null).  If ``model_version`` is the project's
        current one, Label Studio resets the project's ``model_version``.
        """
        project_id = _check_id(project_id, "project id")
        if not model_version:
            raise ValueError("model_version is empty")
        answer = self._request("DELETE", f"/api/projects/{project_id}/model-versions/",
                               json={"model_version": model_version})
        return int((answer or {}).get("deleted_predictions", 0))

"""The Label Studio calls of the demo's set-up: admin token check, project, tasks, backend connection.

Plain ``requests`` with the admin's legacy token (``Authorization: Token``):
the set-up runs once per start and needs nothing of the SDK.  The backend gets
a Personal Access Token instead (:meth:`LabelStudio.personal_token`), the kind
Label Studio 1.23.2 hands out by default, so the demo runs the backend as a
user would.  Every call is
idempotent from the demo's point of view, so a second ``make run`` on the same
data reuses the project, and a backend that moved to another port is
reconnected (its old connection and webhook removed).  Calls and their
answers were checked against Label Studio 1.23.2 (see
``/work/shared/reference/label-studio.md`` and ``ml/models.py``: connecting a
backend creates its webhook ``<url>/webhook``).
"""
from __future__ import annotations

import base64
import time
from typing import Any

import requests

#: the demo project's title (the set-up finds the project again by it)
PROJECT_TITLE = "Digits demo (ModelPicker)"
PROJECT_DESCRIPTION = (
    "Which of 13 digit classifiers is best? Label the digit shown; ModelPicker orders this queue so that "
    "each label helps tell the candidates apart, and writes its ranking below after every label."
)
#: the backend's name on the project's Model page
BACKEND_TITLE = "ModelPicker"


class LabelStudioError(RuntimeError):
    """A set-up call failed; the message names the call, the status and Label Studio's answer."""


def answer_text(response: requests.Response, limit: int = 300) -> str:
    """An error answer for a message: its text, or "an HTML page" (Label Studio's 404 page is 40 kB)."""
    if "html" in response.headers.get("Content-Type", ""):
        return "an HTML page (no such API route?)"
    return response.text[:limit]


class LabelStudio:
    """The demo admin's view of one Label Studio (``url`` like ``http://127.0.0.1:8080``)."""

    def __init__(self, url: str, token: str, timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method url+path``; the decoded JSON (None when empty), :class:`LabelStudioError` unless 2xx."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.RequestException as exc:
            raise LabelStudioError(f"{method} {path}: no answer from {self.url} ({type(exc).__name__})") from None
        if not response.ok:
            raise LabelStudioError(f"{method} {path} answered HTTP {response.status_code}: {answer_text(response)}")
        return response.json() if response.content else None

    def healthy(self) -> bool:
        """``GET /health`` answers 200 (Label Studio has finished starting)."""
        try:
            return requests.get(self.url + "/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def token_works(self) -> bool:
        """The admin's token is accepted (False on 401: the data directory belongs to another admin)."""
        try:
            response = self.session.get(self.url + "/api/projects/", params={"page_size": 1}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise LabelStudioError(f"GET /api/projects/: no answer from {self.url} ({type(exc).__name__})") from None
        if response.status_code == 401:
            return False
        if not response.ok:
            raise LabelStudioError(f"GET /api/projects/ answered HTTP {response.status_code}: {answer_text(response)}")
        return True

    def personal_token(self, kept: str = "") -> str:
        """The admin's Personal Access Token: ``kept`` while Label Studio still accepts it, else a new one.

        A PAT is a JWT refresh token; Label Studio keeps one valid PAT per user
        and answers 409 to ``POST /api/token/`` while one exists, so the ones it
        lists are revoked (``POST /api/token/blacklist/``) before asking again.
        Only the creation answer carries the whole token.
        """
        if kept and self.refreshes(kept):
            return kept
        try:
            response = self.session.post(self.url + "/api/token/", timeout=self.timeout)
            if response.status_code == 409:
                for item in self.call("GET", "/api/token/") or []:
                    self.session.post(self.url + "/api/token/blacklist/", json={"refresh": item.get("token")},
                                      timeout=self.timeout)
                response = self.session.post(self.url + "/api/token/", timeout=self.timeout)
        except requests.RequestException as exc:
            raise LabelStudioError(f"POST /api/token/: no answer from {self.url} ({type(exc).__name__})") from None
        if not response.ok:
            raise LabelStudioError(f"POST /api/token/ answered HTTP {response.status_code}: {answer_text(response)}")
        token = str(response.json().get("token") or "")
        if token.count(".") != 2:
            raise LabelStudioError("POST /api/token/ answered no Personal Access Token (a JWT)")
        return token

    def refreshes(self, personal_token: str, attempts: int = 4, pause: float = 2.0) -> bool:
        """Whether Label Studio still exchanges ``personal_token`` for an access token (valid, not revoked).

        Only a refusal (HTTP 400, 401 or 403) says no.  A Label Studio that has
        just started can time out or answer 5xx while its SQLite is busy: that
        is asked again (``attempts`` times, ``pause`` seconds apart) and, if it
        never settles, the kept token is trusted rather than replaced (the
        backend's ``/health`` names a refused token).
        """
        for attempt in range(attempts):
            try:
                response = requests.post(self.url + "/api/token/refresh/", json={"refresh": personal_token},
                                         timeout=self.timeout)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code == 200:
                return "access" in response.text
            if response is not None and response.status_code in (400, 401, 403):
                return False
            if attempt + 1 < attempts:
                time.sleep(pause)
        return True

    # -------------------------------------------------------------- project
    def find_project(self, title: str = PROJECT_TITLE) -> dict | None:
        """The admin's project titled exactly ``title`` (the lowest id when several), else None."""
        answer = self.call("GET", "/api/projects/", params={"title": title, "page_size": 100})
        rows = answer.get("results", []) if isinstance(answer, dict) else answer
        matches = sorted((row for row in rows if row.get("title") == title), key=lambda row: row["id"])
        return matches[0] if matches else None

    def create_project(self, label_config: str, title: str = PROJECT_TITLE,
                       description: str = PROJECT_DESCRIPTION) -> dict:
        return self.call("POST", "/api/projects/",
                         json={"title": title, "label_config": label_config, "description": description})

    def project(self, project_id: int) -> dict:
        return self.call("GET", f"/api/projects/{project_id}/")

    def import_tasks(self, project_id: int, tasks: list[dict]) -> int:
        """Import ``tasks`` (``[{"data": ...}]``); the number Label Studio created (checked equal)."""
        answer = self.call("POST", f"/api/projects/{project_id}/import", json=tasks)
        created = int(answer.get("task_count", -1))
        if created != len(tasks):
            raise LabelStudioError(f"importing {len(tasks)} tasks into project {project_id} created {created}")
        return created

    # -------------------------------------------------------------- backend
    def ml_backends(self, project_id: int) -> list[dict]:
        answer = self.call("GET", "/api/ml/", params={"project": project_id})
        return answer.get("results", []) if isinstance(answer, dict) else answer

    def webhooks(self, project_id: int) -> list[dict]:
        answer = self.call("GET", "/api/webhooks/", params={"project": project_id})
        return answer.get("results", []) if isinstance(answer, dict) else answer

    def connect_backend(self, project_id: int, backend_url: str, title: str = BACKEND_TITLE,
                        auth: tuple[str, str] | None = None) -> int:
        """Connect the backend at ``backend_url`` to the project; the ML backend id.

        Label Studio then calls the backend's ``/health`` and ``/setup`` and adds
        the webhook ``<backend_url>/webhook`` that hands it every task and label.
        Connections and ML webhooks left from a run on another port are removed
        first (they would answer nothing and keep Label Studio waiting).

        ``auth`` (user, password): the connection uses HTTP basic auth (what the
        connect form's "Basic Authentication" sets), and, because Label Studio
        1.23.2 sends the webhook without it, the webhook gets the
        ``Authorization`` header too (:meth:`authorize_webhook`).
        """
        backend_url = backend_url.rstrip("/")
        ours = None
        for ml in self.ml_backends(project_id):
            if str(ml.get("url", "")).rstrip("/") == backend_url and ours is None:
                ours = int(ml["id"])
            else:
                self.call("DELETE", f"/api/ml/{ml['id']}")  # no trailing slash in 1.23.2's route
        for hook in self.webhooks(project_id):
            url = str(hook.get("url", ""))
            if url.endswith("/webhook") and url != backend_url + "/webhook":
                self.call("DELETE", f"/api/webhooks/{hook['id']}/")
        fields = {} if auth is None else {"auth_method": "BASIC_AUTH", "basic_auth_user": auth[0],
                                          "basic_auth_pass": auth[1]}
        if ours is not None:
            if auth is not None:  # a connection made before auth was on (or with an older password)
                self.call("PATCH", f"/api/ml/{ours}", json=fields)
        else:
            ours = int(self.call("POST", "/api/ml/",
                                 json={"project": project_id, "url": backend_url, "title": title, **fields})["id"])
        if auth is not None:
            self.authorize_webhook(project_id, backend_url, *auth)
        return ours

    def authorize_webhook(self, project_id: int, backend_url: str, user: str, password: str) -> int:
        """Put ``Authorization: Basic ...`` on the project's webhooks to ``<backend_url>/webhook``; how many
        were changed (0 when they already carry it).  Other headers are kept."""
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        target = backend_url.rstrip("/") + "/webhook"
        changed = 0
        for hook in self.webhooks(project_id):
            if str(hook.get("url", "")).rstrip("/") != target:
                continue
            headers = hook.get("headers") if isinstance(hook.get("headers"), dict) else {}
            if headers.get("Authorization") != header:
                self.call("PATCH", f"/api/webhooks/{hook['id']}/",
                          json={"headers": {**headers, "Authorization": header}})
                changed += 1
        return changed

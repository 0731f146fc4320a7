"""Label Studio's two kinds of API key, and the failures a user meets, against a local fake Label Studio.

The fake speaks Label Studio 1.23.2's token protocol (``jwt_auth``): a
Personal Access Token is a JWT refresh token, exchanged at
``POST /api/token/refresh/`` for a short-lived access token sent as
``Authorization: Bearer``; a legacy token is sent as ``Authorization: Token``.
It records every request, so the tests check what the backend put on the
wire.  The real thing is checked in ``tests/e2e/test_tokens_e2e.py``.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from backend.labelstudio_api import LabelStudioAPI, LabelStudioAPIError

#: label-studio-sdk 2.1.2 parses the token refresh answer with pydantic's deprecated ``parse_obj``
SDK_REFRESH_WARNING = "ignore:The `parse_obj` method is deprecated:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(SDK_REFRESH_WARNING)

SIGNING_KEY = "fake-label-studio-signing-key-of-enough-length"
LEGACY = "0123456789abcdef0123456789abcdef01234567"


def make_jwt(token_type: str, lifetime: float, key: str = SIGNING_KEY) -> str:
    now = time.time()
    return jwt.encode({"token_type": token_type, "exp": int(now + lifetime), "iat": int(now), "jti": str(now),
                       "user_id": 1}, key, algorithm="HS256")


class FakeLabelStudio(ThreadingHTTPServer):
    """Answers the token refresh, ``whoami``, ``model-versions``, ``next`` and the export of tasks 1-30 by id,
    like Label Studio 1.23.2."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, str | None]] = []   # (method, path, Authorization)
        self.access_lifetime = 300.0
        self.issued: set[str] = set()
        self.legacy_enabled = True
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def authorised(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        if scheme == "Token":
            return self.legacy_enabled and value == LEGACY
        if scheme == "Bearer" and value in self.issued:
            claims = jwt.decode(value, SIGNING_KEY, algorithms=["HS256"], options={"verify_exp": False})
            return claims["token_type"] == "access" and claims["exp"] >= time.time()
        return False


class _Handler(BaseHTTPRequestHandler):
    server: FakeLabelStudio

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization")))
        if self.path == "/api/token/refresh/" and self.command == "POST":
            try:
                claims = jwt.decode((body or {}).get("refresh", ""), SIGNING_KEY, algorithms=["HS256"])
            except jwt.InvalidTokenError:
                return self._answer(401, {"detail": "Token is invalid", "code": "token_not_valid"})
            if claims.get("token_type") != "refresh":
                return self._answer(401, {"detail": "Token has wrong type", "code": "token_not_valid"})
            access = make_jwt("access", self.server.access_lifetime)
            self.server.issued.add(access)
            return self._answer(200, {"access": access})
        if not self.server.authorised(self.headers.get("Authorization")):
            return self._answer(401, {"detail": "Invalid token."})
        if self.path == "/api/current-user/whoami":
            return self._answer(200, {"id": 1, "email": "admin@example.com", "username": "admin"})
        if self.path == "/api/projects/1/model-versions/":
            return self._answer(200, {"modelpicker-p1-abc": 3})
        if self.path.startswith("/api/projects/1/export?"):  # the confirmation's read: tasks 1-30, unlabelled
            from urllib.parse import parse_qs, urlparse

            ids = [int(t) for t in parse_qs(urlparse(self.path).query).get("ids[]", [])]
            return self._answer(200, [{"id": t, "data": {"key": f"k{t - 1}"}, "annotations": []}
                                      for t in ids if 1 <= t <= 30])
        if self.path == "/api/projects/1/next/":
            return self._answer(404, {"detail": "No more tasks found"})
        return self._answer(404, {"detail": "Not found."})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


@pytest.fixture
def fake_ls():
    server = FakeLabelStudio()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the client
def test_a_personal_access_token_is_exchanged_for_access_tokens_by_the_sdk(fake_ls):
    pat = make_jwt("refresh", 3600 * 24)
    api = LabelStudioAPI(fake_ls.url, pat, timeout=10)
    assert api.model_versions(1) == {"modelpicker-p1-abc": 3}     # a call the SDK has no method for
    assert api.next_task(1) is None
    assert api.whoami()["email"] == "admin@example.com"              # and one it has
    assert api.token_kind == "personal access token"
    refreshes = [r for r in fake_ls.requests if r[1] == "/api/token/refresh/"]
    calls = [r for r in fake_ls.requests if r[1] != "/api/token/refresh/"]
    assert len(refreshes) == 1 and len(calls) == 3                   # one access token serves every call
    assert all(auth.startswith("Bearer ") and auth.split()[1] in fake_ls.issued for _, _, auth in calls)
    assert not any(pat in (auth or "") for _, _, auth in fake_ls.requests)  # the PAT itself is never sent as a header


def test_an_expired_access_token_is_refreshed_again(fake_ls):
    fake_ls.access_lifetime = 1.5                                   # expiry in whole seconds: 0.5-1.5 s
    api = LabelStudioAPI(fake_ls.url, make_jwt("refresh", 3600), timeout=10)
    api.model_versions(1)
    time.sleep(2.1)
    api.model_versions(1)
    paths = [r[1] for r in fake_ls.requests]
    assert paths == ["/api/token/refresh/", "/api/projects/1/model-versions/"] * 2
    assert fake_ls.requests[1][2] != fake_ls.requests[3][2]          # a new access token


def test_a_legacy_token_is_sent_as_token(fake_ls):
    api = LabelStudioAPI(fake_ls.url, LEGACY, timeout=10)
    assert api.model_versions(1) == {"modelpicker-p1-abc": 3}
    assert api.token_kind == "legacy token"
    assert fake_ls.requests == [("GET", "/api/projects/1/model-versions/", f"Token {LEGACY}")]


@pytest.mark.parametrize("key, detail", [
    ("not-a-known-legacy-token", "Invalid token."),
    (make_jwt("refresh", 3600, key="another-label-studio-instance-signing-key"), "Token is invalid"),
])
def test_a_refused_key_is_unauthorized_and_never_quoted(fake_ls, key, detail):
    api = LabelStudioAPI(fake_ls.url, key, timeout=10)
    with pytest.raises(LabelStudioAPIError) as caught:
        api.model_versions(1)
    assert caught.value.kind == "unauthorized" and caught.value.status == 401
    assert detail in str(caught.value) and key not in str(caught.value)


def test_an_expired_personal_access_token_is_unauthorized_before_any_call(fake_ls):
    api = LabelStudioAPI(fake_ls.url, make_jwt("refresh", -3600), timeout=10)
    with pytest.raises(LabelStudioAPIError, match="expired") as caught:
        api.model_versions(1)
    assert caught.value.kind == "unauthorized" and fake_ls.requests == []


def test_legacy_tokens_disabled_is_unauthorized(fake_ls):
    fake_ls.legacy_enabled = False
    with pytest.raises(LabelStudioAPIError) as caught:
        LabelStudioAPI(fake_ls.url, LEGACY, timeout=10).whoami()
    assert caught.value.kind == "unauthorized"


def test_a_refused_connection_and_an_unreachable_host_are_told_apart():
    with pytest.raises(LabelStudioAPIError) as refused:
        LabelStudioAPI(f"http://127.0.0.1:{closed_port()}", LEGACY, timeout=5).model_versions(1)
    assert refused.value.kind == "refused" and refused.value.status is None
    assert "connection refused" in refused.value.message
    with socket.socket() as silent:                                  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        api = LabelStudioAPI(f"http://127.0.0.1:{silent.getsockname()[1]}", LEGACY, timeout=0.5)
        with pytest.raises(LabelStudioAPIError) as silent_error:
            api.model_versions(1)
    assert silent_error.value.kind == "unreachable" and "Timeout" in silent_error.value.message


def test_a_personal_access_token_against_a_refused_connection_is_refused():
    api = LabelStudioAPI(f"http://127.0.0.1:{closed_port()}", make_jwt("refresh", 3600), timeout=5)
    with pytest.raises(LabelStudioAPIError) as caught:
        api.model_versions(1)                                        # fails in the SDK's token refresh
    assert caught.value.kind == "refused"


# ------------------------------------------------------------ /health and the log
def _label_studio_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "backend.labelstudio"]


def test_failures_show_in_health_and_log_one_line_per_kind(backend_factory, events, fake_ls, caplog):
    caplog.set_level(logging.INFO)
    secret = "not-a-known-legacy-token-but-secret"
    b = backend_factory(LABEL_STUDIO_URL=fake_ls.url.replace("http://", "http://user:pw@"),
                        LABEL_STUDIO_API_KEY=secret)
    health = b.client.get("/health").get_json()["label_studio"]
    assert health["configured"] and health["ok"] is None and health["problem"] is None
    assert health["url"] == fake_ls.url                              # no credentials of the URL
    assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
    answer = b.webhook(events.tasks_created(*range(1, 31))).get_json()
    # confirmation mode: the hint is kept, its confirmation failed on the refused key
    assert answer["confirmation"]["state"] == "failed" and answer["confirmation"]["problem"] == "unauthorized"
    assert answer["pending"] == 1
    for i in range(3):                                              # more labels, more failed refreshes
        b.webhook(events.created(100 + i, i + 1, "zero"))
        b.service.refresh(1, force=True)
    text = b.client.get("/health").get_data(as_text=True)
    health = json.loads(text)["label_studio"]
    assert health["ok"] is False and health["problem"] == "unauthorized"
    assert "Invalid token." in health["error"] and "Personal Access Token" in health["error"]
    assert secret not in text and "pw@" not in text
    job = b.client.get("/jobs?project=1").get_json()["jobs"][0]
    assert job["state"] == "failed" and "unauthorized" in job["message"] and secret not in job["message"]
    lines = _label_studio_lines(caplog)
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR and lines[0].exc_info is None
    assert "LABEL_STUDIO_API_KEY" in lines[0].getMessage() and secret not in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]             # no traceback anywhere
    # Label Studio goes away: a new kind, one more line
    b.service._api = LabelStudioAPI(f"http://127.0.0.1:{closed_port()}", LEGACY, timeout=5)
    b.service.refresh(1, force=True)
    b.service.refresh(1, force=True)
    assert b.client.get("/health").get_json()["label_studio"]["problem"] == "refused"
    assert len(_label_studio_lines(caplog)) == 2 and "nothing listens" in _label_studio_lines(caplog)[1].getMessage()
    # a Label Studio that takes connections but never answers: unreachable, a third line
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        b.service._api = LabelStudioAPI(f"http://127.0.0.1:{silent.getsockname()[1]}", LEGACY, timeout=0.5)
        b.service.refresh(1, force=True)
        b.service.refresh(1, force=True)
    assert b.client.get("/health").get_json()["label_studio"]["problem"] == "unreachable"
    assert len(_label_studio_lines(caplog)) == 3 and "did not answer" in _label_studio_lines(caplog)[2].getMessage()
    # the key is fixed (here: a working client): one line says so, /health is OK again
    b.service._api = LabelStudioAPI(fake_ls.url, make_jwt("refresh", 3600), timeout=10)
    assert b.service.store.pending_count(1) == 4                      # the webhooks' hints, never confirmed
    health = b.service.check_label_studio()
    lines = _label_studio_lines(caplog)
    assert len(lines) >= 4 and lines[3].levelno == logging.INFO and "answers again" in lines[3].getMessage()
    assert b.service.store.pending_count(1) == 0                      # the start check confirmed them
    # (this fake has no prediction import: the refresh that follows the confirmation logs its 404 after that)
    assert [x.getMessage() for x in lines[4:]] == [] or "import/predictions" in lines[4].getMessage()
    assert health["token"] == "personal access token"
    assert not [r for r in caplog.records if r.exc_info]


def test_the_start_check_says_ok_when_the_key_works(backend_factory, fake_ls):
    b = backend_factory(LABEL_STUDIO_URL=fake_ls.url, LABEL_STUDIO_API_KEY=make_jwt("refresh", 3600))
    assert b.service.check_label_studio()["ok"] is True
    health = b.client.get("/health").get_json()["label_studio"]
    assert health["problem"] is None and health["error"] is None and health["last_ok_at"].endswith("+00:00")
    assert health["token"] == "personal access token"


def test_the_start_check_records_an_unreachable_label_studio(backend_factory, caplog):
    b = backend_factory(LABEL_STUDIO_URL=f"http://127.0.0.1:{closed_port()}", LABEL_STUDIO_API_KEY=LEGACY)
    status = b.service.check_label_studio()
    assert status["ok"] is False and status["problem"] == "refused" and status["since"].endswith("+00:00")
    assert len(_label_studio_lines(caplog)) == 1


def test_health_without_label_studio_settings(backend_factory):
    b = backend_factory()
    health = b.client.get("/health").get_json()["label_studio"]
    assert health == {"configured": False, "writeback": False, "url": None, "token": None, "ok": None,
                      "problem": None, "error": None, "since": None, "last_ok_at": None}


def test_error_answers_log_once_per_distinct_message(backend_factory, events, caplog):
    from tests.backend.test_refresh import FakeLabelStudio as RecordingLabelStudio

    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY=LEGACY)
    ls = b.service._api = RecordingLabelStudio()
    errors = iter([LabelStudioAPIError("POST", "/api/projects/1/import/predictions", 500, "database is locked")] * 2
                  + [LabelStudioAPIError("POST", "/api/projects/1/import/predictions", 400, "bad score")])

    def broken(project, predictions):
        raise next(errors)

    ls.import_predictions = broken
    assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
    b.webhook(events.tasks_created(*range(1, 11)))
    b.service.refresh(1, force=True)
    b.service.refresh(1, force=True)
    lines = [r.getMessage() for r in _label_studio_lines(caplog)]
    assert len(lines) == 2 and "database is locked" in lines[0] and "bad score" in lines[1]
    assert b.client.get("/health").get_json()["label_studio"]["problem"] == "http_error"


def test_the_same_failure_met_at_once_by_several_workers_is_logged_once(make_store, caplog):
    """Each rq worker has its own connection to the store; two that meet the same refused key at the same
    moment must not both see it as new (the CI log once showed the line twice)."""
    from backend import ls_status
    caplog.set_level(logging.INFO)
    stores = [make_store("shared") for _ in range(6)]
    refusal = LabelStudioAPIError("GET", "/api/projects/1/", 401, "Token is invalid")
    start = threading.Barrier(len(stores))

    def record(store):
        start.wait()
        ls_status.record_failure(store, refusal, "http://127.0.0.1:8080", time.time())

    threads = [threading.Thread(target=record, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = [r.getMessage() for r in _label_studio_lines(caplog)]
    assert len(lines) == 1 and "unauthorized" in lines[0], lines
    assert stores[0].label_studio_status()["kind"] == "unauthorized"

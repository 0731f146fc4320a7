"""demo.lsapi against a small fake of Label Studio's routes (the real ones: tests/e2e/test_make_run_e2e.py).

The fake answers like Label Studio 1.23.2 where it matters here: ML backend
detail routes have no trailing slash, webhook routes have one, an unknown route
is a 404 HTML page, and a second Personal Access Token is refused with 409.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo.lsapi import LabelStudio, LabelStudioError


class FakeLabelStudio(BaseHTTPRequestHandler):
    state: dict = {}

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body=None, html: bool = False) -> None:
        data = ((b"<!doctype html><html>" + b"x" * 5000) if html
                else json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        s = self.state
        s["calls"].append(f"{method} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?")[0]
        if method == "GET" and path == "/api/ml/":
            return self._send(200, s["ml"])
        if method == "DELETE" and re.fullmatch(r"/api/ml/\d+", path):
            s["ml"] = [m for m in s["ml"] if m["id"] != int(path.rsplit("/", 1)[1])]
            return self._send(204)
        if method == "GET" and path == "/api/webhooks/":
            return self._send(200, s["hooks"])
        if method == "DELETE" and re.fullmatch(r"/api/webhooks/\d+/", path):
            s["hooks"] = [h for h in s["hooks"] if h["id"] != int(path.split("/")[3])]
            return self._send(204)
        if method == "POST" and path == "/api/ml/":
            s["ml"].append({"id": 99, "url": body["url"], **{k: v for k, v in body.items() if "auth" in k}})
            s["hooks"].append({"id": 98, "url": body["url"] + "/webhook", "headers": {}})
            return self._send(201, {"id": 99})
        if method == "PATCH" and re.fullmatch(r"/api/ml/\d+", path):
            ml = next(m for m in s["ml"] if m["id"] == int(path.rsplit("/", 1)[1]))
            ml.update(body)
            return self._send(200, ml)
        if method == "PATCH" and re.fullmatch(r"/api/webhooks/\d+/", path):
            hook = next(h for h in s["hooks"] if h["id"] == int(path.split("/")[3]))
            hook.update(body)
            return self._send(200, hook)
        if method == "POST" and path == "/api/token/":
            if s["tokens"]:
                return self._send(409, {"detail": "You already have a valid token"})
            s["tokens"].append("new.personal.token")
            return self._send(201, {"token": "new.personal.token"})
        if method == "GET" and path == "/api/token/":
            return self._send(200, [{"token": t.rsplit(".", 1)[0]} for t in s["tokens"]])
        if method == "POST" and path == "/api/token/blacklist/":
            s["tokens"].clear()
            return self._send(204)
        if method == "POST" and path == "/api/token/refresh/":
            if s.get("busy_refreshes", 0) > 0:       # a Label Studio just started, its SQLite busy
                s["busy_refreshes"] -= 1
                return self._send(500, html=True)
            return self._send(200 if body["refresh"] in s["tokens"] else 401,
                              {"access": "a"} if body["refresh"] in s["tokens"] else {"detail": "invalid"})
        return self._send(404, html=True)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def do_PATCH(self):
        self._route("PATCH")


@pytest.fixture
def fake():
    FakeLabelStudio.state = {"calls": [], "ml": [], "hooks": [], "tokens": []}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLabelStudio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeLabelStudio.state, LabelStudio(f"http://127.0.0.1:{server.server_address[1]}", "t" * 40, timeout=10)
    server.shutdown()
    server.server_close()


def test_a_backend_on_another_port_replaces_the_old_connection_and_its_webhook(fake):
    state, api = fake
    state["ml"] = [{"id": 1, "url": "http://127.0.0.1:9090"}]
    state["hooks"] = [{"id": 5, "url": "http://127.0.0.1:9090/webhook"}, {"id": 6, "url": "http://elsewhere/hook"}]
    assert api.connect_backend(3, "http://127.0.0.1:9091/") == 99
    assert "DELETE /api/ml/1" in state["calls"] and "DELETE /api/webhooks/5/" in state["calls"]
    assert state["ml"] == [{"id": 99, "url": "http://127.0.0.1:9091"}]
    assert [h["url"] for h in state["hooks"]] == ["http://elsewhere/hook", "http://127.0.0.1:9091/webhook"]


def test_the_same_backend_stays_connected(fake):
    state, api = fake
    state["ml"] = [{"id": 1, "url": "http://127.0.0.1:9090/"}]
    state["hooks"] = [{"id": 5, "url": "http://127.0.0.1:9090/webhook"}]
    assert api.connect_backend(3, "http://127.0.0.1:9090") == 1
    assert not [c for c in state["calls"] if not c.startswith("GET")]


def test_with_auth_the_connection_and_its_webhook_carry_basic_auth(fake):
    state, api = fake
    state["hooks"] = [{"id": 6, "url": "http://elsewhere/hook", "headers": {}}]
    assert api.connect_backend(3, "http://127.0.0.1:9090", auth=("modelpicker", "pw")) == 99
    assert state["ml"][0]["auth_method"] == "BASIC_AUTH"
    assert (state["ml"][0]["basic_auth_user"], state["ml"][0]["basic_auth_pass"]) == ("modelpicker", "pw")
    ours = next(h for h in state["hooks"] if h["id"] == 98)
    assert ours["headers"] == {"Authorization": "Basic bW9kZWxwaWNrZXI6cHc="}  # base64("modelpicker:pw")
    assert state["hooks"][0]["headers"] == {}  # another service's webhook never gets the password
    calls = len(state["calls"])
    assert api.connect_backend(3, "http://127.0.0.1:9090", auth=("modelpicker", "pw")) == 99
    assert not [c for c in state["calls"][calls:] if c.startswith("PATCH /api/webhooks")]  # already there


def test_an_earlier_connection_without_auth_gets_it(fake):
    state, api = fake
    state["ml"] = [{"id": 1, "url": "http://127.0.0.1:9090"}]
    state["hooks"] = [{"id": 5, "url": "http://127.0.0.1:9090/webhook", "headers": {"X-Other": "kept"}}]
    assert api.connect_backend(3, "http://127.0.0.1:9090", auth=("u", "p")) == 1
    assert state["ml"][0]["auth_method"] == "BASIC_AUTH" and "PATCH /api/ml/1" in state["calls"]
    assert state["hooks"][0]["headers"] == {"X-Other": "kept", "Authorization": "Basic dTpw"}


def test_a_kept_personal_token_is_reused_and_a_revoked_one_replaced(fake):
    state, api = fake
    first = api.personal_token("")
    assert first == "new.personal.token" and api.personal_token(first) == first
    assert state["calls"].count("POST /api/token/") == 1
    state["tokens"][:] = ["other.valid.token"]  # made elsewhere (e.g. in the UI); ours no longer refreshes
    assert api.personal_token("stale.kept.token") == "new.personal.token"
    assert "POST /api/token/blacklist/" in state["calls"]


def test_a_busy_label_studio_does_not_make_the_kept_token_look_revoked(fake):
    """A 5xx (or a timeout) on the refresh check is asked again, never read as a refusal."""
    state, api = fake
    first = api.personal_token("")
    state["busy_refreshes"] = 2
    assert api.refreshes(first, pause=0.0) is True and state["busy_refreshes"] == 0
    state["busy_refreshes"] = 10                     # never settles: the kept token is trusted, not replaced
    assert api.personal_token(first) == first
    assert state["calls"].count("POST /api/token/") == 1
    state["busy_refreshes"] = 0
    assert api.refreshes("revoked.or.foreign.token", pause=0.0) is False   # a 401 is a refusal at once


def test_an_html_error_page_is_named_not_quoted(fake):
    _, api = fake
    with pytest.raises(LabelStudioError) as info:
        api.call("GET", "/api/nothing/")
    assert str(info.value) == "GET /api/nothing/ answered HTTP 404: an HTML page (no such API route?)"

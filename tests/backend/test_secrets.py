"""Issue 11, item 4: nothing secret from the pool file or the settings leaves the process.

A backend runs on a pool whose best candidate is an HTTP model server reached
with ``Authorization``/``X-Api-Key`` headers and a URL carrying ``user:pass@``,
and with a Label Studio URL and API key that carry secrets too.  Every route
is driven (successes and error paths), every answer body, every exported file
and every log record is collected, and none may contain a secret string.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backend.redact import REDACTED, basename, redact, redact_text, strip_dirs

TOKEN = "SECRET-TOKEN-123"
API_KEY = "APIKEY-VALUE-555"
URL_USER, URL_PASS = "alice", "PASS-XYZ-789"
LS_PASS, LS_KEY = "LSPASS-456", "LSKEY-SECRET-999"
SECRETS = (TOKEN, API_KEY, URL_PASS, f"{URL_USER}:", LS_PASS, LS_KEY)


# ------------------------------------------------------------------ the pure function
def test_redact_by_key_headers_and_url_credentials():
    entry = {"name": "m", "source": {"type": "http", "url": "https://u:p4ss@host:8/x",
                                     "headers": {"Authorization": "Bearer T", "Accept": "json"}},
             "API_KEY": "k", "ApiKey": "k", "x-api-key": "k", "Password": "p", "client_secret": "s",
             "Cookie": "c", "token": "t", "labels": {"0": "zero"}, "list": [{"auth_token": "t"}]}
    out = redact(entry)
    assert out["source"]["headers"] == {"Authorization": REDACTED, "Accept": REDACTED}
    assert out["source"]["url"] == f"https://{REDACTED}@host:8/x"
    for key in ("API_KEY", "ApiKey", "x-api-key", "Password", "client_secret", "Cookie", "token"):
        assert out[key] == REDACTED, key
    assert out["list"] == [{"auth_token": REDACTED}]
    assert out["name"] == "m" and out["labels"] == {"0": "zero"} and out["source"]["type"] == "http"
    assert entry["source"]["headers"]["Authorization"] == "Bearer T"  # pure: the input is untouched


def test_redact_text_and_paths():
    assert redact_text("cannot reach http://a:b@h:1/p: x; see https://h/ok") == \
        f"cannot reach http://{REDACTED}@h:1/p: x; see https://h/ok"
    assert redact_text("no url here: user@example.org") == "no url here: user@example.org"
    assert basename("/srv/x/pool.yaml") == "pool.yaml" and basename(None) is None
    assert strip_dirs("pool file /srv/x/pool.yaml: bad", "/srv/x/pool.yaml") == "pool file pool.yaml: bad"


# ------------------------------------------------------------------ a whole run
class _ModelServer:
    """An HTTP candidate that answers the true label of ``k<i>`` and 400 for ``boom``; records headers."""

    def __init__(self, truth: list[int], port: int):
        seen = self.headers = []
        choices = ("zero", "one", "two")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                seen.append(dict(self.headers))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "boom" in body["inputs"]:
                    out, status = b'{"error": "cannot read boom"}', 400
                else:
                    out = json.dumps({"predictions": [choices[truth[int(v[1:])]] for v in body["inputs"]]}).encode()
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret_backend(backend_factory, pool_dir: Path, truth, free_port):
    port = free_port()
    server = _ModelServer(truth, port)
    (pool_dir / "pool.yaml").write_text(
        "data_field: key\n"
        "candidates:\n"
        "  - name: oracle\n"
        f"    source: {{type: http, url: 'http://{URL_USER}:{URL_PASS}@127.0.0.1:{port}/predict', retries: 0,\n"
        f"              timeout: 5, headers: {{Authorization: 'Bearer {TOKEN}', X-Api-Key: '{API_KEY}'}}}}\n"
        "  - name: good\n"
        "    source: {type: predictions, path: good.csv}\n"
        "    labels: {0: zero, 1: one, 2: two}\n"
        "  - name: fair\n"
        "    source: {type: predictions, path: fair.jsonl, label_column: pred}\n")
    b = backend_factory(LABEL_STUDIO_URL=f"http://bob:{LS_PASS}@127.0.0.1:1", LABEL_STUDIO_API_KEY=LS_KEY)
    yield b, server
    server.close()


def test_no_secret_in_any_answer_file_or_log(secret_backend, events, truth, caplog, tmp_path, database_url):
    caplog.set_level(logging.DEBUG)
    b, server = secret_backend
    assert b.service.pool is not None, b.service.pool_error
    c = b.client
    answers = []

    def call(method, path, **kw):
        response = getattr(c, method)(path, **kw)
        answers.append((method, path, response.status_code, response.get_data(as_text=True)))
        return response

    assert call("post", "/setup", json={"project": 1, "schema": events.config}).status_code == 200
    created = events.tasks_created(*range(1, 31))
    created["tasks"].append({"id": 31, "data": {"key": "boom"}, "project": 1})
    assert call("post", "/webhook", json=created).status_code == 200
    for i in range(1, 11):
        assert call("post", "/webhook", json=events.created(i, i, events.choices[truth[i - 1]])).status_code == 200
    r = call("post", "/predict", json={"project": 1, "label_config": events.config,
                                       "tasks": [{"id": 31, "data": {"key": "boom"}}, events.task(12)]})
    assert r.status_code == 200 and r.get_json()["results"][0]["modelpicker"]["errors"]
    # every task fails for the http candidate -> 422 whose message quotes the (redacted) URL
    r = call("post", "/predict", json={"project": 1, "tasks": [{"id": 32, "data": {"key": "boom"}}]})
    assert r.status_code == 422 and REDACTED in r.get_json()["error"]
    for path in ("/rankings?project=1", "/health", "/versions", "/versions?project=1", "/jobs?project=1",
                 "/rounds?project=1", "/export?project=1", "/rankings?project=99", "/export?project=1&file=x",
                 "/export?project=1&round=7", "/jobs?project=1&limit=0"):
        call("get", path)
    for name in ("decision.json", "ranking.csv", "ranking.json", "predictions.json"):
        assert call("get", f"/export?project=1&file={name}").status_code == 200
    call("post", "/versions", json={"project": 1})
    call("post", "/rounds?project=1", json={"reason": "check"})
    call("post", "/sync?project=1")  # Label Studio at port 1 does not answer: 502 naming the URL
    call("post", "/webhook", data=b"{not json", content_type="application/json")
    call("post", "/predict", json={"project": 1, "tasks": "x"})
    assert call("get", "/export?project=1").status_code == 200

    # the secrets were really in play: the model server got them, and the export names the candidate
    # (requests turns the URL's user:pass into basic auth, which replaces the Authorization header)
    assert any(h.get("X-Api-Key") == API_KEY and h.get("Authorization") for h in server.headers)
    decision = json.loads(next(a for a in answers if a[1] == "/export?project=1&file=decision.json")[3])
    assert decision["chosen"] == "oracle"
    assert decision["pool_entry"]["source"]["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert decision["pool_entry"]["source"]["url"].startswith(f"http://{REDACTED}@127.0.0.1:")
    assert {a[2] for a in answers} >= {200, 400, 404, 422, 502}

    exported = [p for p in (tmp_path / "model_dir" / "exports").rglob("*") if p.is_file()]
    assert {p.name for p in exported} == {"decision.json", "ranking.csv", "ranking.json", "predictions.json"}
    texts = [(f"{m} {p} -> {s}", body) for m, p, s, body in answers]
    texts += [(str(p), p.read_text()) for p in exported]
    texts += [(f"log {r.name}", r.getMessage() + (r.exc_text or "")) for r in caplog.records]
    assert len(caplog.records) > 5
    # on PostgreSQL, DATABASE_URL's password too
    secrets = SECRETS + ((database_url.split("@", 1)[0].rsplit(":", 1)[1],) if database_url else ())
    for where, text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked in {where}: {text[:500]}"

    # /health and /versions show file names, no absolute path
    for path in ("/health", "/versions", "/versions?project=1"):
        body = next(a[3] for a in answers if a[1] == path)
        assert str(tmp_path) not in body and "/model_dir" not in body, body
    health = json.loads(next(a[3] for a in answers if a[1] == "/health"))
    assert health["pool"]["path"] == "pool.yaml"
    assert health["store"]["path"] == ("modelpicker.sqlite3" if database_url is None
                                       else "postgresql://" + database_url.split("@", 1)[1].split("?", 1)[0])

"""Basic auth on every route, the loopback rule for a backend without credentials, no credential in any log
(label-studio-ml's DEBUG hooks logged headers and bodies), and which webhooks get the header (issue 11)."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from backend import webhook_auth
from backend.labelstudio_api import LabelStudioAPI
from tests.support import backend_process

USER, PASSWORD = "ls", "s3cret-Pa55"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


GOOD = basic(USER, PASSWORD)
ROUTES = [("get", "/health"), ("get", "/"), ("post", "/setup"), ("post", "/predict"), ("post", "/webhook"),
          ("get", "/rankings?project=1"), ("get", "/jobs?project=1"), ("get", "/rounds?project=1"),
          ("post", "/rounds?project=1"), ("get", "/export?project=1"), ("post", "/sync?project=1"),
          ("get", "/versions"), ("post", "/versions"), ("post", "/train")]


@pytest.fixture
def authed(backend_factory, events):
    b = backend_factory(BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    assert b.client.post("/setup", json={"project": "1.1700000000", "schema": events.config},
                         headers=GOOD).status_code == 200
    r = b.client.post("/webhook", json=events.created(1, 1, "one"), headers=GOOD)
    assert r.status_code == 200, r.get_json()
    return b


@pytest.mark.parametrize("headers", [{}, basic(USER, "wrong"), basic("other", PASSWORD),
                                     {"Authorization": "Bearer " + PASSWORD}, {"Authorization": "Basic %%%"}])
def test_every_route_asks_for_credentials(authed, headers):
    for method, path in ROUTES:
        r = getattr(authed.client, method)(path, json={"project": 1}, headers=headers)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="modelpicker"'
        assert r.get_json() == {"error": "authentication required: HTTP basic auth with "
                                         "BASIC_AUTH_USER/BASIC_AUTH_PASS"}


def _state(b) -> tuple:
    return b.labels(), b.client.get("/rankings?project=1", headers=GOOD).get_json()


@pytest.mark.parametrize("headers", [{}, basic(USER, "wrong")])
def test_forged_webhooks_get_401_and_change_nothing(authed, events, headers):
    before = _state(authed)
    future = events.updated(1, 1, "two")
    future["annotation"]["updated_at"] = "2099-01-01T00:00:00.000000Z"
    forged = [events.created(900 + i, 2 + i % 20, "zero") for i in range(40)] + [
        future,
        {**events.deleted(), "annotations": [{"id": i} for i in range(1, 200_001)]},
        events.tasks_deleted(*range(1, 31)),
    ]
    for body in forged:
        r = authed.client.post("/webhook", json=body, headers=headers)
        assert r.status_code == 401
    assert _state(authed) == before
    assert authed.labels() == [(1, 1, "one")]
    # the genuine update still counts afterwards
    assert authed.client.post("/webhook", json=events.updated(1, 1, "zero", second=5), headers=GOOD).status_code == 200
    assert authed.labels() == [(1, 1, "zero")]


def _call(app, path: str, remote: str, headers: dict | None = None, body: dict | None = None) -> tuple[int, dict]:
    """One request straight through the WSGI app with ``REMOTE_ADDR`` = ``remote`` (the test client drops it)."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    builder = EnvironBuilder(path=path, method="POST" if body is not None else "GET", json=body,
                             headers=headers or {}, environ_base={"REMOTE_ADDR": remote})
    try:
        app_iter, status, _ = run_wsgi_app(app, builder.get_environ())
        data = b"".join(app_iter)
    finally:
        builder.close()
    return int(status.split()[0]), json.loads(data)


def test_without_credentials_only_this_machine_is_served(backend_factory, events):
    b = backend_factory()
    far = "192.0.2.7"
    status, answer = _call(b.app, "/webhook", far, body=events.created(1, 1, "one"))
    assert status == 403 and b.labels() == []
    assert answer["error"].startswith("this backend has no credentials and serves this machine only")
    assert _call(b.app, "/health", "127.0.0.1")[0] == 200
    assert _call(b.app, "/health", "::1")[0] == 200
    opted_out = backend_factory(MODELPICKER_ALLOW_UNAUTHENTICATED="true")
    assert _call(opted_out.app, "/health", far)[0] == 200
    with_auth = backend_factory(BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    assert _call(with_auth.app, "/health", far)[0] == 401
    assert _call(with_auth.app, "/health", far, GOOD)[0] == 200


@pytest.mark.parametrize("kind", ["python", "gunicorn"])
def test_no_credential_or_token_reaches_any_log_at_debug(kind, pool_dir, tmp_path, events):
    token = "ls-access-token-0123456789abcdef"
    env = {"MODELPICKER_POOL": str(pool_dir / "pool.yaml"), "MODEL_DIR": str(tmp_path / "state"),
           "MODELPICKER_STRATEGY": "modelpicker", "LOG_LEVEL": "DEBUG", "BASIC_AUTH_USER": USER,
           "BASIC_AUTH_PASS": PASSWORD, "MODELPICKER_WORKERS": "1"}
    with backend_process.running(kind, env, tmp_path / f"{kind}.log") as server:
        setup = {"project": "1.1700000000", "schema": events.config, "hostname": "http://127.0.0.1:8080",
                 "access_token": token, "extra_params": {}}
        assert requests.post(server.url + "/setup", json=setup, headers=GOOD, timeout=60).status_code == 200
        r = requests.post(server.url + "/webhook", json=events.created(1, 1, "one"), headers=GOOD, timeout=60)
        assert r.status_code == 200
        predict = {"project": "1.1700000000", "tasks": [events.task(1)], "label_config": events.config,
                   "params": {"login": "someone", "password": token, "context": None}}
        assert requests.post(server.url + "/predict", json=predict, headers=GOOD, timeout=60).status_code == 200
        assert requests.post(server.url + "/webhook", json={}, headers=basic(USER, "guess"),
                             timeout=60).status_code == 401
        log = server.log()
    assert "DEBUG" in log and "POST /webhook" in log  # the debug log did run
    header = GOOD["Authorization"].split()[1]
    for secret in (PASSWORD, header, token, "guess", base64.b64encode(f"{USER}:guess".encode()).decode()):
        assert secret not in log, secret


# ------------------------------------------------------------------ which webhooks get the header
class FakeAPI(LabelStudioAPI):
    """Label Studio's /api/ml/ and /api/webhooks/ answers (shapes of 1.23.2), recording the PATCHes: the real
    client's ``ml_backends``/``webhooks``/``set_webhook_headers`` over a fake transport."""

    def __init__(self, mls, hooks):
        self.mls, self.hooks, self.patches = mls, hooks, []

    def _request(self, method, path, params=None, json=None):
        if method == "GET" and path == "/api/ml/":
            return self.mls
        if method == "GET" and path == "/api/webhooks/":
            return self.hooks
        assert method == "PATCH"
        self.patches.append((path, json))
        return {}


def test_only_webhooks_to_a_backend_connected_with_our_user_get_the_header():
    header = webhook_auth.basic_header(USER, PASSWORD)
    api = FakeAPI(
        mls=[{"id": 1, "url": "http://backend:9090/", "auth_method": "BASIC_AUTH", "basic_auth_user": USER},
             {"id": 2, "url": "http://other:9090", "auth_method": "NONE", "basic_auth_user": None},
             {"id": 3, "url": "http://third:9090", "auth_method": "BASIC_AUTH", "basic_auth_user": "someone"}],
        hooks=[{"id": 10, "project": 5, "url": "http://backend:9090/webhook", "headers": {"X-Keep": "1"}},
               {"id": 11, "project": 5, "url": "http://other:9090/webhook", "headers": {}},
               {"id": 12, "project": 5, "url": "http://third:9090/webhook", "headers": {}},
               {"id": 13, "project": 5, "url": "https://hooks.example.org/webhook", "headers": {}}])
    assert webhook_auth.ensure(api, 5, USER, PASSWORD) == (1, 1)
    assert api.patches == [("/api/webhooks/10/", {"headers": {"X-Keep": "1", "Authorization": header}})]
    api.hooks[0]["headers"] = api.patches[0][1]["headers"]
    assert webhook_auth.ensure(api, 5, USER, PASSWORD) == (1, 0)  # already carries it: no second PATCH


@pytest.mark.parametrize("value, expected", [("12.1700000000", 12), ("12", 12), (12, 12), ("x", None),
                                             ("", None), (None, None), ("1" * 40, None)])
def test_project_ids_of_setup_payloads(value, expected):
    assert webhook_auth.project_id(value) == expected


def test_the_header_is_only_patched_when_it_can_be(backend_factory):
    settings = backend_factory().service.settings
    assert webhook_auth.ensure_in_background(settings, "1.17") is False  # no credentials: nothing to give

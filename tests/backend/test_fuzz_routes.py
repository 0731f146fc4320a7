"""Issue 11, item 6: property-based fuzzing of every route; zero 5xx, every 4xx JSON, no state change on a 4xx.

A backend (``backend.app.create_app``, basic auth on, the demo pool of
``conftest.py``, a temporary ``MODEL_DIR``) is connected to project 1 with 30
tasks and 5 labels; hypothesis then sends it requests with a fixed seed
(``derandomize=True``, no example database, so nothing is written into the
tree): Label Studio webhook payloads of every action with mutated fields,
wrong types, huge/negative/unicode/lone-surrogate ids, deep nesting, bodies
under odd content types, junk query parameters on every GET/POST route,
unknown routes and methods, with correct, missing and wrong credentials.

For every answer: the status is not 5xx; a 4xx carries a JSON object
``{"error": <non-empty str>}``; and after a 4xx every row of every table of
the SQLite store and ``/rankings`` of project 1 are what they were before the
request (state is snapshotted lazily: once after each 2xx, compared after
each 4xx).  The request counts per test are fixed (:data:`QUOTA`) and sum to
at least 10,000.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz_requests import (
    CONTENT_TYPES,
    ROUTES_GET,
    ROUTES_POST,
    UNKNOWN_ROUTES,
    FuzzRequest,
    auth_header,
    encode_json,
    json_values,
    label_configs,
    query_strings,
    raw_bodies,
    webhook_payloads,
)
from tests.support.store_snapshot import snapshot_store

USER, PASSWORD = "fuzz", "fuzz-password-not-a-secret"
#: requests each test sends (one per hypothesis example); together at least 10,000
QUOTA = {"webhook": 4000, "query": 2600, "body": 2400, "raw": 1000}
assert sum(QUOTA.values()) >= 10_000


def fuzz_settings(name: str):
    """Fixed seed, no deadline, no example database (nothing written into the tree)."""
    return settings(max_examples=QUOTA[name], derandomize=True, database=None, deadline=None,
                    print_blob=False, suppress_health_check=list(HealthCheck))


class Fuzzer:
    """Sends :class:`FuzzRequest` values to one app and checks each answer against the invariants."""

    def __init__(self, backend):
        self.b = backend
        self.store = backend.service.store
        self.auth = auth_header(USER, PASSWORD)
        self.state: tuple[dict, Any] | None = None
        self.sent = 0
        self.statuses: dict[int, int] = {}

    def _state(self) -> tuple[dict, Any]:
        response = self.b.client.get("/rankings?project=1", headers=[self.auth])
        assert response.status_code == 200, response.get_data()[:500]
        return snapshot_store(self.store), response.get_json()

    def send(self, req: FuzzRequest):
        if self.state is None:
            self.state = self._state()
        kwargs: dict[str, Any] = {"method": req.method, "headers": list(req.headers)}
        if req.body is not None:
            kwargs["data"] = req.body
        response = self.b.client.open(req.url, **kwargs)
        self.sent += 1
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, (status, response.get_data()[:500], req.short())
        if 400 <= status < 500 and req.method != "HEAD":  # a HEAD answer has no body, by HTTP's definition
            try:
                body = json.loads(response.get_data())
            except ValueError as exc:
                raise AssertionError(
                    f"{status} is not JSON: {response.get_data()[:300]!r} for {req.short()}") from exc
            assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), \
                (status, body, req.short())
        if 400 <= status < 500:
            after = self._state()
            assert after[0] == self.state[0], f"store changed on a {status}: {req.short()}"
            assert after[1] == self.state[1], f"/rankings changed on a {status}: {req.short()}"
        else:
            self.state = None  # a 2xx/3xx may change state: snapshot again before the next request
        return response


@pytest.fixture
def fuzzer(backend_factory, events, truth):
    """A backend with auth on, connected to project 1 with 30 tasks and 5 labels (the state to protect)."""
    b = backend_factory(BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    f = Fuzzer(b)
    auth = [f.auth]
    assert b.client.post("/setup", json={"project": "1.1700000000", "schema": events.config},
                         headers=auth).status_code == 200
    assert b.client.post("/webhook", json=events.tasks_created(*range(1, 31)), headers=auth).status_code == 200
    for i in range(1, 6):
        r = b.client.post("/webhook", json=events.created(i, i, events.choices[truth[i - 1]]), headers=auth)
        assert r.status_code == 200, r.get_json()
    return f


#: how a request authenticates: mostly right (to reach the handlers), sometimes not at all or wrongly
auth_modes = st.sampled_from(["ok"] * 8 + ["none", "wrong", "bearer", "garbage"])


def _headers(mode: str, content_type: str | None) -> tuple[tuple[str, str], ...]:
    headers = []
    if mode == "ok":
        headers.append(auth_header(USER, PASSWORD))
    elif mode == "wrong":
        headers.append(auth_header(USER, "nope"))
    elif mode == "bearer":
        headers.append(("Authorization", "Bearer " + PASSWORD))
    elif mode == "garbage":
        headers.append(("Authorization", "Basic %%%not-base64"))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return tuple(headers)


json_content = st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES))


@fuzz_settings("webhook")
@given(payload=webhook_payloads(), mode=auth_modes,
       content_type=st.one_of(st.just("application/json"), st.just("application/json"), json_content))
def fuzz_webhook_payloads_of_every_action(fuzzer, payload, mode, content_type):
    fuzzer.send(FuzzRequest("POST", "/webhook", body=encode_json(payload), headers=_headers(mode, content_type)))


def test_webhook_fuzz_reached_the_handler(fuzzer):
    """The webhook fuzz is not all refused at the door: a plausible authenticated event is stored (200)."""
    fuzz_webhook_payloads_of_every_action(fuzzer)
    assert fuzzer.sent >= QUOTA["webhook"]
    ok = sum(n for s, n in fuzzer.statuses.items() if s < 300)
    assert ok >= QUOTA["webhook"] // 10, fuzzer.statuses
    assert fuzzer.statuses.get(401, 0) > 0, fuzzer.statuses


@fuzz_settings("query")
@given(route=st.one_of(st.sampled_from(ROUTES_GET).map(lambda r: ("GET", r)),
                       st.sampled_from(ROUTES_POST).map(lambda r: ("POST", r))),
       query=query_strings(), mode=auth_modes)
def fuzz_query_parameters_of_every_route(fuzzer, route, query, mode):
    method, path = route
    body = b"" if method == "POST" else None
    fuzzer.send(FuzzRequest(method, path, query=query, body=body, headers=_headers(mode, None)))


def test_query_fuzz_sent_its_quota(fuzzer):
    fuzz_query_parameters_of_every_route(fuzzer)
    assert fuzzer.sent >= QUOTA["query"], fuzzer.statuses
    assert sum(n for s, n in fuzzer.statuses.items() if s < 300) > 0, fuzzer.statuses


def _setup_body(project: Any, schema: Any, extra: Any) -> dict:
    return {"project": project, "schema": schema, "hostname": "http://127.0.0.1:8080", "extra_params": extra}


def _predict_body(project: Any, tasks: Any, config: Any) -> dict:
    return {"tasks": tasks, "project": project, "label_config": config,
            "params": {"login": None, "password": None, "context": None}}


projects_in_body = st.one_of(st.just("1.1700000000"), st.just(1), st.integers(2, 4), json_values,
                             st.sampled_from(["\u00b2", "9" * 40, "1." + "9" * 40, "\ud800", -1]))
predict_tasks = st.one_of(
    st.lists(st.fixed_dictionaries({"id": st.one_of(st.integers(1, 40), json_values),
                                    "data": st.one_of(st.fixed_dictionaries(
                                        {"key": st.one_of(st.integers(0, 35).map(lambda i: f"k{i}"),
                                                          json_values)}), json_values)}), max_size=4),
    json_values)
bodies = st.one_of(
    st.tuples(st.just("/setup"), st.builds(_setup_body, projects_in_body, label_configs, json_values)),
    st.tuples(st.just("/predict"), st.builds(_predict_body, projects_in_body, predict_tasks,
                                             st.one_of(st.none(), label_configs))),
    st.tuples(st.just("/rounds"), st.fixed_dictionaries({"project": projects_in_body, "reason": json_values})),
    st.tuples(st.just("/versions"), st.fixed_dictionaries({"project": projects_in_body})),
    st.tuples(st.sampled_from(["/sync", "/train", "/webhook"]), json_values),
)


@fuzz_settings("body")
@given(target=bodies, raw=st.one_of(st.none(), raw_bodies), query=st.one_of(st.just(""), query_strings()),
       mode=auth_modes, content_type=json_content)
def fuzz_bodies_of_every_post_route(fuzzer, target, raw, query, mode, content_type):
    """JSON bodies of /setup, /predict, /rounds, /versions, /sync, /train (or raw bytes instead)."""
    path, value = target
    body = raw if raw is not None else encode_json(value)
    fuzzer.send(FuzzRequest("POST", path, query=query, body=body, headers=_headers(mode, content_type)))


def test_body_fuzz_sent_its_quota(fuzzer):
    fuzz_bodies_of_every_post_route(fuzzer)
    assert fuzzer.sent >= QUOTA["body"], fuzzer.statuses
    assert sum(n for s, n in fuzzer.statuses.items() if s < 300) > 0, fuzzer.statuses


methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
any_path = st.one_of(st.sampled_from(ROUTES_GET + ROUTES_POST + UNKNOWN_ROUTES),
                     st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, blacklist_characters="?#"),
                             max_size=15).map(lambda s: "/" + s))
odd_headers = st.lists(st.tuples(st.sampled_from(["X-Forwarded-For", "Accept", "Content-Encoding",
                                                  "Transfer-Encoding", "Content-Length", "X-Junk"]),
                                 st.sampled_from(["", "gzip", "chunked", "-1", "1", "99999999999", "text/html",
                                                  "\u00e9", "a" * 200])), max_size=2)


@fuzz_settings("raw")
@given(method=methods, path=any_path, query=query_strings(), raw=st.one_of(st.none(), raw_bodies),
       mode=auth_modes, content_type=st.one_of(st.none(), st.sampled_from(CONTENT_TYPES)), extra=odd_headers)
def fuzz_any_method_any_route_any_bytes(fuzzer, method, path, query, raw, mode, content_type, extra):
    """Unknown routes, wrong methods, raw bytes, odd headers (Content-Encoding, Transfer-Encoding, ...)."""
    headers = _headers(mode, content_type) + tuple(
        (k, v) for k, v in extra if k not in ("Content-Length", "Transfer-Encoding") or raw is None)
    fuzzer.send(FuzzRequest(method, path, query=query, body=raw, headers=headers))


def test_raw_fuzz_sent_its_quota(fuzzer):
    fuzz_any_method_any_route_any_bytes(fuzzer)
    assert fuzzer.sent >= QUOTA["raw"], fuzzer.statuses

"""/health, /setup, /predict, /rankings and the error answers, through Flask's test client."""
from __future__ import annotations

import base64
import re

import numpy as np
import pytest

VERSION = re.compile(r"^modelpicker-p1-n\d+-[0-9a-f]{8}$")


def label_all(backend, events, truth, n=None):
    for i, t in enumerate(truth[:n]):
        r = backend.webhook(events.created(100 + i, i + 1, events.choices[t], second=i % 60))
        assert r.status_code == 200, r.get_json()


# ---------------------------------------------------------------------------- /health
def test_health_reports_pool_and_store(backend_factory, store_kind):
    b = backend_factory()
    for path in ("/health", "/"):
        body = b.client.get(path).get_json()
        assert body["status"] == "UP" and body["model_class"] == "ModelPickerModel"
        assert body["pool"] == {"ok": True, "candidates": 3, "error": None, "path": body["pool"]["path"],
                                "project_errors": {}, "unavailable": []}
        assert body["mlflow"]["tracking"] is False and body["mlflow"]["ok"] is None
        assert body["store"]["ok"] and body["store"]["path"].endswith(
            "modelpicker.sqlite3" if store_kind == "sqlite" else "/postgres")
        assert body["store"]["path"].startswith("postgresql://127.0.0.1:") == (store_kind == "postgres")
        assert body["strategy"] == "modelpicker" and body["jobs"] == "inline"


def test_unusable_pool_is_reported_and_refused(backend_factory, tmp_path, events):
    b = backend_factory(MODELPICKER_POOL=str(tmp_path / "missing.yaml"))
    health = b.client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["pool"]["ok"] is False and "cannot read" in health.get_json()["pool"]["error"]
    r = b.post("/setup", {"project": "1.1", "schema": events.config})
    assert r.status_code == 503 and "candidate pool unusable" in r.get_json()["error"]
    assert b.client.get("/rankings?project=1").status_code == 503


def test_start_checks_the_pool_against_every_stored_project(backend_factory, events):
    first = backend_factory()
    first.post("/setup", {"project": 1, "schema": events.config})
    first.service.store.set_label_config(2, events.config.replace('"two"', '"deux"'))  # e.g. edited meanwhile
    first.service.store.close()
    b = backend_factory()
    errors = b.client.get("/health").get_json()["pool"]["project_errors"]
    assert list(errors) == ["2"] and "candidate 'good': labels['2']: 'two' is not a Choice of 'label'" in errors["2"]
    assert b.client.get("/rankings?project=2").status_code == 422
    assert b.client.get("/rankings?project=1").status_code == 200
    assert b.post("/setup", {"project": 2, "schema": events.config}).status_code == 200
    assert b.client.get("/health").get_json()["pool"]["project_errors"] == {}


def test_unset_pool_is_reported(backend_factory):
    b = backend_factory(MODELPICKER_POOL="")
    assert b.client.get("/health").get_json()["pool"]["error"] == "MODELPICKER_POOL is not set"


def test_unusable_store_is_reported(backend_factory, store_kind):
    b = backend_factory()
    b.service.store.close()
    store = b.client.get("/health").get_json()["store"]
    # sqlite3: "ProgrammingError: Cannot operate on a closed database"; psycopg: "the connection is closed"
    error = "ProgrammingError" if store_kind == "sqlite" else "OperationalError: the connection is closed"
    assert store["ok"] is False and error in store["error"]


# ----------------------------------------------------------------------------- /setup
def test_setup_answers_the_priority_version(backend_factory, events):
    b = backend_factory()
    r = b.post("/setup", {"project": "1.1700000000", "schema": events.config, "hostname": "http://ls",
                          "access_token": "x"})
    assert r.status_code == 200 and VERSION.match(r.get_json()["model_version"])
    assert r.get_json()["model_version"].startswith("modelpicker-p1-n0-")
    # same state, same version; another project, another version
    assert b.post("/setup", {"project": 1, "schema": events.config}).get_json() == r.get_json()
    assert b.post("/setup", {"project": "2.5", "schema": events.config}).get_json()["model_version"].startswith(
        "modelpicker-p2-n0-")


@pytest.mark.parametrize("body, status, message", [
    ({"schema": "<View/>"}, 400, "'project' must be a project id"),
    ({"project": "abc", "schema": "<View/>"}, 400, "'project' must be a project id like 12"),
    ({"project": True, "schema": "<View/>"}, 400, "'project' must be a project id"),
    ({"project": 1}, 400, "'schema' (the project's label config) is missing"),
    ({"project": 1, "schema": '<View><Text name="t" value="$t"/></View>'}, 422,
     "exactly one <Choices> control, found none"),
    ({"project": 1, "schema": '<View><Choices name="a" toName="t"><Choice value="zero"/><Choice value="one"/>'
                              '</Choices><Choices name="b" toName="t"><Choice value="x"/><Choice value="y"/>'
                              '</Choices></View>'}, 422, "found 2"),
    ({"project": 1, "schema": '<View><Choices name="a" toName="t"><Choice value="zero"/><Choice value="one"/>'
                              '</Choices></View>'}, 422, "candidate 'good': labels['2']: 'two' is not a Choice of 'a'"),
    ({"project": 1, "schema": "<View"}, 422, "not valid XML"),
])
def test_setup_bad_inputs(backend_factory, body, status, message):
    b = backend_factory()
    r = b.post("/setup", body)
    assert r.status_code == status and message in r.get_json()["error"]
    assert b.service.store.get_label_config(1) is None  # nothing stored


@pytest.mark.parametrize("kwargs, message", [
    ({"data": "{not json", "content_type": "application/json"}, "not valid JSON"),
    ({"data": "", "content_type": "application/json"}, "request body is empty"),
    ({"json": [1, 2]}, "must be a JSON object"),
])
@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook"])
def test_bodies_that_are_not_json_objects(backend_factory, path, kwargs, message):
    r = backend_factory().client.post(path, **kwargs)
    assert r.status_code == 400 and message in r.get_json()["error"]


# ---------------------------------------------------------------------------- /predict
def test_predict_scores_are_priorities(backend, events, all_tasks):
    setup_version = backend.post("/setup", {"project": "1.1", "schema": events.config}).get_json()["model_version"]
    r = backend.post("/predict", {"project": "1.1700000000", "tasks": all_tasks, "label_config": events.config})
    assert r.status_code == 200
    body = r.get_json()
    # the version names the scored task set too, so the 30 tasks make a new one; /setup then agrees with it
    assert body["model_version"] != setup_version
    setup_version = backend.post("/setup", {"project": "1.1", "schema": events.config}).get_json()["model_version"]
    assert len(body["results"]) == 30 and body["model_version"] == setup_version
    info = np.array([p["modelpicker"]["informativeness"] for p in body["results"]])
    score = np.array([p["score"] for p in body["results"]])
    for p in body["results"]:
        assert p["result"] == [] and p["model_version"] == setup_version
        assert set(p["modelpicker"]["predictions"]) == {"good", "fair", "poor"}
    # lower score = label first: score is the fraction of tasks strictly more informative
    assert np.array_equal(score, np.array([(info > x).sum() / info.size for x in info]))
    assert score.min() == 0.0 and (score < 1).all()
    # tasks where every candidate agrees carry no information and come last
    agree = [len(set(p["modelpicker"]["predictions"].values())) == 1 for p in body["results"]]
    assert all(info[agree] == 0) and all(info[~np.array(agree)] > 0)


def test_predict_after_labels(backend, events, all_tasks, truth):
    # the tasks are imported first: 25 tasks first seen by /predict after a decided round would open round 2
    assert backend.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    label_all(backend, events, truth, n=5)
    body = backend.post("/predict", {"project": "1.1", "tasks": all_tasks}).get_json()
    version = backend.ranking()["model_version"]
    assert body["model_version"] == version and version.startswith("modelpicker-p1-n5-")
    for i, p in enumerate(body["results"]):
        assert p["modelpicker"]["labelled"] is (i < 5)
        if i < 5:
            assert p["score"] == 1.0 and p["modelpicker"]["informativeness"] is None


def test_show_best_puts_the_best_answer_in_the_result(backend_factory, events, all_tasks, truth):
    b = backend_factory(MODELPICKER_SHOW_BEST="true")
    b.post("/setup", {"project": 1, "schema": events.config})
    label_all(b, events, truth, n=12)
    assert b.ranking()["candidates"][0]["name"] == "good"
    body = b.post("/predict", {"project": 1, "tasks": all_tasks}).get_json()
    for p in body["results"]:
        assert p["result"] == [{"from_name": "label", "to_name": "text", "type": "choices",
                                "value": {"choices": [p["modelpicker"]["predictions"]["good"]]}}]


@pytest.mark.parametrize("body, status, message", [
    ({"project": 1}, 400, "'tasks' must be a non-empty list"),
    ({"project": 1, "tasks": []}, 400, "'tasks' must be a non-empty list"),
    ({"project": 1, "tasks": "x"}, 400, "'tasks' must be a non-empty list"),
    ({"project": 1, "tasks": [{"data": {"key": "k0"}}]}, 400, "task #1 must be an object with an integer 'id'"),
    ({"project": 1, "tasks": [{"id": "7", "data": {}}]}, 400, "task #1 must be an object with an integer 'id'"),
    ({"project": 1, "tasks": [{"id": 7, "data": 3}]}, 400, "task 7: 'data' must be an object"),
    ({"project": 1, "tasks": [{"id": 7, "data": {}}], "label_config": 5}, 400, "'label_config' must be a string"),
    ({"project": 9, "tasks": [{"id": 7, "data": {"key": "k0"}}]}, 404, "project 9 is unknown"),
    ({"project": 1, "tasks": [{"id": 7, "data": {"key": "k999"}}]}, 422,
     "candidate 'good': task 7: no row with key='k999' in good.csv"),
    ({"project": 1, "tasks": [{"id": 7, "data": {"image": "x"}}]}, 422,
     "candidate 'good': task 7: task data has no field 'key'"),
])
def test_predict_bad_inputs(backend, body, status, message):
    r = backend.post("/predict", body)
    assert r.status_code == status and message in r.get_json()["error"], r.get_json()


def test_predict_with_an_incompatible_config(backend):
    r = backend.post("/predict", {"project": 1, "tasks": [{"id": 1, "data": {"key": "k0"}}],
                                  "label_config": '<View><Choices name="c" toName="t"><Choice value="a"/>'
                                                  '<Choice value="b"/></Choices></View>'})
    assert r.status_code == 422 and (
        "candidate 'good': labels['0']: 'zero' is not a Choice of 'c'" in r.get_json()["error"])


# --------------------------------------------------------------------------- /rankings
def test_rankings_with_every_task_labelled(backend, events, truth):
    empty = backend.ranking()
    assert empty["labels"] == 0 and [c["p_best"] for c in empty["candidates"]] == pytest.approx([1 / 3] * 3)
    backend.webhook(events.tasks_created(*range(1, 31)))
    label_all(backend, events, truth)
    body = backend.ranking()
    assert (body["project"], body["strategy"], body["labels"], body["labels_used"], body["tasks"]) == (
        1, "modelpicker", 30, 30, 30)
    assert body["model_version"].startswith("modelpicker-p1-n30-")
    assert [c["name"] for c in body["candidates"]] == ["good", "fair", "poor"]
    assert [c["rank"] for c in body["candidates"]] == [1, 2, 3]
    assert [c["accuracy"] for c in body["candidates"]] == pytest.approx([27 / 30, 21 / 30, 12 / 30])
    for c in body["candidates"]:
        assert c["accuracy_low"] < c["accuracy"] < c["accuracy_high"] and c["labels"] == 30
    assert sum(c["p_best"] for c in body["candidates"]) == pytest.approx(1.0)
    p_best = [c["p_best"] for c in body["candidates"]]
    assert p_best == sorted(p_best, reverse=True) and p_best[0] > 1 / 3


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "query parameter 'project' is required"),
    ("?project=", 400, "query parameter 'project' is required"),
    ("?project=abc", 400, "'project' must be a project id"),
    ("?project=-3", 400, "'project' must be a project id"),
    ("?project=42", 404, "project 42 is unknown to this backend"),
])
def test_rankings_bad_inputs(backend, query, status, message):
    r = backend.client.get("/rankings" + query)
    assert r.status_code == status and message in r.get_json()["error"]


# ------------------------------------------------------------------ auth and odd routes
def test_basic_auth_protects_every_endpoint(backend_factory, events):
    b = backend_factory(BASIC_AUTH_USER="ls", BASIC_AUTH_PASS="s3cret")

    def auth(user, password):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    for headers in ({}, auth("ls", "wrong"), auth("other", "s3cret")):
        for method, path in (("get", "/health"), ("post", "/setup"), ("post", "/predict"), ("post", "/webhook"),
                             ("get", "/rankings?project=1")):
            r = getattr(b.client, method)(path, headers=headers)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
            assert "authentication required" in r.get_json()["error"]
    good = auth("ls", "s3cret")
    assert b.client.get("/health", headers=good).status_code == 200
    assert b.client.post("/setup", json={"project": 1, "schema": events.config}, headers=good).status_code == 200


def test_train_route_and_unknown_routes_answer_json(backend):
    r = backend.post("/train", {"annotations": [1]})
    assert r.status_code == 410 and "webhook" in r.get_json()["error"]
    r = backend.client.get("/nope")
    assert r.status_code == 404 and r.get_json()["error"].startswith("Not Found")
    r = backend.client.get("/setup")
    assert r.status_code == 405 and r.get_json()["error"].startswith("Method Not Allowed")


def test_unexpected_errors_become_json_500_without_traceback(backend, monkeypatch):
    def boom():
        raise AssertionError("the store exploded")

    monkeypatch.setattr(backend.service, "health", boom)
    r = backend.client.get("/health")
    assert r.status_code == 500
    assert r.get_json() == {"error": "internal error: AssertionError: the store exploded"}


def test_oversized_bodies_are_refused_before_reading(backend_factory):
    b = backend_factory(MODELPICKER_MAX_BODY_MB="1")
    r = b.client.post("/webhook", data=b"x" * (2**20 + 1), content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"].startswith("Request Entity Too Large")

"""Issue 11, item 3 / must-show: the inputs that got a 500 get a 4xx naming the problem, and change nothing.

Each case is sent to a backend connected to project 1 (30 tasks, 5 labels);
the answer must be a 4xx JSON ``{"error": ...}`` whose text names what is
wrong, and every row of every table of the store must be the same before and
after.
"""
from __future__ import annotations

import pytest

from backend.errors import RequestError
from backend.inputs import MAX_JSON_DEPTH, json_depth, parse_int, parse_json
from tests.support.store_snapshot import snapshot_store

DEEP = "[" * 5000 + "]" * 5000
BIG = "9" * 5000


def _json(text: str) -> dict:
    return {"data": text.encode(), "content_type": "application/json"}


def _deep(key: str = "project") -> dict:
    return _json(f'{{"{key}": 1, "x": {DEEP}}}')


SURROGATE_CONFIG = "<View><Text name='text' value='$key'/>\\ud800</View>"

#: (id, method, path, request kwargs, status, text the error must contain)
CASES = [
    # JSON nested 5,000 deep, on every route that reads a body
    ("deep-webhook", "post", "/webhook", _deep("action"), 400, f"the limit is {MAX_JSON_DEPTH} levels"),
    ("deep-setup", "post", "/setup", _deep(), 400, f"the limit is {MAX_JSON_DEPTH} levels"),
    ("deep-predict", "post", "/predict", _deep(), 400, f"the limit is {MAX_JSON_DEPTH} levels"),
    ("deep-rounds", "post", "/rounds?project=1", _deep(), 400, f"the limit is {MAX_JSON_DEPTH} levels"),
    ("deep-versions", "post", "/versions", _deep(), 400, f"the limit is {MAX_JSON_DEPTH} levels"),
    ("deep-65", "post", "/webhook", _json("{\"action\": \"X\", \"a\": " + "[" * 65 + "]" * 65 + "}"), 400,
     f"the limit is {MAX_JSON_DEPTH} levels"),
    # one strict integer parser for every query parameter
    ("limit-superscript", "get", "/jobs?project=1&limit=\u00b2", {}, 400, "'limit'"),
    ("limit-arabic-digit", "get", "/jobs?project=1&limit=\u0663", {}, 400, "'limit'"),
    ("limit-negative", "get", "/jobs?project=1&limit=-1", {}, 400, "'limit'"),
    ("limit-huge", "get", f"/jobs?project=1&limit={BIG}", {}, 400, "'limit'"),
    ("round-superscript", "get", "/export?project=1&round=\u00b2", {}, 400, "'round'"),
    ("round-zero", "get", "/export?project=1&round=0", {}, 400, "'round'"),
    ("round-huge", "get", f"/export?project=1&round={BIG}", {}, 400, "'round'"),
    ("project-superscript", "get", "/rankings?project=\u00b2", {}, 400, "'project'"),
    # a project id of 5,000 digits, on every route that takes one
    ("project-big-rankings", "get", f"/rankings?project={BIG}", {}, 400, "'project'"),
    ("project-big-jobs", "get", f"/jobs?project={BIG}", {}, 400, "'project'"),
    ("project-big-rounds", "get", f"/rounds?project={BIG}", {}, 400, "'project'"),
    ("project-big-start-round", "post", f"/rounds?project={BIG}", {}, 400, "'project'"),
    ("project-big-export", "get", f"/export?project={BIG}", {}, 400, "'project'"),
    ("project-big-versions", "get", f"/versions?project={BIG}", {}, 400, "'project'"),
    ("project-big-sync", "post", f"/sync?project={BIG}", {}, 400, "'project'"),
    ("project-big-dotted", "get", f"/rankings?project=1.{BIG}", {}, 400, "'project'"),
    ("project-big-setup", "post", "/setup", _json(f'{{"project": "{BIG}", "schema": "<View/>"}}'), 400, "'project'"),
    ("project-big-number-setup", "post", "/setup", _json(f'{{"project": {BIG}, "schema": "<View/>"}}'), 400,
     "not valid JSON"),
    ("project-big-predict", "post", "/predict",
     _json(f'{{"project": "{BIG}", "tasks": [{{"id": 1, "data": {{"key": "k0"}}}}]}}'), 400, "'project'"),
    # a lone surrogate in a label config or a round reason (or anywhere in a body)
    ("surrogate-setup", "post", "/setup", _json(f'{{"project": 1, "schema": "{SURROGATE_CONFIG}"}}'), 400,
     "$.schema holds a lone UTF-16 surrogate"),
    ("surrogate-round-reason", "post", "/rounds?project=1", _json('{"reason": "x\\ud800"}'), 400,
     "$.reason holds a lone UTF-16 surrogate"),
    ("surrogate-webhook-config", "post", "/webhook",
     _json(f'{{"action": "PROJECT_UPDATED", "project": {{"id": 1, "label_config": "{SURROGATE_CONFIG}"}}}}'), 400,
     "$.project.label_config holds a lone UTF-16 surrogate"),
    ("surrogate-predict-config", "post", "/predict",
     _json(f'{{"project": 1, "label_config": "{SURROGATE_CONFIG}", '
           f'"tasks": [{{"id": 1, "data": {{"key": "k0"}}}}]}}'), 400, "$.label_config holds a lone UTF-16 surrogate"),
    ("surrogate-key", "post", "/webhook", _json('{"action": "X", "\\udfff": 1}'), 400, "lone UTF-16 surrogate"),
    # a /predict answered 422 stores nothing (a new task, and a known task with new data)
    ("predict-422-new-task", "post", "/predict",
     {"json": {"project": 1, "tasks": [{"id": 99, "data": {"key": "no-such-key"}}]}}, 422, "no-such-key"),
    ("predict-422-known-task", "post", "/predict",
     {"json": {"project": 1, "tasks": [{"id": 3, "data": {"key": "no-such-key"}}]}}, 422, "no-such-key"),
]


@pytest.fixture
def labelled(backend, events, truth):
    assert backend.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i in range(1, 6):
        assert backend.webhook(events.created(i, i, events.choices[truth[i - 1]])).status_code == 200
    return backend


@pytest.mark.parametrize("name, method, path, kwargs, status, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_4xx_naming_it_and_changes_nothing(labelled, name, method, path, kwargs, status, needle):
    b = labelled
    before = snapshot_store(b.service.store)
    assert sum(len(rows) for rows in before.values()) > 60  # tasks, labels, predictions are there to lose
    ranking_before = b.ranking()
    response = getattr(b.client, method)(path, **kwargs)
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert needle in body["error"], body["error"]
    assert "Traceback" not in body["error"] and "internal error" not in body["error"]
    assert snapshot_store(b.service.store) == before
    assert b.ranking() == ranking_before


def test_predict_422_then_the_same_task_with_good_data_is_stored(labelled):
    b = labelled
    r = b.post("/predict", {"project": 1, "tasks": [{"id": 99, "data": {"key": "no-such-key"}}]})
    assert r.status_code == 422
    assert 99 not in b.service.store.task_data(1, [99])
    r = b.post("/predict", {"project": 1, "tasks": [{"id": 99, "data": {"key": "k3"}}]})
    assert r.status_code == 200, r.get_json()
    assert b.service.store.task_data(1, [99]) == {99: {"key": "k3"}}


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": "[[[[[[", "b": [[1], {"c": "\\"]]]{{"}]}') == 3
    assert json_depth(b"1") == 0
    assert parse_json(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode()) is not None
    with pytest.raises(RequestError, match="the limit is 64 levels"):
        parse_json(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    assert parse_json(b'{"ok": "\\ud83d\\ude00"}') == {"ok": "\U0001F600"}  # a surrogate *pair* is fine


@pytest.mark.parametrize("raw", ["\u00b2", "\u0663", "-1", "+1", " 1", "1 ", "1e3", "", BIG, True, 1.0, None])
def test_parse_int_is_strict(raw):
    with pytest.raises(RequestError) as exc:
        parse_int(raw, "limit", 0, 10**9)
    assert exc.value.status == 400 and "'limit'" in exc.value.message


def test_parse_int_accepts_ascii_digits_in_range():
    assert parse_int("0042", "x", 1, 100) == 42 and parse_int(7, "x", 1, 100) == 7
    with pytest.raises(RequestError, match="between 1 and 100, got 101"):
        parse_int("101", "x", 1, 100)

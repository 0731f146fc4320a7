"""Issue 11: the forged webhooks of the report are refused at the door when auth is on.

A backend with basic auth on (``BASIC_AUTH_USER``/``BASIC_AUTH_PASS``, as
every documented set-up has) connected to project 1 with 30 tasks and 8
genuine labels.  An attacker who can reach the port but has no credentials
sends the report's forged events; each is answered 401 (or 415 for a body
that is not JSON, as a browser's cross-site post is) and every row of the
store, ``/rankings`` and the ``/export`` decision are unchanged.  Genuine,
authenticated events afterwards are stored as usual: nothing the forger sent
blocks them.

Whether an *authenticated* forged event is without effect depends on Label
Studio's API (confirmation mode re-reads every label from it); that part is
shown against a real Label Studio in ``tests/e2e/test_forged_webhooks_e2e.py``.
"""
from __future__ import annotations

import pytest

from tests.support.fuzz_requests import auth_header
from tests.support.store_snapshot import snapshot_store

USER, PASSWORD = "labelstudio", "a-long-webhook-password"
AUTH = [auth_header(USER, PASSWORD)]
#: how a forger without the password may try
NO_AUTH = [[], [auth_header(USER, "guess")], [auth_header("admin", PASSWORD)],
           [("Authorization", "Bearer " + PASSWORD)], [("Authorization", "Basic !!!")]]


@pytest.fixture
def guarded(backend_factory, events, truth):
    """Auth on, project 1 with 30 tasks and 8 genuine labels (annotation i on task i, the true answer)."""
    b = backend_factory(BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    assert b.client.post("/setup", json={"project": "1.1700000000", "schema": events.config},
                         headers=AUTH).status_code == 200
    assert b.client.post("/webhook", json=events.tasks_created(*range(1, 31)), headers=AUTH).status_code == 200
    for i in range(1, 9):
        r = b.client.post("/webhook", json=events.created(i, i, events.choices[truth[i - 1]]), headers=AUTH)
        assert r.status_code == 200, r.get_json()
    return b


def _state(b) -> tuple:
    """The store's rows, /rankings and the /export decision (what the team would deploy)."""
    ranking = b.client.get("/rankings?project=1", headers=AUTH)
    export = b.client.get("/export?project=1&file=decision.json", headers=AUTH)
    assert ranking.status_code == 200 and export.status_code == 200
    decision = export.get_json()
    decision.pop("exported_at", None)
    return snapshot_store(b.service.store), ranking.get_json(), decision


def _refused(b, body: dict, headers: list, status: int = 401) -> None:
    r = b.client.post("/webhook", json=body, headers=headers)
    assert r.status_code == status, (r.status_code, r.get_json())
    assert r.get_json()["error"]


def _weakest_label(events, truth, task: int) -> str:
    """The answer of candidate ``poor`` where it is wrong, else any wrong answer (to promote ``poor``)."""
    return events.choices[(truth[task - 1] + 1) % 3]


def test_forty_forged_annotations_do_not_choose_the_weakest_candidate(guarded, events, truth):
    before = _state(guarded)
    for n in range(40):
        task = n % 30 + 1
        forged = events.created(1000 + n, task, _weakest_label(events, truth, task))
        _refused(guarded, forged, NO_AUTH[n % len(NO_AUTH)])
    assert _state(guarded) == before
    assert guarded.labels() == [(i, i, events.choices[truth[i - 1]]) for i in range(1, 9)]


def test_a_forged_update_from_the_future_neither_overwrites_nor_blocks_genuine_updates(guarded, events, truth):
    before = _state(guarded)
    future = events.updated(3, 3, _weakest_label(events, truth, 3))
    future["annotation"]["updated_at"] = "2999-01-01T00:00:00.000000Z"
    for headers in NO_AUTH:
        _refused(guarded, future, headers)
    assert _state(guarded) == before
    # a genuine, later update by Label Studio still lands
    genuine = events.updated(3, 3, events.choices[(truth[2] + 2) % 3], second=30)
    assert guarded.client.post("/webhook", json=genuine, headers=AUTH).status_code == 200
    assert (3, 3, events.choices[(truth[2] + 2) % 3]) in guarded.labels()


def test_a_forged_delete_of_200000_unseen_ids_does_not_tombstone_later_annotations(guarded, events, truth):
    before = _state(guarded)
    forged = events.deleted(*range(100, 200_100))
    _refused(guarded, forged, [])
    _refused(guarded, forged, [auth_header(USER, "guess")])
    assert _state(guarded) == before
    # ten genuine annotations whose ids the forger listed are all stored
    for n in range(10):
        aid, task = 100 + n, 9 + n
        r = guarded.client.post("/webhook", json=events.created(aid, task, events.choices[truth[task - 1]]),
                                headers=AUTH)
        assert r.status_code == 200, r.get_json()
    stored = {a for a, _, _ in guarded.labels()}
    assert set(range(100, 110)) <= stored


def test_a_forged_tasks_deleted_does_not_block_reimports(guarded, events, truth):
    before = _state(guarded)
    _refused(guarded, events.tasks_deleted(*range(1, 31)), [])
    _refused(guarded, events.tasks_deleted(*range(31, 100)), [auth_header(USER, "guess")])
    assert _state(guarded) == before
    # Label Studio imports tasks 31..35 (new ids) and they are labelled: stored as usual
    new = {"action": "TASKS_CREATED", "project": events.project(),
           "tasks": [{"id": t, "data": {"key": f"k{t - 31}"}, "project": 1} for t in range(31, 36)]}
    assert guarded.client.post("/webhook", json=new, headers=AUTH).status_code == 200
    body = events.created(500, 31, events.choices[truth[0]])
    body["task"] = new["tasks"][0]
    assert guarded.client.post("/webhook", json=body, headers=AUTH).status_code == 200
    assert (500, 31, events.choices[truth[0]]) in guarded.labels()


@pytest.mark.parametrize("with_auth", [False, True], ids=["no-credentials", "with-credentials"])
@pytest.mark.parametrize("kind", ["text/plain", "form", "multipart"])
def test_bodies_a_browser_can_post_cross_site_are_refused(guarded, events, truth, kind, with_auth):
    """text/plain, urlencoded forms and multipart bodies (what an HTML form on any web page can post) are
    not read as JSON: 415 even with the right credentials, 401 or 415 without; nothing changes."""
    import json

    before = _state(guarded)
    forged = json.dumps(events.created(900, 20, _weakest_label(events, truth, 20)))
    headers = AUTH if with_auth else []
    if kind == "text/plain":
        r = guarded.client.post("/webhook", data=forged, content_type="text/plain", headers=headers)
    elif kind == "form":
        r = guarded.client.post("/webhook", data={forged: ""}, headers=headers)
    else:
        r = guarded.client.post("/webhook", data={"x": forged, "f": (__import__("io").BytesIO(b"x"), "a.json")},
                                content_type="multipart/form-data", headers=headers)
    assert r.status_code == (415 if with_auth else 401) or (not with_auth and r.status_code == 415), r.status_code
    assert r.get_json()["error"]
    assert _state(guarded) == before

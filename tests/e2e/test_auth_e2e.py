"""Authenticated webhooks against a real Label Studio 1.23.2 (issue 11).

Facts checked here, as a user meets them:

* Connecting a backend with basic auth (``POST /api/ml/`` with ``auth_method``
  ``BASIC_AUTH``, what the Connect Model form's Authentication sets) works
  against a backend that refuses every unauthenticated call: Label Studio sends
  the pair to ``/health`` and ``/setup``.
* The webhook Label Studio then creates (``<url>/webhook``) carries no headers,
  so its deliveries get 401 and the labels never arrive; ``PATCH
  /api/webhooks/<id>/`` with ``{"headers": {"Authorization": "Basic ..."}}``
  makes them arrive.
* A backend given ``LABEL_STUDIO_URL``/``LABEL_STUDIO_API_KEY`` patches that
  header in by itself after the authenticated ``/setup``
  (:mod:`backend.webhook_auth`): annotations made through Label Studio's API
  are counted in ``/rankings`` with no manual step.
* Forged webhooks (40 ANNOTATION_CREATED, ANNOTATION_UPDATED with a future
  ``updated_at``, ANNOTATIONS_DELETED of 200,000 unseen ids, TASKS_DELETED)
  without credentials or with wrong ones get 401 and change nothing: the
  store's label tables and ``/rankings`` are identical before and after.
"""
from __future__ import annotations

import base64
import contextlib
import re
import sqlite3

import pytest
import requests

from tests.support import annotator, backend_process
from tests.support.polling import wait_until

USER, PASSWORD = "modelpicker", "e2e-Backend-Pa55word"
AUTH = (USER, PASSWORD)
HEADER = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
N_TASKS, N_LABELS = 20, 3
WAIT = 90.0
PORTS = (19200, 19300)
#: the store's tables that hold what Label Studio told the backend
LABEL_TABLES = ("tasks", "deleted_tasks", "annotations", "deleted_annotations", "rounds", "hints")


def _env(digits, model_dir, **extra) -> dict:
    return {"MODEL_DIR": str(model_dir), "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"),
            "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD, "MODELPICKER_REFRESH_EVERY_LABELS": "1",
            "MODELPICKER_REFRESH_MIN_SECONDS": "0", "LOG_LEVEL": "INFO", "MODELPICKER_WORKERS": "1", **extra}


def _connect(ls, project: int, url: str) -> dict:
    """What the Connect Model form sends with Authentication: Basic."""
    return ls.api("POST", "/api/ml/", json={"project": project, "url": url, "title": "ModelPicker",
                                            "auth_method": "BASIC_AUTH", "basic_auth_user": USER,
                                            "basic_auth_pass": PASSWORD})


def _hooks(ls, project: int, url: str) -> list[dict]:
    rows = ls.api("GET", "/api/webhooks/", params={"project": project})
    rows = rows.get("results", rows) if isinstance(rows, dict) else rows
    return [h for h in rows if h["url"].rstrip("/") == url + "/webhook"]


def _labels(server, project: int) -> int:
    r = requests.get(server.url + "/rankings", params={"project": project}, auth=AUTH, timeout=60)
    return r.json().get("labels", 0) if r.status_code == 200 else 0


def _wait(what: str, check, timeout: float = WAIT):
    return wait_until(check, what, timeout)


def _annotate_next(ls, digits, project: int) -> int:
    task = ls.api("GET", f"/api/projects/{project}/next/")
    value = digits["labels"][task["data"][digits["ref_field"]]]
    answer = ls.api("POST", f"/api/tasks/{task['id']}/annotations/",
                    json={"result": annotator.choice_result("digit", "image", value)})
    return int(answer["id"])


def _store(model_dir) -> dict[str, list]:
    """Every row of the store's label tables (read-only)."""
    db = sqlite3.connect(f"file:{model_dir / 'modelpicker.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in LABEL_TABLES if t in names}
    finally:
        db.close()


def _settled(server, project: int) -> None:
    def idle():
        jobs = requests.get(server.url + "/jobs", params={"project": project}, auth=AUTH, timeout=60).json()["jobs"]
        return not any(j["state"] in ("queued", "started") for j in jobs)
    _wait("background jobs to finish", idle)


# ------------------------------------------------------------------ the facts, by hand
@pytest.fixture(scope="module")
def by_hand(label_studio, digits, tmp_path_factory):
    """A backend without a Label Studio API key: the header must be added by hand (or by the demo)."""
    ls = label_studio
    model_dir = tmp_path_factory.mktemp("hand-state")
    log = tmp_path_factory.mktemp("hand-log") / "backend.log"
    with backend_process.running("python", _env(digits, model_dir), log, port_range=PORTS) as server:
        project = annotator.create_project(ls, "auth by hand", digits["label_config"])
        ml = _connect(ls, project, server.url)
        hooks_at_connect = _hooks(ls, project, server.url)
        annotator.import_tasks(ls, project, digits["tasks"][:N_TASKS], digits["ref_field"])
        # Label Studio delivers TASKS_CREATED without the header: the backend answers 401
        # (Werkzeug colours a 4xx request line: "\x1b[31m\x1b[1mPOST /webhook HTTP/1.1\x1b[0m" 401)
        _wait("a refused webhook in the backend log",
              lambda: re.search(r'POST /webhook HTTP/1\.1(\x1b\[0m)?" 401', server.log()))
        labels_before_patch = _labels(server, project)
        patched = ls.api("PATCH", f"/api/webhooks/{hooks_at_connect[0]['id']}/",
                         json={"headers": {"Authorization": HEADER}})
        second = digits["tasks"][N_TASKS:N_TASKS + N_LABELS]
        ls.api("POST", f"/api/projects/{project}/import", json=second)
        wanted = {t["data"][digits["ref_field"]] for t in second}
        listing = ls.api("GET", "/api/tasks/", params={"project": project, "page_size": 1000})
        rows = listing["tasks"] if isinstance(listing, dict) else listing
        for row in rows:
            ref = row["data"][digits["ref_field"]]
            if ref in wanted:  # tasks the backend heard about (their TASKS_CREATED carried the header)
                ls.api("POST", f"/api/tasks/{row['id']}/annotations/",
                       json={"result": annotator.choice_result("digit", "image", digits["labels"][ref])})
        counted = _wait("labels counted after the header was added", lambda: _labels(server, project) >= N_LABELS
                        and _labels(server, project))
        ml_row = next(m for m in ls.api("GET", "/api/ml/", params={"project": project}) if m["id"] == ml["id"])
        yield {"ml": ml, "ml_row": ml_row, "hooks_at_connect": hooks_at_connect, "patched": patched,
               "labels_before_patch": labels_before_patch, "counted": counted, "log": server.log()}


def test_label_studio_connects_with_basic_auth(by_hand):
    assert by_hand["ml"]["auth_method"] == "BASIC_AUTH"
    row = by_hand["ml_row"]
    assert row["basic_auth_user"] == USER and "basic_auth_pass" not in row  # the password is write-only
    assert '"GET /health HTTP/1.1" 200' in by_hand["log"] and '"POST /setup HTTP/1.1" 200' in by_hand["log"]


def test_the_webhook_label_studio_creates_carries_no_header_and_is_refused(by_hand):
    assert len(by_hand["hooks_at_connect"]) == 1
    assert not by_hand["hooks_at_connect"][0].get("headers")
    assert by_hand["labels_before_patch"] == 0


def test_a_webhook_with_the_header_delivers_labels(by_hand):
    assert by_hand["patched"]["headers"] == {"Authorization": HEADER}
    assert by_hand["counted"] == N_LABELS


# ------------------------------------------------------------------ automatic, as a user connects through the UI
@pytest.fixture(scope="module")
def automatic(label_studio, digits, tmp_path_factory):
    ls = label_studio
    model_dir = tmp_path_factory.mktemp("auto-state")
    log = tmp_path_factory.mktemp("auto-log") / "gunicorn.log"
    env = _env(digits, model_dir, LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.personal_token)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(backend_process.running("gunicorn", env, log, port_range=PORTS))
        project = annotator.create_project(ls, "auth automatic", digits["label_config"])
        _connect(ls, project, server.url)
        hook = _wait("the backend to put the header on its webhook",
                     lambda: next((h for h in _hooks(ls, project, server.url)
                                   if (h.get("headers") or {}).get("Authorization") == HEADER), None))
        annotator.import_tasks(ls, project, digits["tasks"][:N_TASKS], digits["ref_field"])
        annotated = [_annotate_next(ls, digits, project)]
        _wait("the first label", lambda: _labels(server, project) >= 1)
        for _ in range(N_LABELS - 1):
            annotated.append(_annotate_next(ls, digits, project))
        _wait(f"{N_LABELS} labels", lambda: _labels(server, project) >= N_LABELS)
        yield {"ls": ls, "server": server, "project": project, "hook": hook, "annotated": annotated,
               "model_dir": model_dir}


def test_labels_flow_with_auth_on_and_no_manual_step(automatic):
    assert automatic["hook"]["headers"]["Authorization"] == HEADER
    assert _labels(automatic["server"], automatic["project"]) == N_LABELS


def _forged(project: int, task_ids: list[int], annotation: int) -> list[dict]:
    ls_project = {"id": project, "title": "auth automatic"}

    def annotation_body(aid: int, task: int, choice: str, updated: str) -> dict:
        return {"id": aid, "task": task, "project": project, "was_cancelled": False, "ground_truth": False,
                "updated_at": updated,
                "result": [{"from_name": "digit", "to_name": "image", "type": "choices",
                            "value": {"choices": [choice]}}]}

    created = [{"action": "ANNOTATION_CREATED", "project": ls_project, "task": {"id": t, "project": project},
                "annotation": annotation_body(10_000 + i, t, "0", "2026-01-01T00:00:00.000000Z")}
               for i, t in enumerate((task_ids * 40)[:40])]
    future = {"action": "ANNOTATION_UPDATED", "project": ls_project, "task": {"id": task_ids[0], "project": project},
              "annotation": annotation_body(annotation, task_ids[0], "0", "2099-12-31T23:59:59.000000Z")}
    deleted = {"action": "ANNOTATIONS_DELETED", "project": ls_project,
               "annotations": [{"id": i} for i in range(annotation + 1, annotation + 200_001)]}
    tasks_deleted = {"action": "TASKS_DELETED", "project": ls_project, "tasks": [{"id": t} for t in task_ids]}
    return [*created, future, deleted, tasks_deleted]


@pytest.mark.parametrize("auth", [None, (USER, "wrong-password"), ("intruder", PASSWORD)],
                         ids=["no credentials", "wrong password", "wrong user"])
def test_forged_webhooks_are_refused_and_change_nothing(automatic, auth):
    server, project = automatic["server"], automatic["project"]
    _settled(server, project)
    task_ids = sorted(row[1] for row in _store(automatic["model_dir"])["tasks"] if row[0] == project)[:5]
    store_before = _store(automatic["model_dir"])
    ranking_before = requests.get(server.url + "/rankings", params={"project": project}, auth=AUTH, timeout=60)
    statuses = {requests.post(server.url + "/webhook", json=body, auth=auth, timeout=60).status_code
                for body in _forged(project, task_ids, automatic["annotated"][0])}
    assert statuses == {401}
    assert _store(automatic["model_dir"]) == store_before
    ranking_after = requests.get(server.url + "/rankings", params={"project": project}, auth=AUTH, timeout=60)
    assert ranking_after.json() == ranking_before.json()
    assert ranking_after.json()["labels"] == N_LABELS

"""Issue 11, end to end: labels are Label Studio's, not the caller's (real Label Studio 1.23.2).

The backend runs as documented (basic auth on, Label Studio's API configured, so in confirmation mode);
Label Studio's webhook carries the backend's Authorization header.  Shown here:

* the read the confirmation uses (``GET /api/projects/{id}/export?download_all_tasks=true&ids[]=...``)
  returns each named task with its data and all its annotations, and nothing for an id Label Studio
  does not have;
* annotations made through Label Studio's API arrive confirmed, with Label Studio's ``updated_at``;
* forged webhooks *with valid backend credentials* (a label, an update from the future, deletions of
  2,000 unseen ids, TASKS_DELETED) change no store row and not the ranking; a genuine later update
  and genuine annotations whose ids were "deleted" by the forgery are stored;
* labels made while the backend was down arrive after ``POST /sync``; hints the backend acknowledged
  while it could not reach Label Studio are confirmed when it starts again.
"""
from __future__ import annotations

import base64
import sqlite3

import pytest
import requests

from backend.labelstudio_api import LabelStudioAPI
from tests.support import annotator, labelstudio, ports
from tests.support.polling import wait_until
from tests.support.pytest_label_studio import SERVERS

USER, PASSWORD = "modelpicker", "e2e-Confirm-Pa55word"
AUTH = (USER, PASSWORD)
HEADER = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
N_TASKS = 30
WAIT = 90.0
#: the store's tables that hold what Label Studio told the backend
TABLES = ("tasks", "deleted_tasks", "annotations", "deleted_annotations", "task_rounds")


def _wait(what: str, check, timeout: float = WAIT):
    return wait_until(check, what, timeout)


def _rows(model_dir, tables=TABLES) -> dict[str, list]:
    db = sqlite3.connect(f"file:{model_dir / 'modelpicker.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        db.close()


def _stored(model_dir, project: int) -> dict[int, tuple[int, str | None, float | None]]:
    db = sqlite3.connect(f"file:{model_dir / 'modelpicker.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return {a: (t, c, v) for a, t, c, v in db.execute(
            "SELECT annotation, task, choice, version FROM annotations WHERE project = ?", (project,))}
    finally:
        db.close()


def _get(server, path: str, **params):
    response = requests.get(server.url + path, params=params, auth=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def _post(server, path: str, body=None, **params):
    response = requests.post(server.url + path, params=params, json=body, auth=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def _annotate(ls, digits, task: dict, value: str | None = None) -> dict:
    value = value or digits["labels"][task["data"][digits["ref_field"]]]
    return ls.api("POST", f"/api/tasks/{task['id']}/annotations/",
                  json={"result": annotator.choice_result("digit", "image", value)})


def _other(digits, value: str) -> str:
    return next(c for c in sorted(set(digits["labels"].values())) if c != value)


@pytest.fixture(scope="module")
def start_backend(tmp_path_factory):
    """``start(env, name)``: ``python -m backend`` on ``env["PORT"]`` with basic auth, stopped after the module.

    (``tests/e2e/conftest.py``'s starter waits for an unauthenticated 200 from /health; this one
    asks with the credentials, and keeps the port so Label Studio's webhook finds a restarted backend.)
    """
    started = []
    log_dir = tmp_path_factory.mktemp("confirm-logs")

    def start(env: dict, name: str) -> labelstudio.BackendServer:
        port, log_path = int(env["PORT"]), log_dir / f"{name}.log"
        settings = {**env, "HOST": "127.0.0.1"}
        process = labelstudio._popen("backend", [labelstudio.backend_python(), "-m", "backend"],
                                     labelstudio._server_env({"PYTHONUNBUFFERED": "1", **settings}), log_path,
                                     labelstudio.REPO_ROOT)
        server = labelstudio.BackendServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path,
                                           env=settings)
        started.append(server)
        SERVERS.append(server)
        labelstudio.wait_for_http(f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/health", 60, process, log_path,
                                  "backend")
        return server

    yield start
    for server in started:
        server.stop()
        SERVERS.remove(server)


@pytest.fixture(scope="module")
def world(label_studio, digits, start_backend, tmp_path_factory):
    ls = label_studio
    model_dir = tmp_path_factory.mktemp("confirm-state")
    port = ports.free_port(19200, 19300)
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token, "MODEL_DIR": str(model_dir),
           "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_WRITEBACK": "false",
           "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD, "PORT": str(port), "LOG_LEVEL": "INFO"}
    server = start_backend(env, name="backend-confirm")
    project = annotator.create_project(ls, "confirmation e2e", digits["label_config"])
    ls.api("POST", "/api/ml/", json={"project": project, "url": server.url, "title": "ModelPicker",
                                     "auth_method": "BASIC_AUTH", "basic_auth_user": USER,
                                     "basic_auth_pass": PASSWORD})
    hooks = ls.api("GET", "/api/webhooks/", params={"project": project})
    hooks = hooks.get("results", hooks) if isinstance(hooks, dict) else hooks
    (hook,) = [h for h in hooks if h["url"].rstrip("/") == server.url + "/webhook"]
    ls.api("PATCH", f"/api/webhooks/{hook['id']}/", json={"headers": {"Authorization": HEADER}})
    annotator.import_tasks(ls, project, digits["tasks"][:N_TASKS], digits["ref_field"])
    _wait("the imported tasks confirmed", lambda: _get(server, "/rankings", project=project)["tasks"] == N_TASKS)
    listing = ls.api("GET", "/api/tasks/", params={"project": project, "page_size": 1000})
    tasks = sorted(listing["tasks"] if isinstance(listing, dict) else listing, key=lambda t: t["id"])
    return {"ls": ls, "server": server, "env": env, "model_dir": model_dir, "project": project, "tasks": tasks,
            "start": start_backend}


def test_the_read_the_confirmation_uses(world, digits):
    ls, project, tasks = world["ls"], world["project"], world["tasks"]
    api = LabelStudioAPI(ls.url, ls.personal_token, timeout=60)
    made = _annotate(ls, digits, tasks[-1])
    read = api.tasks_by_id(project, [tasks[0]["id"], tasks[-1]["id"], 10 ** 9])
    assert sorted(read) == [tasks[0]["id"], tasks[-1]["id"]]          # an id Label Studio lacks: absent
    assert read[tasks[0]["id"]]["annotations"] == [] and read[tasks[0]["id"]]["data"] == tasks[0]["data"]
    (annotation,) = read[tasks[-1]["id"]]["annotations"]
    assert annotation["id"] == made["id"] and annotation["updated_at"] and annotation["result"]
    ls.api("DELETE", f"/api/annotations/{made['id']}/")
    assert api.tasks_by_id(project, [tasks[-1]["id"]])[tasks[-1]["id"]]["annotations"] == []
    _wait("the deletion confirmed", lambda: made["id"] not in _stored(world["model_dir"], project))


def test_annotations_made_in_label_studio_arrive_confirmed(world, digits):
    ls, server, project, tasks = world["ls"], world["server"], world["project"], world["tasks"]
    made = [_annotate(ls, digits, task) for task in tasks[:3]]
    _wait("three labels", lambda: all(a["id"] in _stored(world["model_dir"], project) for a in made))
    stored = _stored(world["model_dir"], project)
    for a in made:
        task, choice, version = stored[a["id"]]
        assert task == a["task"] and choice == a["result"][0]["value"]["choices"][0] and version is not None
    jobs = _get(server, "/jobs", project=project)["jobs"]
    assert any(j["kind"] == "confirm" and j["state"] == "finished" for j in jobs)
    assert _get(server, "/health")["labels"] == {
        "confirmed": True, "pending_hints": 0,
        "how": "webhooks are hints; labels and tasks are read from Label Studio's API"}


def test_forged_webhooks_with_valid_credentials_change_nothing(world, digits):
    ls, server, project, tasks, model_dir = (world[k] for k in ("ls", "server", "project", "tasks", "model_dir"))
    stored = _stored(model_dir, project)
    assert len(stored) >= 3, "needs the labels of the previous test"
    real_id = max(stored)
    real_task, real_choice, _ = stored[real_id]
    lsproject = ls.api("GET", f"/api/projects/{project}/")
    before = (_rows(model_dir), _get(server, "/rankings", project=project))
    unlabelled = tasks[10]
    forged = [
        {"action": "ANNOTATION_CREATED", "project": lsproject, "task": unlabelled,
         "annotation": {"id": real_id + 5000, "task": unlabelled["id"], "updated_at": "2026-12-01T00:00:00Z",
                        "result": annotator.choice_result("digit", "image", "0")}},
        {"action": "ANNOTATION_UPDATED", "project": lsproject,
         "task": next(t for t in tasks if t["id"] == real_task),
         "annotation": {"id": real_id, "task": real_task, "updated_at": "2099-01-01T00:00:00Z",
                        "result": annotator.choice_result("digit", "image", _other(digits, real_choice))}},
        {"action": "ANNOTATIONS_DELETED", "project": lsproject,
         "annotations": [{"id": i} for i in range(real_id + 1, real_id + 2001)]},
        {"action": "TASKS_DELETED", "project": lsproject, "tasks": [{"id": tasks[1]["id"]}, {"id": 10 ** 9}]},
    ]
    for body in forged:
        answer = _post(server, "/webhook", body)
        assert answer["status"] == "ok" and answer["pending"] == 0, answer
    after = (_rows(model_dir), _get(server, "/rankings", project=project))
    assert after[0] == before[0]
    assert after[1]["candidates"] == before[1]["candidates"] and after[1]["model_version"] == before[1]["model_version"]
    # a genuine update through Label Studio, older than the forged stamp of 2099, still applies
    new_choice = _other(digits, real_choice)
    ls.api("PATCH", f"/api/annotations/{real_id}/",
           json={"result": annotator.choice_result("digit", "image", new_choice)})
    _wait("the genuine update", lambda: _stored(model_dir, project)[real_id][1] == new_choice)
    # genuine annotations get ids inside the forged-deleted range: they are stored
    made = [_annotate(ls, digits, task) for task in tasks[12:14]]
    assert all(real_id < a["id"] <= real_id + 2000 for a in made)
    _wait("annotations with 'deleted' ids", lambda: all(a["id"] in _stored(model_dir, project) for a in made))
    # a genuine import after the forged TASKS_DELETED is stored too
    extra = digits["tasks"][N_TASKS:N_TASKS + 2]
    ls.api("POST", f"/api/projects/{project}/import", json=extra)
    _wait("the re-import", lambda: _get(server, "/rankings", project=project)["tasks"] == N_TASKS + 2)


def test_labels_made_while_the_backend_was_down_arrive(world, digits):
    ls, server, project, tasks, model_dir = (world[k] for k in ("ls", "server", "project", "tasks", "model_dir"))
    server.stop()
    made = [_annotate(ls, digits, task) for task in tasks[20:22]]  # Label Studio's webhooks find no backend
    server = world["server"] = world["start"](world["env"], name="backend-confirm-2")
    assert not any(a["id"] in _stored(model_dir, project) for a in made)
    answer = _post(server, "/sync", project=project)
    assert answer["status"] == "ok" and answer["annotations_changed"] >= 2
    assert all(a["id"] in _stored(model_dir, project) for a in made)


def test_hints_acknowledged_while_label_studio_was_unreachable_are_confirmed_at_start(world, digits):
    ls, project, tasks, model_dir = (world[k] for k in ("ls", "project", "tasks", "model_dir"))
    world["server"].stop()
    closed = ports.free_port(19200, 19300)
    blind = world["start"]({**world["env"], "LABEL_STUDIO_URL": f"http://127.0.0.1:{closed}"},
                           name="backend-confirm-blind")                # same port, Label Studio unreachable
    made = _annotate(ls, digits, tasks[25])
    _wait("the hint acknowledged", lambda: _get(blind, "/health")["labels"]["pending_hints"] >= 1)
    assert made["id"] not in _stored(model_dir, project)
    blind.stop()
    server = world["server"] = world["start"](world["env"], name="backend-confirm-3")
    _wait("the pending hint confirmed at start", lambda: made["id"] in _stored(model_dir, project))
    assert _get(server, "/health")["labels"]["pending_hints"] == 0


def test_with_redis_and_an_rq_worker_the_webhook_answers_before_the_worker_confirms(
        label_studio, digits, start_backend, tmp_path_factory):
    """The production set-up (backend + Redis + rq worker): Label Studio's webhook only leaves a hint and a
    queued job; the worker reads Label Studio and stores the label; a forged label posted meanwhile never is."""
    from tests.support.redis_server import redis_server

    ls = label_studio
    work = tmp_path_factory.mktemp("confirm-rq")
    model_dir = work / "model_dir"
    with redis_server((19200, 19300), work) as redis_url:
        env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token, "MODEL_DIR": str(model_dir),
               "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_WRITEBACK": "false",
               "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD, "REDIS_URL": redis_url,
               "PORT": str(ports.free_port(19200, 19300)), "LOG_LEVEL": "INFO"}
        server = start_backend(env, name="backend-confirm-rq")
        project = annotator.create_project(ls, "confirmation with rq", digits["label_config"])
        ls.api("POST", "/api/ml/", json={"project": project, "url": server.url, "title": "ModelPicker",
                                         "auth_method": "BASIC_AUTH", "basic_auth_user": USER,
                                         "basic_auth_pass": PASSWORD})
        hooks = ls.api("GET", "/api/webhooks/", params={"project": project})
        hooks = hooks.get("results", hooks) if isinstance(hooks, dict) else hooks
        (hook,) = [h for h in hooks if h["url"].rstrip("/") == server.url + "/webhook"]
        ls.api("PATCH", f"/api/webhooks/{hook['id']}/", json={"headers": {"Authorization": HEADER}})
        annotator.import_tasks(ls, project, digits["tasks"][:10], digits["ref_field"])
        _wait("the import's hint", lambda: _get(server, "/health")["labels"]["pending_hints"] >= 1)
        assert _rows(model_dir, ("tasks",))["tasks"] == []       # no worker yet: nothing confirmed
        listing = ls.api("GET", "/api/tasks/", params={"project": project, "page_size": 100})
        tasks = sorted(listing["tasks"] if isinstance(listing, dict) else listing, key=lambda t: t["id"])
        made = _annotate(ls, digits, tasks[0])
        forged = {"action": "ANNOTATION_CREATED", "project": ls.api("GET", f"/api/projects/{project}/"),
                  "task": tasks[1], "annotation": {"id": made["id"] + 100, "task": tasks[1]["id"],
                                                   "result": annotator.choice_result("digit", "image", "0")}}
        answer = _post(server, "/webhook", forged)
        assert answer["status"] == "ok" and answer["pending"] >= 2 and answer["job"]
        worker = labelstudio.start_rq_worker(env, redis_url, work / "worker.log")
        try:
            _wait("the worker's confirmation", lambda: made["id"] in _stored(model_dir, project))
            _wait("every hint confirmed", lambda: _get(server, "/health")["labels"]["pending_hints"] == 0)
        finally:
            worker.stop()
        assert len(_rows(model_dir, ("tasks",))["tasks"]) == 10
        assert list(_stored(model_dir, project)) == [made["id"]]  # the forged label was never stored
        server.stop()

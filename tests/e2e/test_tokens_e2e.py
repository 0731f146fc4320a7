"""Label Studio's two kinds of API key, end to end: a real Label Studio 1.23.2 and the backend with write-back.

Label Studio 1.23.2 hands out a Personal Access Token by default (a JWT
refresh token, made here through its API: ``POST /api/token/``); the legacy
token works only because the test Label Studio runs with
``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``.  For each kind the backend is
started with that key as ``LABEL_STUDIO_API_KEY``; a small digits project is
connected, a few labels are given as an annotator would, and the test checks
that the labels reach the backend, that the queue follows a new priority
version after every label and that the ranking lands in the project
description.  A key Label Studio refuses (a Personal Access Token of another
Label Studio instance) shows in ``/health`` and as one log line, never as a
traceback; the labels then wait unconfirmed (a webhook is only a hint that
Label Studio's API must confirm) instead of being stored as sent.
"""
from __future__ import annotations

import time

import jwt
import pytest
import requests

from backend.description_block import BEGIN_MARKER, END_MARKER
from tests.support import annotator
from tests.support.labelstudio import log_tail

N_TASKS = 30
N_LABELS = 3
WAIT = 120.0


def _env(ls, digits, key: str, model_dir) -> dict:
    return {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": key, "MODEL_DIR": str(model_dir),
            "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_REFRESH_EVERY_LABELS": "1",
            "MODELPICKER_REFRESH_MIN_SECONDS": "0", "LOG_LEVEL": "INFO"}


def _settled(backend, project: int) -> list[dict]:
    """The project's job records once no refresh is queued or running."""
    deadline = time.monotonic() + WAIT
    while True:
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        if not any(j["kind"] == "refresh" and j["state"] in ("queued", "started") for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise AssertionError(f"a refresh still runs after {WAIT:.0f} s\n{log_tail(backend.log_path, 40)}")
        time.sleep(0.2)


def _label_next(ls, digits, project: int) -> None:
    """Answer the task Label Studio serves next, truthfully."""
    task = ls.api("GET", f"/api/projects/{project}/next/")
    assert task and "id" in task, "the queue ran empty"
    value = digits["labels"][task["data"][digits["ref_field"]]]
    ls.api("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": annotator.choice_result(
        "digit", "image", value)})


@pytest.fixture(scope="module", params=["personal access token", "legacy token"])
def run(request, label_studio, digits, start_backend, tmp_path_factory) -> dict:
    ls, kind = label_studio, request.param
    key = ls.personal_token if kind == "personal access token" else ls.token
    backend = start_backend(_env(ls, digits, key, tmp_path_factory.mktemp("model_dir")),
                            name=f"backend-{kind.split()[0]}")
    project, _ = annotator.set_up_project(ls, backend.url, f"digits, {kind}", digits["label_config"],
                                          digits["tasks"][:N_TASKS], digits["ref_field"])
    versions = [annotator.wait_for_queue_version(ls, backend, project)[0]]
    for n in range(1, N_LABELS + 1):
        _label_next(ls, digits, project)
        annotator.wait_for_labels(backend, project, n)
        versions.append(annotator.wait_for_queue_version(ls, backend, project)[0])
    jobs = _settled(backend, project)
    return {"kind": kind, "key": key, "backend": backend, "project": project, "versions": versions, "jobs": jobs,
            "settings": ls.api("GET", f"/api/projects/{project}/"),
            "ranking": backend.api("GET", "/rankings", params={"project": project}),
            "health": backend.api("GET", "/health")}


def test_the_personal_access_token_is_a_jwt_refresh_token(label_studio):
    claims = jwt.decode(label_studio.personal_token, options={"verify_signature": False})
    assert claims["token_type"] == "refresh"
    legacy = label_studio.session.get(label_studio.url + "/api/projects/",
                                      headers={"Authorization": f"Token {label_studio.personal_token}"})
    assert legacy.status_code == 401, "a PAT sent as a legacy token is refused (the bug this module guards)"


def test_the_test_label_studio_sends_nothing_off_the_machine(label_studio):
    """QUIET_ENV as a browser sees it: logged in, the app page loads no Sentry script and has no DSN."""
    ls = label_studio
    with requests.Session() as browser:
        browser.get(ls.url + "/user/login/", timeout=60)
        answer = browser.post(ls.url + "/user/login/", timeout=60, allow_redirects=True, data={
            "email": ls.username, "password": ls.password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": ls.url + "/user/login/"})
        page = browser.get(ls.url + "/projects/", timeout=60)
    assert answer.ok and page.ok and "/user/login" not in page.url, "the admin could not log in"
    assert "sentry_dsn: null" in page.text and "sentry-cdn" not in page.text
    assert "collect_analytics: false" in page.text
    assert "Update available" not in ls.log_path.read_text()


def test_labels_flow_and_the_queue_follows_every_refresh(run):
    assert run["ranking"]["labels"] == N_LABELS
    assert len(set(run["versions"])) == N_LABELS + 1, run["versions"]   # a new priority version per label
    assert run["settings"]["model_version"] == run["ranking"]["model_version"] == run["versions"][-1]
    assert run["settings"]["sampling"] == annotator.UNCERTAINTY
    refreshes = [j for j in run["jobs"] if j["kind"] == "refresh"]
    assert refreshes and all(j["state"] == "finished" for j in refreshes), refreshes


def test_the_ranking_lands_in_the_project_description(run):
    description = run["settings"]["description"]
    block = description[description.index(BEGIN_MARKER):description.index(END_MARKER)]
    for candidate in run["ranking"]["candidates"]:
        assert candidate["name"] in block
    used = run["ranking"]["candidates"][0]["labels"]
    assert "Decision: keep labelling" in block and f"Labels used: {used} |" in block and used >= 1


def test_health_and_log_name_the_token_kind_without_the_key(run):
    health = run["health"]["label_studio"]
    assert health["ok"] is True and health["problem"] is None and health["token"] == run["kind"]
    log = run["backend"].log_path.read_text()
    assert f"accepts the API key ({run['kind']})" in log
    assert run["key"] not in log and "Traceback" not in log


def test_a_refused_key_shows_in_health_and_as_one_log_line(label_studio, digits, start_backend, tmp_path_factory):
    ls = label_studio
    claims = jwt.decode(ls.personal_token, options={"verify_signature": False})
    foreign = jwt.encode(claims, "the-signing-key-of-another-label-studio", algorithm="HS256")
    backend = start_backend(_env(ls, digits, foreign, tmp_path_factory.mktemp("model_dir_refused")),
                            name="backend-refused-key")
    project, _ = annotator.set_up_project(ls, backend.url, "digits, refused key", digits["label_config"],
                                          digits["tasks"][:N_TASKS], digits["ref_field"])
    annotator.set_sampling(ls, project, annotator.SEQUENTIAL)
    for _ in (1, 2):
        _label_next(ls, digits, project)
    # the webhooks are acknowledged, but a label counts only once Label Studio's API confirms it
    # (backend.confirm): with a refused key the jobs fail naming the refusal and nothing is planted
    deadline = time.monotonic() + WAIT
    while True:
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        refused = [j for j in jobs if "unauthorized" in (j.get("message") or "")]
        if len(refused) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert refused, jobs
    assert backend.api("GET", "/rankings", params={"project": project})["labels"] == 0
    response = backend.session.get(backend.url + "/health", timeout=30)
    health = response.json()["label_studio"]
    assert health["ok"] is False and health["problem"] == "unauthorized"
    assert "HTTP 401" in health["error"] and "LABEL_STUDIO_API_KEY" in health["error"]
    assert foreign not in response.text
    log = backend.log_path.read_text()
    assert "Traceback" not in log and foreign not in log
    lines = [line for line in log.splitlines() if "[ERROR]" in line and "unauthorized" in line]
    assert len(lines) == 1, lines                                  # one line however many refreshes failed

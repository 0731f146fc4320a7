"""Issue 13 item 6: the whole loop through Label Studio 1.23.2's web UI, in a real Chromium (Playwright).

Label Studio is the session's (``label_studio``); the backend runs as ``python -m backend`` on the digits
example's pool, once without and once with basic auth.  Everything a person does goes through the UI:

1. the admin logs in, creates a project with the digits labelling config (Create > Labeling Setup >
   Custom template, the config pasted into the code editor), connects the backend in Settings > Model >
   Connect Model (with auth: Basic Authentication, user and password), and imports the demo's tasks
   with the Import dialog (a JSON file of the first ``N_TASKS`` tasks, Upload file, Import);
2. the annotator (the same user) clicks "Label All Tasks" and labels at a human pace (about
   ``SECONDS_PER_TASK`` per task) with the true digit: every other task by clicking the choice, the others
   by the choice's hotkey as Label Studio shows it; then Submit; until Label Studio has nothing left to
   serve, or ``MAX_LABELS``;
3. reloads the labelling stream (where the STOP should be shown), opens the backend's ranking page and
   Label Studio's project list.

Screenshots of each step go to ``.cache/browser-screens/<test id>/`` (ignored by git).  The page's
network traffic is recorded (:class:`tests.support.browser.NetworkLog`): each annotation submit with
its status and body, each next-task answer with the task served.  Label Studio's labelling stream asks
for the next task with ``POST /api/dm/actions?id=next_task`` (``GET /api/projects/<id>/next/`` is what
an API client calls; both are recorded).

What the issue asks to see, per run: no rejected submit; every label counted by the backend; at least
90% of the tasks served before the STOP decision are the top of the backend's order that included the
previous label (the refresh job whose ``result.labels`` is the number of labels before the task was
served names the order's first tasks in ``result.queue_top``); the STOP within ``MAX_LABELS`` labels
(epsilon ``EPSILON`` on ``N_TASKS`` tasks: an honest certified stop the digits demo reached at 20-22
labels here), no task served after it showed (those served while the queue empties are reported), Label
Studio's "No More Tasks Left in Queue" screen and, on reopening the stream, the STOP text (once); the
ranking page with the decision and its chart; the project card with the decision line.
"""
from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from playwright import sync_api

from tests.support import backend_process, browser
from tests.support.labelstudio import REPO_ROOT
from tests.support.polling import wait_until

#: tasks imported (the first of the digits example) and the certified stop's tolerance: the stop came at
#: 22 labels in the runs here (a guarantee of at most 3.8 points below the best candidate), within MAX_LABELS
N_TASKS, EPSILON = 80, 0.05
MAX_LABELS = 30
#: a person looks at the digit before answering
SECONDS_PER_TASK = 2.0
SHARE_TOP = 0.9
USER, PASSWORD = "modelpicker", "browser-e2e-Pa55word"
PORTS = (19200, 19300)
SCREENS = REPO_ROOT / ".cache" / "browser-screens"
#: how long the backend may take to count the last label and finish its jobs
WAIT = 30.0
#: the import's TASKS_CREATED webhook reaches the backend within a second or two (a minute under CI load)
IMPORT_WAIT = 30.0


def _backend_get(backend_url: str, path: str, auth, **params) -> dict:
    response = requests.get(backend_url + path, params=params, auth=auth, timeout=60)
    response.raise_for_status()
    return response.json()


def _iso(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture(scope="module", params=["auth_off", "auth_on"])
def run(request, label_studio, digits, tmp_path_factory) -> dict:
    """One whole run through the UI; returns what the page received and what the backend said."""
    ls = label_studio
    auth_on = request.param == "auth_on"
    auth = (USER, PASSWORD) if auth_on else None
    work = tmp_path_factory.mktemp(f"browser-{request.param}")
    tasks_file = work / f"digits-{N_TASKS}.json"
    tasks_file.write_text(json.dumps(digits["tasks"][:N_TASKS]))
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token, "MODEL_DIR": str(work / "state"),
           "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_EPSILON": str(EPSILON),
           "LOG_LEVEL": "INFO", **({"BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD} if auth_on else {})}
    (work / "state").mkdir()
    screens = browser.Screens(SCREENS / f"test_browser_e2e-{request.param}")
    out: dict = {"param": request.param, "auth": auth, "screens": screens.folder, "problems": []}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(backend_process.running("python", env, work / "backend.log", PORTS))
        out["backend"], out["backend_log"] = backend.url, backend.log_path
        playwright = stack.enter_context(sync_api.sync_playwright())
        chromium = browser.launch(playwright)
        stack.callback(chromium.close)
        page = chromium.new_page(viewport=browser.VIEWPORT)
        page.set_default_timeout(60_000)
        log = browser.NetworkLog()
        log.attach(page)
        out["log"] = log
        out["phases"] = {}
        for step, args in ((_admin_steps, (page, ls, backend, auth, tasks_file, digits, screens, out)),
                           (_annotator_steps, (page, ls, digits, screens, out)),
                           (_after_the_stop, (page, ls, backend.url, auth, screens, out)),
                           (_ranking_page_and_card, (chromium, ls, page, backend.url, auth, screens, out))):
            began = time.monotonic()
            step(*args)
            out["phases"][step.__name__.strip("_")] = round(time.monotonic() - began, 1)
        out["seconds"] = time.monotonic() - started
    out["unfinished_jobs"] = [{k: j.get(k) for k in ("kind", "state", "created_at", "run_after", "message")}
                              for j in out["jobs"] if j["state"] not in ("finished", "failed")]
    _write_record(out)
    return out


def _write_record(out: dict) -> None:
    """What the run saw, next to its screenshots (``run.json``), for the post-mortem."""
    log = out["log"]
    record = {
        "param": out["param"], "project": out["project"], "seconds": round(out["seconds"], 1),
        "labelled": out["labelled"], "problems": out["problems"], "phases": out["phases"],
        "unfinished_jobs": out["unfinished_jobs"],
        "backend_tasks_after_import": out["backend_tasks_after_import"],
        "submits": [{"task": s.task, "status": s.status, "at": s.at,
                     **({"body": s.body[:500]} if s.status != 201 else {})} for s in log.submits],
        "served": [vars(s) for s in log.served],
        "backend_log": str(out["backend_log"]), "first_confirms": _first_confirms(out["jobs"], 3),
        "refreshes": [{"labels": (j.get("result") or {}).get("labels"), "started_at": j["started_at"],
                       "finished_at": j["finished_at"],
                       "queue_top": (j.get("result") or {}).get("queue_top"),
                       "stop": ((j.get("result") or {}).get("decision") or {}).get("stop"),
                       "stopped_tasks": (j.get("result") or {}).get("stopped_tasks")}
                      for j in out["jobs"] if j["kind"] == "refresh"],
        "decision": out["ranking"]["decision"], "ranking_labels": out["ranking"]["labels"],
        "rounds": out["rounds"], "page_status": out["page_status"], "chart_width": out["chart_width"],
        "card_text": out["card_text"], "no_more_tasks_shown": out["no_more_tasks_shown"],
    }
    stop, shown = _stop_record(out), _stop_shown_at(out)
    if stop is not None and shown is not None:
        decided = _iso(stop["decided_at"])
        record["stop"] = {"decided_at": stop["decided_at"], "shown_seconds_after": round(shown - decided, 2),
                          "served_while_stopping": [(s.task, round(s.asked - decided, 2))
                                                    for s in log.tasks_served() if decided < s.asked <= shown]}
    (out["screens"] / "run.json").write_text(json.dumps(record, indent=1, default=str))


def _admin_steps(page, ls, backend, auth, tasks_file: Path, digits, screens, out: dict) -> None:
    browser.log_in(page, ls.url, ls.username, ls.password)
    screens.shot(page, "logged-in")
    project = browser.create_project(page, ls.url, f"Digits in a browser ({out['param']})", digits["label_config"])
    out["project"] = project
    screens.shot(page, "project-created")
    saved = ls.api("GET", f"/api/projects/{project}")["label_config"]
    assert saved.strip() == digits["label_config"].strip(), f"project {project} was saved with {saved[:300]!r}"
    out["connect"] = browser.connect_model(page, ls.url, project, backend.url, basic_auth=out["auth"])
    assert out["connect"]["status"] == 201, f"connecting the backend: {out['connect']}"
    page.wait_for_timeout(500)  # the form closes
    screens.shot(page, "model-connected")
    out["import"] = browser.import_file(page, ls.url, project, tasks_file)
    page.wait_for_load_state("networkidle")
    screens.shot(page, "tasks-imported")

    # Label Studio sends the import's TASKS_CREATED webhook; the backend reads the tasks back from Label Studio
    def known() -> int:
        return _backend_get(backend.url, "/rankings", auth, project=project)["tasks"]

    try:
        wait_until(lambda: known() == N_TASKS, "the imported tasks reaching the backend", IMPORT_WAIT)
    except TimeoutError:
        pass
    out["backend_tasks_after_import"] = known()
    if out["backend_tasks_after_import"] != N_TASKS:
        # recorded for test_backend_knows_every_task_imported_through_the_ui; the README's remedy for tasks the
        # backend did not hear about (the data manager's "Retrieve predictions", here through the API) lets the
        # rest of the run measure the queue and the STOP
        out["problems"].append(f"backend knew {out['backend_tasks_after_import']} of {N_TASKS} tasks after the "
                               "UI import; the rest of the run used Retrieve predictions")
        ls.api("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": project},
               json={"selectedItems": {"all": True}, "project": project})
        wait_until(lambda: known() == N_TASKS, "the tasks reaching the backend after Retrieve predictions", 60.0)


def _annotator_steps(page, ls, digits, screens, out: dict) -> None:
    """Label All Tasks, then label at a human pace until nothing is served or MAX_LABELS."""
    project, labels = out["project"], digits["labels"]
    page.goto(f"{ls.url}/projects/{project}/data")
    page.wait_for_load_state("networkidle")
    with page.expect_response(browser.is_next) as first:
        browser.press(page.get_by_text("Label All Tasks", exact=True))
    answer = first.value
    labelled = 0
    out["label_started"] = time.time()
    while answer.status == 200 and labelled < MAX_LABELS:
        task = answer.json()
        if "id" not in task:
            break
        value = labels[task["data"][digits["ref_field"]]]
        by_hotkey = labelled % 2 == 1
        # the person looks at the digit; choosing, the screenshot and the submit take the rest of the time
        page.wait_for_timeout(SECONDS_PER_TASK * 1000 * 0.55)
        browser.choose(page, value, by_hotkey)
        screens.shot(page, f"label-{labelled + 1:02d}-task-{task['id']}-{value}-{'key' if by_hotkey else 'click'}")
        try:
            with page.expect_response(browser.is_next, timeout=30_000) as nxt:
                with page.expect_response(browser.is_submit) as submitted:
                    browser.submit_button(page).click()
        except sync_api.TimeoutError:  # a refused submit leaves the editor on the task: recorded by the log
            out["problems"].append(f"no next task asked for within 30 s of submitting task {task['id']}")
            screens.shot(page, f"label-{labelled + 1:02d}-stuck")
            break
        labelled += 1
        if submitted.value.status != 201:
            out["problems"].append(f"submit of task {task['id']} answered {submitted.value.status}")
        answer = nxt.value
    out["label_finished"] = time.time()
    out["labelled"] = labelled
    page.wait_for_timeout(1000)
    out["no_more_tasks_shown"] = page.get_by_text(browser.NO_MORE_TASKS).count() > 0
    screens.shot(page, "after-last-label")


def _after_the_stop(page, ls, backend_url: str, auth, screens, out: dict) -> None:
    """Wait for the backend's decision to settle, then reopen the labelling stream."""
    project = out["project"]

    def settled():
        jobs = _backend_get(backend_url, "/jobs", auth, project=project, limit=1000)["jobs"]
        if any(j["state"] in ("queued", "started") for j in jobs):
            return None
        ranking = _backend_get(backend_url, "/rankings", auth, project=project)
        return (jobs, ranking) if ranking["labels"] >= len(out["log"].accepted) else None

    try:
        out["jobs"], out["ranking"] = wait_until(settled, "the backend counting every label, no job running", WAIT)
    except TimeoutError:
        out["problems"].append(f"the backend had a job queued or running, or fewer labels, {WAIT:.0f} s after the "
                               "last label")
        out["jobs"] = _backend_get(backend_url, "/jobs", auth, project=project, limit=1000)["jobs"]
        out["ranking"] = _backend_get(backend_url, "/rankings", auth, project=project)
    out["rounds"] = _backend_get(backend_url, "/rounds", auth, project=project)
    out["project_settings"] = ls.api("GET", f"/api/projects/{project}/")
    # the annotator comes back: the stream opens from the data manager again
    page.goto(f"{ls.url}/projects/{project}/data")
    page.wait_for_load_state("networkidle")
    with page.expect_response(browser.is_next) as again:
        browser.press(page.get_by_text("Label All Tasks", exact=True))
    out["reopened_answer"] = again.value.status
    page.wait_for_timeout(1500)
    out["reopened_text"] = page.locator("body").inner_text()
    screens.shot(page, "stream-reopened")
    page.reload()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    out["reloaded_text"] = page.locator("body").inner_text()
    screens.shot(page, "stream-reloaded")


def _ranking_page_and_card(chromium, ls, page, backend_url: str, auth, screens, out: dict) -> None:
    context = chromium.new_context(viewport=browser.VIEWPORT,
                                   http_credentials={"username": auth[0], "password": auth[1]} if auth else None)
    try:
        ranking = context.new_page()
        answer = ranking.goto(f"{backend_url}/page?project={out['project']}")
        ranking.wait_for_load_state("load")
        out["page_status"] = answer.status if answer else None
        out["page_text"] = ranking.locator("body").inner_text() if answer and answer.ok else ""
        charts = ranking.locator("img[src*='chart.png']")
        out["chart_width"] = charts.first.evaluate("img => img.naturalWidth") if charts.count() else 0
        screens.shot(ranking, "ranking-page")
    finally:
        context.close()
    page.goto(f"{ls.url}/projects/")
    page.wait_for_load_state("networkidle")
    card = page.locator("a[href*='/projects/']").filter(has_text=f"Digits in a browser ({out['param']})")
    out["card_text"] = card.first.inner_text() if card.count() else ""
    screens.shot(page, "project-list")


# ------------------------------------------------------------------ what the run must show
def _stop_record(run: dict) -> dict | None:
    """The backend's first STOP record of the round (``/rounds``: ``labels``, ``decided_at``)."""
    records = [d for r in run["rounds"]["rounds"] for d in r["decisions"] if d.get("state") == "stop"]
    return min(records, key=lambda d: _iso(d["decided_at"])) if records else None


def _first_confirms(jobs: list[dict], n: int = 2) -> list[dict]:
    confirms = sorted((j for j in jobs if j["kind"] == "confirm"), key=lambda j: _iso(j["created_at"]))
    return [{k: j.get(k) for k in ("created_at", "state", "message", "result")} for j in confirms[:n]]


def test_the_admin_set_up_the_project_through_the_ui(run):
    assert run["connect"]["status"] == 201, run["connect"]
    assert run["connect"]["body"]["auth_method"] == ("BASIC_AUTH" if run["auth"] else "NONE")
    assert run["import"]["status"] == 201, run["import"]
    assert run["project_settings"]["task_number"] == N_TASKS


def test_backend_knows_every_task_imported_through_the_ui(run):
    assert run["backend_tasks_after_import"] == N_TASKS, (
        f"after the Import dialog the backend knew {run['backend_tasks_after_import']} of {N_TASKS} tasks "
        f"(its first confirm jobs: {_first_confirms(run['jobs'])})")


def test_no_submit_was_rejected(run):
    log = run["log"]
    assert log.submits, "no submit was made"
    assert log.rejected == [], [(s.task, s.status, s.body[:300]) for s in log.rejected]


def test_every_label_is_counted_by_the_backend(run):
    accepted = len(run["log"].accepted)
    assert accepted == run["labelled"]
    assert run["ranking"]["labels"] == accepted, (run["ranking"]["labels"], accepted)


def test_the_backend_settles_after_the_last_label(run):
    """Every confirmation and refresh finished (a job left "started" is one that died: its webhook got a 500)."""
    unfinished = run["unfinished_jobs"]
    assert unfinished == [], (f"{len(unfinished)} jobs unfinished {WAIT:.0f} s after the last label, e.g. "
                              f"{unfinished[:3]}; backend log: {run['backend_log']}")


def _switched(job: dict) -> float:
    """When the refresh switched Label Studio's queue (its end when it did not record it)."""
    return (job.get("result") or {}).get("switched_at") or _iso(job["finished_at"])


def test_served_tasks_are_the_top_of_the_backends_order(run):
    """Up to the STOP decision: from then on there is no order, the queue is being emptied one task at a time
    and what it serves meanwhile is reported by the STOP's own test (``served_while_stopping``)."""
    refreshes = [j for j in run["jobs"] if j["kind"] == "refresh" and j["state"] == "finished"]
    stop = _stop_record(run)
    decided = _iso(stop["decided_at"]) if stop is not None else float("inf")
    served = [s for s in run["log"].tasks_served() if s.asked <= decided]
    assert len(served) >= 10, f"only {len(served)} tasks served before the STOP decision"
    verdicts = []
    for k, step in enumerate(served, start=1):
        # the latest order Label Studio switched to before the task was served that already counted the k-1
        # labels before it (the switch, not the refresh's end: the description and clean-up come after it)
        orders = [j for j in refreshes if (j.get("result") or {}).get("labels") == step.after_submits
                  and _switched(j) <= step.asked]
        top = (max(orders, key=_switched)["result"].get("queue_top") or [None])[0] if orders else None
        verdicts.append((k, step.task, top, step.task == top))
    share = sum(v[3] for v in verdicts) / len(verdicts) if verdicts else 0.0
    assert share >= SHARE_TOP, f"{share:.0%} of served tasks were the top (served, task, top, ok): {verdicts}"


def _stop_shown_at(run: dict) -> float | None:
    """When the STOP first showed: the end of the first refresh that stopped (it empties the queue, then keeps
    the ranking for /rankings and writes the description and the instructions)."""
    ends = [_iso(j["finished_at"]) for j in run["jobs"] if j["kind"] == "refresh" and j["state"] == "finished"
            and ((j.get("result") or {}).get("decision") or {}).get("stop")]
    return min(ends) if ends else None


def test_stop_comes_within_the_labels_and_nothing_is_served_after_it(run):
    """Label Studio 1.23.2 has no pause: the queue empties one task at a time (a PATCH each), and serves what is
    left meanwhile.  So the STOP shows only once the queue is empty; the tasks served between the deciding
    label and that moment are reported (``run.json``: ``served_while_stopping``), not hidden."""
    ranking, description = run["ranking"], run["project_settings"]["description"]
    assert ranking["decision"]["stop"], f"no STOP after {run['labelled']} labels: {ranking['decision']}"
    assert "Decision: STOP LABELLING" in description, description[:500]
    stop = _stop_record(run)
    assert stop is not None and stop["labels"] <= MAX_LABELS, run["rounds"]
    shown_at = _stop_shown_at(run)
    assert shown_at is not None, "no finished refresh says STOP"
    after = [(s.task, round(s.asked - shown_at, 2)) for s in run["log"].tasks_served() if s.asked > shown_at]
    stop_jobs = [(j["started_at"], j["finished_at"], j["result"].get("stopped_tasks")) for j in run["jobs"]
                 if j["kind"] == "refresh" and j["state"] == "finished" and j["result"]["decision"]["stop"]]
    assert after == [], (f"tasks served after the STOP showed (task, seconds after): {after}; decided at "
                         f"{stop['decided_at']}; STOP refreshes (started, finished, tasks taken out): {stop_jobs}")
    assert run["no_more_tasks_shown"], "the labelling screen did not show Label Studio's 'No More Tasks Left in Queue'"


def test_the_annotator_sees_the_stop_on_reopening(run):
    assert "STOP LABELLING" in run["reopened_text"], run["reopened_text"][:1000]
    assert "STOP LABELLING" in run["reloaded_text"], run["reloaded_text"][:1000]
    assert browser.NO_MORE_TASKS in run["reloaded_text"] or browser.NO_MORE_TASKS in run["reopened_text"]


def test_the_stop_text_is_shown_once(run):
    instructions = run["project_settings"]["expert_instruction"]
    assert instructions.count("STOP LABELLING") == 1, instructions


def test_the_ranking_page_shows_the_decision_and_its_chart(run):
    assert run["page_status"] == 200, f"GET /page answered {run['page_status']}"
    assert "STOP LABELLING" in run["page_text"], run["page_text"][:1000]
    assert run["chart_width"] > 0, "the chart image did not load"


def test_the_project_card_shows_the_decision_line(run):
    line = next((x for x in run["project_settings"]["description"].splitlines() if x.startswith("Decision:")), None)
    assert line is not None and line.startswith("Decision: STOP LABELLING"), line
    assert re.sub(r"\s+", " ", line)[:60] in re.sub(r"\s+", " ", run["card_text"]), run["card_text"][:500]

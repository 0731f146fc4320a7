"""Issue 4, end to end: a whole round inside a real Label Studio, with Redis and an rq worker process.

Processes (all on 127.0.0.1, stopped at the end): the test session's Label Studio 1.23.2
(fixture ``label_studio``; this module works in its own projects), a Debian ``redis-server``
with a temporary directory and no persistence (``tests/support/redis_server.py``), ``rq worker --with-scheduler`` on the
queue ``modelpicker``, and ``python -m backend`` with ``REDIS_URL``, so every
refresh runs in the worker process, not in the webhook request.

The digits example (400 tasks, 13 candidates; ``examples/digits/make_example.py``)
is imported into a project whose description already holds an admin's text.
Then a simulated annotator asks Label Studio for its next task and answers it
with the held-back true label, and after each label waits until the backend's
refresh has switched the project to the new priority version (one refresh
period).  Checked on the way and at the end:

* every served task is the top of the backend's refreshed order (the lowest
  priority score among the unlabelled tasks of the project's model version);
* superseded priority versions are removed; only one priority version is left;
* every candidate's predictions are in Label Studio under its name
  (``MODELPICKER_WRITE_CANDIDATES=true``), without disturbing the queue;
* the description shows the ranking between its marker lines, with the admin's
  text kept, and says "STOP LABELLING" once P(best) >= 0.95, naming the true best;
* GET /rounds holds the decision; the export (GET /export and
  ``python -m backend export``) names the true best, and Label Studio imports
  its predictions.json;
* a fresh batch imported after the decision starts round 2.

Timings per refresh go to ``.cache/e2e-results/round_e2e.json`` (untracked).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support import annotator
from tests.support.labelstudio import REPO_ROOT, backend_python, log_tail, start_backend, start_rq_worker
from tests.support.redis_server import redis_server

N_TASKS = 400
SEED = 0
CONFIDENCE = 0.95
#: MODELPICKER_MIN_LABELS: with the consensus strategy P(best) passes 0.95 after one label on this
#: example, so the guard keeps the round going long enough to check the queue over several labels
MIN_LABELS = 6
MAX_LABELS = 40
#: seconds one refresh (push 100 priorities, switch, delete the old ones, write the ranking) may take
REFRESH_PERIOD_LIMIT = 90.0
#: MODELPICKER_PUSH_LIMIT (the default): each refresh pushes priorities for the 100 tasks served first
PUSH_LIMIT = 100
BACKEND_PORTS, REDIS_PORTS = (19400, 19500), (16400, 16500)
ADMIN_TEXT = "Label each digit as shown.\nAsk the team lead when an image is unreadable."
#: the run's figures, written under the untracked .cache/ (tests write no tracked file)
RESULTS_PATH = Path(os.environ.get("MODELPICKER_ROUND_E2E_RESULTS",
                                   REPO_ROOT / ".cache" / "e2e-results" / "round_e2e.json"))
BEGIN = "=== ModelPicker ranking: begin"


@pytest.fixture(scope="module")
def stack(label_studio, digits, tmp_path_factory):
    """The session's Label Studio, redis-server, an rq worker process and the backend; yields their handles."""
    assert len(digits["tasks"]) == N_TASKS and digits["summary"]["true_best_unique"]
    logs = tmp_path_factory.mktemp("round-logs")
    started: list = []
    ls = label_studio
    with redis_server(REDIS_PORTS, tmp_path_factory.mktemp("redis")) as redis_url:
        try:
            model_dir = tmp_path_factory.mktemp("model_dir")
            env = {
                "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token, "MODEL_DIR": str(model_dir),
                "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_SEED": str(SEED),
                "MODELPICKER_CONFIDENCE": str(CONFIDENCE), "REDIS_URL": redis_url, "LOG_LEVEL": "INFO",
                # this module checks the round mechanics with the P(best) rule (a belief); the certified
                # stop, the default, has its own module (test_certified_e2e.py)
                "MODELPICKER_STRATEGY": "consensus", "MODELPICKER_STOP_RULE": "belief",
                "MODELPICKER_REFRESH_EVERY_LABELS": "1", "MODELPICKER_MIN_LABELS": str(MIN_LABELS),
                "MODELPICKER_PATIENCE": "1",  # stop at the first refresh at the level; patience has unit tests
                "MODELPICKER_WRITE_CANDIDATES": "true", "MODELPICKER_PUSH_LIMIT": str(PUSH_LIMIT),
                # superseded priorities go at once (the grace period has its unit tests), so the test can see it
                "MODELPICKER_PRIORITY_GRACE_SECONDS": "0",
            }
            worker = start_rq_worker(env, redis_url, logs / "rq-worker.log")
            started.append(worker)
            backend = start_backend(env, logs / "backend.log", port_range=BACKEND_PORTS)
            started.append(backend)
            yield {"ls": ls, "backend": backend, "worker": worker, "redis_url": redis_url, "env": env, "logs": logs}
        finally:
            for item in reversed(started):
                item.stop()


def _logs(stack) -> str:
    return "\n".join(f"--- {name} ---\n{log_tail(stack['logs'] / name, 40)}"
                     for name in ("backend.log", "rq-worker.log"))


def _wait_refreshed(stack, project: int, n_labels: int, timeout: float = REFRESH_PERIOD_LIMIT) -> dict:
    """Wait until the backend counts ``n_labels`` and Label Studio follows its version, and no refresh is pending.

    Returns ``{"version", "ranking", "seconds", "switched_seconds", "job"}``: seconds from the call until
    Label Studio's project follows the new version, and until the refresh job (deletion included) finished.
    """
    ls, backend = stack["ls"], stack["backend"]
    start = time.monotonic()
    switched = None
    while True:
        if switched is None:
            now = backend.api("GET", "/rankings", params={"project": project})
            if now["labels"] == n_labels and \
                    ls.api("GET", f"/api/projects/{project}/")["model_version"] == now["model_version"]:
                switched = time.monotonic() - start
        ranking = backend.api("GET", "/rankings", params={"project": project})
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        pending = [j for j in jobs if j["kind"] == "refresh" and j["state"] in ("queued", "started")]
        failed = [j for j in jobs if j["kind"] == "refresh" and j["state"] == "failed"]
        assert not failed, f"refresh failed: {failed[0]['message']}\n{_logs(stack)}"
        if ranking["labels"] == n_labels and not pending:
            current = ls.api("GET", f"/api/projects/{project}/")["model_version"]
            # on STOP the queue is emptied instead of switched: no new version
            if current == ranking["model_version"] or ranking["decision"]["stop"]:
                return {"version": current, "ranking": ranking, "seconds": time.monotonic() - start,
                        "switched_seconds": switched if switched is not None else time.monotonic() - start,
                        "job": next(j for j in jobs if j["kind"] == "refresh" and j["state"] == "finished")}
        if time.monotonic() - start > timeout:
            raise AssertionError(f"no finished refresh for {n_labels} labels within {timeout:.0f} s "
                                 f"(backend version {ranking['model_version']}, jobs {jobs[:3]})\n{_logs(stack)}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def round_run(stack, digits, tmp_path_factory) -> dict:
    """Create the project, connect the backend, import the tasks, annotate until the stop signal."""
    ls, backend = stack["ls"], stack["backend"]
    ref, labels = digits["ref_field"], digits["labels"]
    project = annotator.create_project(ls, "digits, one round", digits["label_config"])
    ls.api("PATCH", f"/api/projects/{project}/", json={"description": ADMIN_TEXT})
    annotator.connect_backend(ls, project, backend.url)
    ids = annotator.import_tasks(ls, project, digits["tasks"], ref)
    first = _wait_refreshed(stack, project, 0)
    description_before = ls.api("GET", f"/api/projects/{project}/")["description"]
    steps, refresh_seconds, switch_seconds = [], [], []
    stopped = False
    labelled: set[int] = set()
    while len(steps) < MAX_LABELS:
        version = ls.api("GET", f"/api/projects/{project}/")["model_version"]
        scores = annotator.prediction_scores(ls, project, version)
        task = ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404))
        assert task and "id" in task, "the queue ran empty"
        task_id = int(task["id"])
        unlabelled = {t: s for t, s in scores.items() if t not in labelled}
        steps.append({"task": task_id, "version": version, "score": scores.get(task_id),
                      "lowest": min(unlabelled.values()) if unlabelled else None,
                      "n_unlabelled_with_priority": len(unlabelled)})
        ls.api("POST", f"/api/tasks/{task_id}/annotations/",
               json={"result": annotator.choice_result("digit", "image", labels[task["data"][ref]]),
                     "lead_time": 1.0})
        labelled.add(task_id)
        done = _wait_refreshed(stack, project, len(steps))
        refresh_seconds.append(done["seconds"])
        switch_seconds.append(done["switched_seconds"])
        steps[-1].update(p_best=done["ranking"]["decision"]["p_best"], top=done["ranking"]["candidates"][0]["name"],
                         push_seconds=done["job"]["result"]["seconds"])
        description = ls.api("GET", f"/api/projects/{project}/")["description"]
        if "STOP LABELLING" in description:
            stopped = True
            break
    final = ls.api("GET", f"/api/projects/{project}/")
    after_stop = {"next": ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404)),
                  "instruction": final["expert_instruction"]}
    result = {"project": project, "ids": ids, "first": first, "steps": steps, "stopped": stopped,
              "after_stop": after_stop,
              "description_before": description_before, "description": final["description"],
              "ranking": backend.api("GET", "/rankings", params={"project": project}),
              "model_versions": ls.api("GET", f"/api/projects/{project}/model-versions/"),
              "refresh_seconds": refresh_seconds, "switch_seconds": switch_seconds}
    _write_results(result, digits)
    return result


def _write_results(result: dict, digits: dict) -> None:
    seconds = sorted(result["refresh_seconds"])
    switched = sorted(result["switch_seconds"])
    record = {
        "what": "one round in a real Label Studio: refresh on an rq worker after every label, until the stop signal",
        "produced_by": "python -m pytest tests/e2e/test_round_e2e.py",
        "n_tasks": N_TASKS, "seed": SEED, "confidence": CONFIDENCE,
        "true_best": digits["summary"]["true_best"],
        "labels_until_stop": len(result["steps"]), "stopped": result["stopped"],
        "chosen": result["ranking"]["decision"]["candidate"],
        "min_labels": MIN_LABELS,
        "label_to_queue_switched_seconds": {"median": switched[len(switched) // 2] if switched else None,
                                            "max": switched[-1] if switched else None,
                                            "all": result["switch_seconds"]},
        "label_to_refresh_finished_seconds": {"median": seconds[len(seconds) // 2] if seconds else None,
                                              "max": seconds[-1] if seconds else None,
                                              "all": result["refresh_seconds"]},
        "refresh_job_seconds": [s.get("push_seconds") for s in result["steps"]],
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(record, indent=2) + "\n")


def test_initial_refresh_orders_the_tasks_served_first(round_run):
    job = round_run["first"]["job"]["result"]
    assert job["pushed"] == min(PUSH_LIMIT, N_TASKS)
    assert round_run["first"]["version"].startswith(f"modelpicker-p{round_run['project']}-")


def test_each_served_task_is_the_top_of_the_refreshed_order(round_run):
    steps = round_run["steps"]
    assert len(steps) >= 2
    for i, step in enumerate(steps):
        assert step["score"] is not None, f"step {i}: task {step['task']} has no priority of {step['version']}"
        assert step["score"] == step["lowest"], f"step {i}: served score {step['score']}, lowest {step['lowest']}"
        assert step["n_unlabelled_with_priority"] == min(PUSH_LIMIT, N_TASKS - i), f"step {i}: priorities missing"
    versions = [s["version"] for s in steps]
    assert len(set(versions)) == len(versions), "the queue version did not change after every label"


def test_superseded_priority_versions_are_removed(round_run):
    """Until the STOP one priority version at a time (each step above saw only the current one's
    priorities); after it none: the queue is emptied, not ordered."""
    project = round_run["project"]
    priority = [v for v in round_run["model_versions"] if v.startswith(f"modelpicker-p{project}-")]
    assert round_run["stopped"] and priority == [], round_run["model_versions"]


def test_after_the_stop_no_task_is_served_and_the_instructions_say_stop(round_run, digits):
    after = round_run["after_stop"]
    assert after["next"].get("status_code") == 404, f"a task was served after the STOP: {after['next']}"
    assert f"STOP LABELLING: {digits['summary']['true_best']} chosen" in after["instruction"]


def test_every_candidates_predictions_are_in_label_studio_under_its_name(round_run, digits):
    """MODELPICKER_WRITE_CANDIDATES=true; the queue checks above ran with these predictions present."""
    versions = round_run["model_versions"]
    for candidate in digits["summary"]["candidates"]:
        assert versions.get(candidate["name"]) == N_TASKS, (candidate["name"], versions)


def test_description_shows_the_ranking_and_keeps_the_admins_text(round_run, digits):
    before, after = round_run["description_before"], round_run["description"]
    for text in (before, after):
        assert text.startswith(ADMIN_TEXT) and BEGIN in text and "=== ModelPicker ranking: end ===" in text
        for candidate in digits["summary"]["candidates"]:
            assert candidate["name"] in text
    assert "Decision: keep labelling" in before


def test_stop_signal_names_the_true_best(round_run, digits):
    assert round_run["stopped"], f"no stop signal after {MAX_LABELS} labels: {round_run['ranking']['decision']}"
    decision = round_run["ranking"]["decision"]
    assert decision["stop"] and decision["p_best"] >= CONFIDENCE
    true_best = digits["summary"]["true_best"]
    assert decision["candidate"] == true_best
    assert f"STOP LABELLING: {true_best} chosen" in round_run["description"]
    # the stop came with the first refresh that had P(best) >= confidence and MIN_LABELS labels
    steps = round_run["steps"]
    assert len(steps) >= MIN_LABELS
    assert all(s["p_best"] < CONFIDENCE for s in steps[MIN_LABELS - 1:-1])


def test_rounds_hold_the_decision(stack, round_run, digits):
    rounds = stack["backend"].api("GET", "/rounds", params={"project": round_run["project"]})
    assert rounds["current_round"] == 1
    decision = rounds["rounds"][0]["decision"]
    assert rounds["rounds"][0]["state"] == "decided" and decision["state"] == "stop"
    assert decision["candidate"] == digits["summary"]["true_best"] and decision["labels"] == len(round_run["steps"])


def test_export_files_name_the_true_best_and_label_studio_imports_the_predictions(stack, round_run, digits, tmp_path):
    backend, ls, project = stack["backend"], stack["ls"], round_run["project"]
    true_best = digits["summary"]["true_best"]
    bundle = backend.api("GET", "/export", params={"project": project})
    assert bundle["decision"]["chosen"] == true_best and bundle["decision"]["stopped"]
    assert bundle["decision"]["pool_entry"]["name"] == true_best
    out = tmp_path / "export"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({k: stack["env"][k] for k in ("MODEL_DIR", "MODELPICKER_POOL", "MODELPICKER_SEED")})
    cli = subprocess.run([backend_python(), "-m", "backend", "export", "--project", str(project), "--out", str(out)],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    for name in ("decision.json", "ranking.csv", "ranking.json", "predictions.json"):
        assert (out / name).is_file(), name
    decision = json.loads((out / "decision.json").read_text())
    assert decision["chosen"] == true_best and decision["evidence"]["p_best"] >= CONFIDENCE
    assert (out / "ranking.csv").read_text().splitlines()[1].split(",")[1] == true_best
    assert json.loads((out / "ranking.json").read_text())[0]["name"] == true_best
    bad = subprocess.run([backend_python(), "-m", "backend", "export", "--project", "999",
                          "--out", str(tmp_path / "x")],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "project 999 is unknown" in bad.stderr
    # Label Studio accepts predictions.json as a task import with pre-annotations
    predictions = json.loads((out / "predictions.json").read_text())
    assert len(predictions) == N_TASKS
    target = annotator.create_project(ls, "digits, pre-annotated", digits["label_config"])
    answer = ls.api("POST", f"/api/projects/{target}/import", json=predictions)
    assert answer["task_count"] == N_TASKS and answer.get("prediction_count") == N_TASKS, answer
    versions = ls.api("GET", f"/api/projects/{target}/model-versions/")
    assert versions.get(true_best) == N_TASKS, versions


def test_webhook_answer_and_versions_endpoint(stack, round_run):
    backend = stack["backend"]
    answer = requests.get(backend.url + "/versions", timeout=10)
    assert answer.status_code == 200 and round_run["ranking"]["model_version"] in answer.json()["versions"]


def test_a_fresh_batch_after_the_decision_starts_round_two(stack, round_run, digits):
    ls, backend, project = stack["ls"], stack["backend"], round_run["project"]
    batch = [{"data": {**t["data"], digits["ref_field"]: "round2-" + t["data"][digits["ref_field"]]}}
             for t in digits["tasks"][:30]]
    answer = ls.api("POST", f"/api/projects/{project}/import", json=batch)
    assert answer["task_count"] == 30
    deadline = time.monotonic() + REFRESH_PERIOD_LIMIT
    while True:
        ranking = backend.api("GET", "/rankings", params={"project": project})
        if ranking["round"] == 2 and ranking["tasks"] == 30:
            break
        assert time.monotonic() < deadline, f"round 2 did not start: {ranking}\n{_logs(stack)}"
        time.sleep(0.2)
    rounds = backend.api("GET", "/rounds", params={"project": project})
    assert rounds["current_round"] == 2 and [r["state"] for r in rounds["rounds"]] == ["decided", "open"]
    assert rounds["rounds"][0]["decision"]["candidate"] == digits["summary"]["true_best"]
    assert ranking["labels"] == 0 and not ranking["decision"]["stop"]

"""Issue 15, end to end on PostgreSQL: the product's main flow against Label Studio 1.23.2 whose
database is on PostgreSQL (its own settings ``DJANGO_DB=default``, ``POSTGRE_*``), not SQLite.

Processes (all on 127.0.0.1, stopped at the end): a throw-away PostgreSQL cluster and a Label Studio
migrated into it (session fixture ``label_studio_pg``, started only for tests that ask for it), and
``python -m backend`` with its queue write-back on, refreshing after every label (inline jobs, no Redis).

The digits example (400 tasks, 13 candidates) is imported into a project whose description holds an
admin's text; a simulated annotator asks Label Studio for its next task and answers it with the
held-back true label until the description says STOP, waiting after each label until the backend's
refresh (push 100 priorities, switch, delete the superseded ones, write the ranking) finished.
Checked:

* every label is counted: the backend's label count, Label Studio's annotations and the rows of its
  annotation table in PostgreSQL all equal the labels given;
* every served task is the top of the order the backend pushed last (the lowest priority score among
  the unlabelled tasks of the project's model version), and the version changed with every label;
* superseded priorities are deleted: while labelling, only the current priority version is in Label
  Studio (PostgreSQL's prediction table agrees); after the STOP none is left;
* STOP appears in the description (naming the true best, the admin's text kept) and ``/next/``
  answers 404 afterwards.

Label Studio's start time (migrations on an empty database) and the run's figures go to
``.cache/e2e-results/labelstudio_postgres_e2e.json`` (untracked).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support import annotator
from tests.support.labelstudio import LS_VERSION, REPO_ROOT, log_tail

SEED = 0
CONFIDENCE = 0.95
#: MODELPICKER_MIN_LABELS: with the consensus strategy P(best) passes 0.95 after one label on this
#: example, so the guard keeps the round going long enough to check the queue over several labels
MIN_LABELS = 6
MAX_LABELS = 30
#: MODELPICKER_PUSH_LIMIT (the default): each refresh pushes priorities for the 100 tasks served first
PUSH_LIMIT = 100
#: seconds one refresh may take
REFRESH_LIMIT = 90.0
ADMIN_TEXT = "Label each digit as shown.\nAsk the team lead when an image is unreadable."
RESULTS_PATH = Path(os.environ.get("MODELPICKER_PG_E2E_RESULTS",
                                   REPO_ROOT / ".cache" / "e2e-results" / "labelstudio_postgres_e2e.json"))


def _pg_rows(ls, sql: str, *params) -> list[tuple]:
    """Rows of a query on Label Studio's own PostgreSQL database."""
    import psycopg

    with psycopg.connect(ls.database_url, connect_timeout=10) as db:
        return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def backend_pg(label_studio_pg, digits, start_backend, tmp_path_factory):
    ls = label_studio_pg
    return start_backend({
        "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token,
        "MODEL_DIR": str(tmp_path_factory.mktemp("model_dir_pg")),
        "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "MODELPICKER_SEED": str(SEED),
        # the queue mechanics are checked with the deterministic consensus order and its P(best) rule (as in
        # test_round_e2e.py); the certified stop has its own module
        "MODELPICKER_STRATEGY": "consensus", "MODELPICKER_STOP_RULE": "belief",
        "MODELPICKER_CONFIDENCE": str(CONFIDENCE), "MODELPICKER_MIN_LABELS": str(MIN_LABELS),
        "MODELPICKER_PATIENCE": "1",
        "MODELPICKER_WRITEBACK": "true", "MODELPICKER_PUSH_LIMIT": str(PUSH_LIMIT),
        "MODELPICKER_REFRESH_EVERY_LABELS": "1", "MODELPICKER_REFRESH_MIN_SECONDS": "0",
        # superseded priorities go at once (the grace period has its unit tests), so the test can see it
        "MODELPICKER_PRIORITY_GRACE_SECONDS": "0",
        "LOG_LEVEL": "INFO",
    }, name="backend-postgres")


def _wait_refreshed(ls, backend, project: int, n_labels: int) -> dict:
    """The ranking once the backend counts ``n_labels``, no refresh is queued or running, and Label Studio
    follows the backend's priority version (on STOP the queue is emptied instead)."""
    deadline = time.monotonic() + REFRESH_LIMIT
    while True:
        ranking = backend.api("GET", "/rankings", params={"project": project})
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        busy = any(j["kind"] == "refresh" and j["state"] in ("queued", "started") for j in jobs)
        failed = [j for j in jobs if j["kind"] == "refresh" and j["state"] == "failed"]
        assert not failed, f"refresh failed: {failed[0]['message']}\n{log_tail(backend.log_path, 40)}"
        if ranking["labels"] == n_labels and not busy and (ranking["decision"]["stop"] or ls.api(
                "GET", f"/api/projects/{project}/")["model_version"] == ranking["model_version"]):
            return ranking
        if time.monotonic() > deadline:
            raise AssertionError(f"no finished refresh for {n_labels} labels within {REFRESH_LIMIT:.0f} s "
                                 f"(jobs {jobs[:3]})\n{log_tail(backend.log_path, 40)}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pg_round(label_studio_pg, backend_pg, digits) -> dict:
    """Create the project, connect the backend, import the tasks, annotate until STOP."""
    ls, backend = label_studio_pg, backend_pg
    ref, labels = digits["ref_field"], digits["labels"]
    started = time.monotonic()
    project = annotator.create_project(ls, "digits on PostgreSQL", digits["label_config"])
    ls.api("PATCH", f"/api/projects/{project}/", json={"description": ADMIN_TEXT})
    annotator.connect_backend(ls, project, backend.url)
    annotator.import_tasks(ls, project, digits["tasks"], ref)
    first = _wait_refreshed(ls, backend, project, 0)
    prefix = f"modelpicker-p{project}-"
    steps: list[dict] = []
    labelled: set[int] = set()
    stopped = False
    while len(steps) < MAX_LABELS:
        version = ls.api("GET", f"/api/projects/{project}/")["model_version"]
        scores = annotator.prediction_scores(ls, project, version)
        unlabelled = {t: s for t, s in scores.items() if t not in labelled}
        priority_versions = sorted(v for v in ls.api("GET", f"/api/projects/{project}/model-versions/")
                                   if v.startswith(prefix))
        pg_versions = sorted(v for (v,) in _pg_rows(
            ls, "SELECT DISTINCT model_version FROM prediction WHERE project_id = %s AND model_version LIKE %s",
            project, prefix + "%"))
        task = ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404))
        assert task and "id" in task, f"the queue ran empty after {len(steps)} labels"
        task_id = int(task["id"])
        steps.append({"task": task_id, "version": version, "score": scores.get(task_id),
                      "lowest": min(unlabelled.values()) if unlabelled else None,
                      "n_unlabelled_with_priority": len(unlabelled),
                      "priority_versions": priority_versions, "pg_priority_versions": pg_versions})
        ls.api("POST", f"/api/tasks/{task_id}/annotations/",
               json={"result": annotator.choice_result("digit", "image", labels[task["data"][ref]]),
                     "lead_time": 1.0})
        labelled.add(task_id)
        label_time = time.monotonic()
        ranking = _wait_refreshed(ls, backend, project, len(steps))
        steps[-1].update(refresh_seconds=round(time.monotonic() - label_time, 3),
                         p_best=ranking["decision"]["p_best"])
        description = ls.api("GET", f"/api/projects/{project}/")["description"]
        if "STOP LABELLING" in description:
            stopped = True
            break
    final = ls.api("GET", f"/api/projects/{project}/")
    result = {
        "project": project, "first": first, "steps": steps, "stopped": stopped,
        "description": final["description"], "final_project": final,
        "next_after_stop": ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404)),
        "ranking": backend.api("GET", "/rankings", params={"project": project}),
        "model_versions": ls.api("GET", f"/api/projects/{project}/model-versions/"),
        "pg_annotations": _pg_rows(ls, "SELECT count(*) FROM task_completion WHERE project_id = %s", project)[0][0],
        "pg_priorities": _pg_rows(ls, "SELECT count(*) FROM prediction WHERE project_id = %s AND model_version "
                                      "LIKE %s", project, prefix + "%")[0][0],
        "seconds": time.monotonic() - started,
    }
    _write_results(ls, result, digits)
    return result


def _write_results(ls, result: dict, digits: dict) -> None:
    refresh = sorted(s["refresh_seconds"] for s in result["steps"])
    record = {
        "what": "the main flow (write-back, refresh after every label, until STOP) with Label Studio on PostgreSQL",
        "produced_by": "python -m pytest tests/e2e/test_labelstudio_postgres_e2e.py",
        "label_studio": LS_VERSION, "database": ls.database,
        "label_studio_start_seconds": round(ls.start_seconds, 1) if ls.start_seconds is not None else None,
        "n_tasks": len(digits["tasks"]), "seed": SEED, "true_best": digits["summary"]["true_best"],
        "labels_until_stop": len(result["steps"]), "stopped": result["stopped"],
        "chosen": result["ranking"]["decision"]["candidate"],
        "label_to_refresh_finished_seconds": {"median": refresh[len(refresh) // 2] if refresh else None,
                                              "max": refresh[-1] if refresh else None,
                                              "all": [s["refresh_seconds"] for s in result["steps"]]},
        "flow_seconds": round(result["seconds"], 1),
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(record, indent=2) + "\n")


def test_label_studio_runs_on_postgresql(label_studio_pg, pg_round):
    ls = label_studio_pg
    assert ls.database == "postgresql" and ls.database_url.startswith("postgresql://")
    # the project lives in PostgreSQL's tables, and no SQLite file was made beside the data directory
    assert _pg_rows(ls, "SELECT title FROM project WHERE id = %s", pg_round["project"]) == [("digits on PostgreSQL",)]
    assert not list(Path(ls.data_dir).rglob("*.sqlite3")), list(Path(ls.data_dir).rglob("*.sqlite3"))


def test_initial_refresh_orders_the_tasks_served_first(pg_round):
    assert pg_round["first"]["model_version"].startswith(f"modelpicker-p{pg_round['project']}-")
    assert pg_round["steps"][0]["n_unlabelled_with_priority"] == PUSH_LIMIT


def test_every_label_is_counted(pg_round):
    n = len(pg_round["steps"])
    assert n >= MIN_LABELS
    assert pg_round["ranking"]["labels"] == n, pg_round["ranking"]["labels"]
    assert pg_round["final_project"]["total_annotations_number"] == n
    assert pg_round["pg_annotations"] == n


def test_each_served_task_is_the_top_of_the_pushed_order(pg_round, digits):
    steps = pg_round["steps"]
    for i, step in enumerate(steps):
        assert step["score"] is not None, f"step {i}: task {step['task']} has no priority of {step['version']}"
        assert step["score"] == step["lowest"], f"step {i}: served score {step['score']}, lowest {step['lowest']}"
        assert step["n_unlabelled_with_priority"] == min(PUSH_LIMIT, len(digits["tasks"]) - i), f"step {i}"
    versions = [s["version"] for s in steps]
    assert len(set(versions)) == len(versions), f"the queue version did not change after every label: {versions}"


def test_superseded_priorities_are_deleted(pg_round):
    for i, step in enumerate(pg_round["steps"]):
        assert step["priority_versions"] == [step["version"]], f"step {i}: {step['priority_versions']}"
        assert step["pg_priority_versions"] == [step["version"]], f"step {i}: {step['pg_priority_versions']}"
    prefix = f"modelpicker-p{pg_round['project']}-"
    assert pg_round["stopped"]
    assert [v for v in pg_round["model_versions"] if v.startswith(prefix)] == [], pg_round["model_versions"]
    assert pg_round["pg_priorities"] == 0


def test_stop_is_in_the_description_and_nothing_is_served_afterwards(pg_round, digits):
    assert pg_round["stopped"], f"no STOP after {MAX_LABELS} labels: {pg_round['ranking']['decision']}"
    true_best = digits["summary"]["true_best"]
    description = pg_round["description"]
    assert description.startswith(ADMIN_TEXT) and f"STOP LABELLING: {true_best} chosen" in description
    assert pg_round["ranking"]["decision"]["candidate"] == true_best
    assert pg_round["next_after_stop"].get("status_code") == 404, pg_round["next_after_stop"]

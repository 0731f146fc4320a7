"""The certified stop end to end: a real Label Studio, the backend on its defaults (strategy
``certified``, stopping rule ``certified``, epsilon 0.01, delta 0.05), a simulated annotator.

150 tasks of the digits example are imported; after every label the test waits for the refresh
(inline jobs) and reads the project description.  Checked:

* the guaranteed bound written in the description ("at most Y points worse than the best
  candidate") never grows and ends far below where it started;
* "STOP LABELLING" appears exactly when the bound first reaches epsilon (never before), and names
  a candidate whose true accuracy is within epsilon of the best;
* the decision line states the guarantee.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.support import annotator
from tests.support.labelstudio import log_tail, start_backend

N_TASKS = 150
EPSILON = 0.01
MAX_LABELS = 150
BACKEND_PORTS = (19600, 19700)
WAIT = 120.0


@pytest.fixture(scope="module")
def certified_run(label_studio, digits, tmp_path_factory):
    ls = label_studio
    logs = tmp_path_factory.mktemp("certified-logs")
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token,
           "MODEL_DIR": str(tmp_path_factory.mktemp("model_dir")),
           "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"), "LOG_LEVEL": "INFO",
           "MODELPICKER_EPSILON": str(EPSILON)}
    backend = start_backend(env, logs / "backend.log", port_range=BACKEND_PORTS)
    try:
        ref, labels = digits["ref_field"], digits["labels"]
        project = annotator.create_project(ls, "digits, certified stop", digits["label_config"])
        annotator.connect_backend(ls, project, backend.url)
        annotator.import_tasks(ls, project, digits["tasks"][:N_TASKS], ref)
        _wait(backend, ls, project, 0)
        steps = []
        for n in range(1, MAX_LABELS + 1):
            task = ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404))
            assert task and "id" in task, "the queue ran empty"
            ls.api("POST", f"/api/tasks/{task['id']}/annotations/",
                   json={"result": annotator.choice_result("digit", "image", labels[task["data"][ref]])})
            ranking = _wait(backend, ls, project, n)
            description = ls.api("GET", f"/api/projects/{project}/")["description"]
            steps.append({"labels": n, "gap": ranking["decision"]["gap"], "stop": ranking["decision"]["stop"],
                          "candidate": ranking["decision"]["candidate"], "description": description})
            if "STOP LABELLING" in description:
                break
        after_stop = {"next": ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404)),
                      "project": ls.api("GET", f"/api/projects/{project}/")}
        yield {"steps": steps, "backend": backend, "project": project, "after_stop": after_stop}
    finally:
        backend.stop()


def _wait(backend, ls, project: int, n_labels: int) -> dict:
    """The ranking once the backend counts ``n_labels``, Label Studio follows its priority version and no
    refresh is running (its clean-up of superseded priorities holds Label Studio's SQLite write lock)."""
    deadline = time.monotonic() + WAIT
    while True:
        ranking = backend.api("GET", "/rankings", params={"project": project})
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        busy = any(j["kind"] == "refresh" and j["state"] in ("queued", "started") for j in jobs)
        failed = [j for j in jobs if j["kind"] == "refresh" and j["state"] == "failed"]
        assert not failed, f"refresh failed: {failed[0]['message']}"
        # once stopped, the queue is emptied rather than switched to the new version
        if ranking["labels"] == n_labels and not busy and (ranking["decision"]["stop"] or ls.api(
                "GET", f"/api/projects/{project}/")["model_version"] == ranking["model_version"]):
            return ranking
        if time.monotonic() > deadline:
            raise AssertionError(f"no refresh for {n_labels} labels\n{log_tail(backend.log_path, 40)}")
        time.sleep(0.2)


def _bound_in(description: str) -> float:
    """The stop line's bound when stopped, else the smallest 'at most (pts)' of the table."""
    stop = re.search(r"at most ([0-9.]+) points worse than the best candidate", description)
    if stop:
        return float(stop.group(1))
    block = description[description.index("=== ModelPicker ranking: begin"):]
    header = next(line for line in block.splitlines() if "at most (pts)" in line)
    column = header.index("at most (pts)") + len("at most (pts)")
    values = []
    for line in block.splitlines()[block.splitlines().index(header) + 1:]:
        if not line[:4].strip().isdigit():
            break
        values.append(float(line[:column].split()[-1]))
    return min(values)


def _accuracy_on_imported_tasks(digits) -> dict[str, float]:
    """Each candidate's true accuracy on the ``N_TASKS`` tasks of the project (from its predictions file)."""
    refs = [t["data"][digits["ref_field"]] for t in digits["tasks"][:N_TASKS]]
    out = {}
    for candidate in digits["summary"]["candidates"]:
        rows = (digits["dir"] / "predictions" / f"{candidate['name']}.csv").read_text().splitlines()[1:]
        predicted = dict(line.split(",", 1) for line in rows if line)
        out[candidate["name"]] = sum(predicted[r] == digits["labels"][r] for r in refs) / len(refs)
    return out


def test_the_bound_in_the_description_shrinks_with_labels(certified_run):
    steps = certified_run["steps"]
    bounds = [_bound_in(s["description"]) for s in steps]
    assert all(b2 <= b1 + 1e-9 for b1, b2 in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] <= 100 * EPSILON < bounds[0], bounds
    api_bounds = [100 * s["gap"] for s in steps]
    assert all(abs(a - b) <= 0.051 for a, b in zip(api_bounds, bounds)), (api_bounds, bounds)


def test_stop_appears_only_once_the_bound_is_below_epsilon(certified_run, digits):
    steps = certified_run["steps"]
    assert "STOP LABELLING" in steps[-1]["description"], f"no stop within {MAX_LABELS} labels"
    for s in steps[:-1]:
        assert s["gap"] > EPSILON and not s["stop"] and "Decision: keep labelling" in s["description"]
    last = steps[-1]
    assert last["stop"] and last["gap"] <= EPSILON
    accuracy = _accuracy_on_imported_tasks(digits)
    assert accuracy[last["candidate"]] >= max(accuracy.values()) - EPSILON - 1e-9
    assert f"STOP LABELLING: {last['candidate']} chosen" in last["description"]
    assert "points worse than the best candidate (95%)" in last["description"]


def test_after_the_stop_label_studio_serves_no_task_and_the_instructions_say_stop(certified_run):
    after = certified_run["after_stop"]
    assert after["next"].get("status_code") == 404 and "no tasks" in after["next"]["detail"], \
        f"a task was served after the STOP: {after['next']}"
    last = certified_run["steps"][-1]
    assert f"STOP LABELLING: {last['candidate']} chosen" in after["project"]["expert_instruction"]
    assert after["project"]["show_instruction"] is True
    assert after["project"]["show_collab_predictions"] is False   # the queue switch turned prelabelling off

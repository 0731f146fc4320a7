"""MLflow in and out, end to end: a real ``mlflow server`` (SQLite store, local artifact root,
127.0.0.1, started by the test tooling), the 13 digits candidates registered in it as versions of one
registered model, a real Label Studio project whose pool is the ``mlflow`` source, and a simulated
annotator who labels what Label Studio serves until the STOP.

Read back through MLflow's client: the round's run with P(best) of every candidate and the certified
bound at every label count, the decision's files and the chart as artifacts, and the ``champion``
alias on the true best candidate (epsilon 0.005 on 100 tasks where the best leads by one task: only
the true best may be named).
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import joblib
import mlflow
import pytest

from tests.support import annotator
from tests.support.labelstudio import log_tail, start_backend
from tests.support.mlflow_server import client_env, register_sklearn_models

N_TASKS = 100
EPSILON = 0.005
BACKEND_PORTS = (19700, 19800)
WAIT = 120.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def mlflow_run(label_studio, digits, mlflow_server, tmp_path_factory):
    ls, ref, labels = label_studio, digits["ref_field"], digits["labels"]
    work = tmp_path_factory.mktemp("mlflow-e2e")
    model = f"digits-{uuid.uuid4().hex[:6]}"
    names = [c["name"] for c in digits["summary"]["candidates"]]
    t0 = time.monotonic()
    versions = register_sklearn_models(mlflow_server.url, model,
                                       {n: joblib.load(digits["dir"] / "models" / f"{n}.joblib") for n in names},
                                       {"candidate": "true"})
    registered_in = time.monotonic() - t0
    (work / "pool.yaml").write_text(
        "data_field: pixels\ncandidates:\n  - name: digits\n"
        f"    source: {{type: mlflow, registered_model: {model}, version_filter: \"tags.candidate = 'true'\", "
        "name_tag: candidate_name}\n")
    experiment = f"e2e-{uuid.uuid4().hex[:6]}"
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.personal_token, "MODEL_DIR": str(work / "model_dir"),
           "MODELPICKER_POOL": str(work / "pool.yaml"), "LOG_LEVEL": "INFO", "MODELPICKER_EPSILON": str(EPSILON),
           "MODELPICKER_MLFLOW_EXPERIMENT": experiment, **client_env(mlflow_server.url)}
    backend = start_backend(env, work / "backend.log", port_range=BACKEND_PORTS)
    try:
        project = annotator.create_project(ls, "digits from MLflow", digits["label_config"])
        annotator.connect_backend(ls, project, backend.url)
        annotator.import_tasks(ls, project, digits["tasks"][:N_TASKS], ref)
        _wait(backend, project, 0)
        n = 0
        while "STOP LABELLING" not in ls.api("GET", f"/api/projects/{project}/")["description"]:
            task = ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404))
            assert task and "id" in task, f"the queue ran empty after {n} labels"
            ls.api("POST", f"/api/tasks/{task['id']}/annotations/",
                   json={"result": annotator.choice_result("digit", "image", labels[task["data"][ref]])})
            n += 1
            ranking = _wait(backend, project, n)
        print(f"\n[mlflow e2e] {len(versions)} candidates registered in {registered_in:.1f} s; STOP after {n} "
              f"labels: {ranking['decision']['candidate']}, bound {100 * ranking['decision']['gap']:.2f} points")
        yield {"model": model, "versions": versions, "experiment": experiment, "labels": n, "ranking": ranking,
               "health": backend.api("GET", "/health"), "registered_in": registered_in, "work": work,
               "project": project}
    finally:
        backend.stop()


def _wait(backend, project: int, n_labels: int) -> dict:
    """The ranking once the backend counts ``n_labels`` and no refresh is queued or running."""
    deadline = time.monotonic() + WAIT
    while True:
        ranking = backend.api("GET", "/rankings", params={"project": project})
        jobs = backend.api("GET", "/jobs", params={"project": project})["jobs"]
        failed = [j for j in jobs if j["kind"] == "refresh" and j["state"] == "failed"]
        assert not failed, f"refresh failed: {failed[0]['message']}"
        busy = any(j["kind"] == "refresh" and j["state"] in ("queued", "started") for j in jobs)
        if ranking["labels"] == n_labels and not busy:
            return ranking
        if time.monotonic() > deadline:
            raise AssertionError(f"no refresh for {n_labels} labels\n{log_tail(backend.log_path, 40)}")
        time.sleep(0.2)


def _true_accuracy(digits) -> dict[str, float]:
    refs = [t["data"][digits["ref_field"]] for t in digits["tasks"][:N_TASKS]]
    out = {}
    for c in digits["summary"]["candidates"]:
        rows = (digits["dir"] / "predictions" / f"{c['name']}.csv").read_text().splitlines()[1:]
        predicted = dict(line.split(",", 1) for line in rows if line)
        out[c["name"]] = sum(predicted[r] == digits["labels"][r] for r in refs) / len(refs)
    return out


def test_the_pool_comes_from_the_registry(mlflow_run, digits):
    health = mlflow_run["health"]
    assert health["pool"]["candidates"] == 13 and health["pool"]["unavailable"] == []
    assert health["mlflow"]["tracking"] is True and health["mlflow"]["ok"] is True
    names = {r["name"] for r in mlflow_run["ranking"]["candidates"]}
    assert names == {c["name"] for c in digits["summary"]["candidates"]}


def test_the_round_is_a_run_with_its_metrics_at_every_label(mlflow_run, mlflow_server):
    client = mlflow.MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name(mlflow_run["experiment"])
    [run] = client.search_runs([exp.experiment_id])
    n = mlflow_run["labels"]
    assert run.data.tags["modelpicker.project"] == str(mlflow_run["project"])
    assert run.data.params["strategy"] == "certified" and run.data.params["epsilon"] == str(EPSILON)
    assert run.info.status == "FINISHED"
    for name in ("svc_rbf", "knn1", "tree_depth3_weak"):
        steps = sorted({m.step for m in client.get_metric_history(run.info.run_id, f"p_best.{name}")})
        assert steps[-1] == n and set(range(1, n + 1)) <= set(steps), (name, steps)
    bound = sorted(client.get_metric_history(run.info.run_id, "bound"), key=lambda m: (m.step, m.timestamp))
    assert bound[-1].value <= 100 * EPSILON < max(m.value for m in bound)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"decision.json", "ranking.csv", "ranking.json", "predictions.json", "pbest.png", "pool.json"} <= artifacts
    decision = json.loads(Path(client.download_artifacts(run.info.run_id, "decision.json",
                                                         str(mlflow_run["work"]))).read_text())
    assert decision["stopped"] is True and decision["chosen"] == mlflow_run["ranking"]["decision"]["candidate"]
    predictions = json.loads(Path(client.download_artifacts(run.info.run_id, "predictions.json",
                                                            str(mlflow_run["work"]))).read_text())
    assert len(predictions) == N_TASKS and predictions[0]["predictions"][0]["model_version"] == decision["chosen"]


def test_the_champion_alias_is_on_the_true_best(mlflow_run, mlflow_server, digits):
    accuracy = _true_accuracy(digits)
    best = max(accuracy, key=accuracy.get)
    assert sorted(accuracy.values())[-2] < accuracy[best] - EPSILON  # only the true best may be named
    client = mlflow.MlflowClient(mlflow_server.url)
    champion = client.get_model_version_by_alias(mlflow_run["model"], "champion")
    assert champion.tags["candidate_name"] == best == mlflow_run["ranking"]["decision"]["candidate"]
    assert champion.version == mlflow_run["versions"][best]
    assert champion.tags["modelpicker.labels"] == str(mlflow_run["labels"])
    assert float(champion.tags["modelpicker.bound_points"]) <= 100 * EPSILON
    assert champion.tags["modelpicker.project"] == str(mlflow_run["project"])

"""MLflow in and out, against a real ``mlflow server`` (SQLite store, local artifacts, 127.0.0.1).

Candidates registered as versions of one registered model through the MLflow
client, a pool whose source is ``mlflow``, a backend in payload mode (no Label
Studio: tests/e2e/test_mlflow_e2e.py has the real one) fed labels until STOP;
then read back through MLflow's client: the round's run and its metrics per
label, the artifacts, the ``champion`` alias on the true best.  Failures: an
unreachable server, a missing version, a model that fails to load.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from backend.app import create_app
from backend.pool import load_pool
from backend.service import Service
from backend.settings import from_env
from tests.support.mlflow_server import client_env, register_sklearn_models
from tests.support.ports import free_port

CHOICES = ("0", "1", "2")
CONFIG = ('<View><Text name="text" value="$key"/><Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")
N_TASKS = 40


pytestmark = pytest.mark.filterwarnings("ignore:.*Add type hints to the `predict` method:UserWarning")


class BrokenOnLoad(mlflow.pyfunc.PythonModel):
    """A registered model whose loading fails (what a model with a missing dependency does)."""

    def load_context(self, context):
        raise RuntimeError("this model is broken on purpose")

    def predict(self, context, model_input, params=None):
        return [0] * len(model_input)


@pytest.fixture(scope="module")
def data():
    """Three fitted candidates of clearly different accuracy on 40 held-out tasks, and the truth."""
    x, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, class_sep=1.2, random_state=3)
    train, test = slice(0, 360), slice(360, 360 + N_TASKS)
    models = {"logreg": LogisticRegression(max_iter=500), "knn15": KNeighborsClassifier(15),
              "stump": DecisionTreeClassifier(max_depth=1, random_state=0)}
    for m in models.values():
        m.fit(x[train], y[train])
    accuracy = {n: float((m.predict(x[test]) == y[test]).mean()) for n, m in models.items()}
    best = max(accuracy, key=accuracy.get)
    assert sorted(accuracy.values())[-2] < accuracy[best] - 0.04, accuracy  # one clear best (2 tasks of 40)
    return {"models": models, "x": x[test].round(4).tolist(), "y": y[test].tolist(), "accuracy": accuracy,
            "best": best}


@pytest.fixture(scope="module")
def registered(mlflow_server, data):
    """The three candidates as versions 1-3 of a fresh registered model, tagged ``candidate=true``."""
    name = f"toy-{uuid.uuid4().hex[:8]}"
    versions = register_sklearn_models(mlflow_server.url, name, data["models"], {"candidate": "true"})
    return {"model": name, "versions": versions}


def write_pool(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text("data_field: x\ncandidates:\n" + entries)
    return path


def registry_pool(registered: dict) -> str:
    return (f"  - name: toy\n    source: {{type: mlflow, registered_model: {registered['model']}, "
            f"version_filter: \"tags.candidate = 'true'\", name_tag: candidate_name}}\n")


def make_backend(tmp_path: Path, pool: Path, monkeypatch, **env: str):
    base = {"MODEL_DIR": str(tmp_path / "model_dir"), "MODELPICKER_POOL": str(pool),
            "MODELPICKER_EPSILON": "0.05", **env}
    for key, value in base.items():
        if key.startswith("MLFLOW_") or key == "DO_NOT_TRACK":
            monkeypatch.setenv(key, value)  # the pool's source reads MLflow's own variable, as MLflow does
    settings = from_env(base)
    service = Service.from_settings(settings)
    app = create_app(settings, service)
    client = app.test_client()
    assert client.post("/setup", json={"project": "1.1700000000", "schema": CONFIG}).status_code == 200
    return service, client


def import_tasks(client, data: dict) -> None:
    """Label Studio's first /predict call: the project's tasks."""
    tasks = [task_json(data, t) for t in range(1, N_TASKS + 1)]
    assert client.post("/predict", json={"project": "1.1700000000", "tasks": tasks}).status_code == 200


def task_json(data: dict, task: int) -> dict:
    return {"id": task, "project": 1, "data": {"key": f"k{task}", "x": data["x"][task - 1]}}


def label_event(data: dict, task: int, annotation: int) -> dict:
    t = task_json(data, task)
    result = [{"from_name": "label", "to_name": "text", "type": "choices",
               "value": {"choices": [str(data["y"][task - 1])]}}]
    return {"action": "ANNOTATION_CREATED", "project": {"id": 1, "label_config": CONFIG},
            "task": t, "annotation": {"id": annotation, "task": task, "project": 1, "result": result,
                                      "was_cancelled": False, "updated_at": f"2026-12-02T10:00:{annotation:02d}Z"}}


def test_mlflow_source_loads_the_registered_versions(registered, data, tmp_path, mlflow_server, monkeypatch):
    for key, value in client_env(mlflow_server.url).items():
        monkeypatch.setenv(key, value)
    client = mlflow.MlflowClient(mlflow_server.url)
    client.set_registered_model_alias(registered["model"], "candidate", registered["versions"]["knn15"])
    pool = load_pool(write_pool(tmp_path, registry_pool(registered) + (
        f"  - name: by_alias\n    source: {{type: mlflow, model_uri: \"models:/{registered['model']}@candidate\"}}\n")))
    assert pool.names == ["logreg", "knn15", "stump", "by_alias"] and pool.unavailable == []
    for cand in pool.candidates:
        model = data["models"]["knn15" if cand.name == "by_alias" else cand.name]
        assert cand.source.predict(data["x"][:10]) == model.predict(np.asarray(data["x"][:10])).tolist()
        assert cand.source.known_outputs() == {"0", "1", "2"}
    keys = dict(zip(pool.names, pool.cache_keys))
    # the alias moves: that candidate's cache key (and so its cached predictions) changes, the others' do not
    client.set_registered_model_alias(registered["model"], "candidate", registered["versions"]["stump"])
    moved = load_pool(pool.path)
    assert moved.candidates[3].source.model_uri == f"models:/{registered['model']}/{registered['versions']['stump']}"
    assert dict(zip(moved.names, moved.cache_keys))["by_alias"] != keys["by_alias"]
    assert {n: k for n, k in zip(moved.names, moved.cache_keys) if n != "by_alias"} == \
        {n: k for n, k in keys.items() if n != "by_alias"}


def test_unavailable_candidates_are_named_and_the_rest_work(registered, data, tmp_path, mlflow_server,
                                                              monkeypatch, caplog):
    env = client_env(mlflow_server.url)
    broken = f"broken-{uuid.uuid4().hex[:6]}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(mlflow_server.url)
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="broken", python_model=BrokenOnLoad(), registered_model_name=broken)
    pool = write_pool(tmp_path, registry_pool(registered) + (
        f"  - name: missing_version\n    source: {{type: mlflow, model_uri: \"models:/{registered['model']}/99\"}}\n"
        f"  - name: no_such_model\n    source: {{type: mlflow, model_uri: \"models:/nope-{uuid.uuid4().hex[:6]}@x\"}}\n"
        f"  - name: fails_to_load\n    source: {{type: mlflow, model_uri: \"models:/{broken}/1\"}}\n"))
    service, client = make_backend(tmp_path, pool, monkeypatch, **env)
    health = client.get("/health").get_json()["pool"]
    assert health["ok"] and health["candidates"] == 3
    errors = {u["candidate"]: u["error"] for u in health["unavailable"]}
    assert set(errors) == {"missing_version", "no_such_model", "fails_to_load"}
    assert "version 99" in errors["missing_version"] and "not found" in errors["missing_version"]
    assert "not found" in errors["no_such_model"]
    assert "broken on purpose" in errors["fails_to_load"] and f"models:/{broken}/1" in errors["fails_to_load"]
    assert not any("Traceback" in e for e in errors.values())
    logged = caplog.text
    assert all(name in logged for name in errors) and "Traceback" not in logged
    # the other three candidates work: labels are counted and ranked
    import_tasks(client, data)
    for task in range(1, 6):
        assert client.post("/webhook", json=label_event(data, task, task)).status_code == 200
    ranking = client.get("/rankings?project=1").get_json()
    assert sorted(r["name"] for r in ranking["candidates"]) == ["knn15", "logreg", "stump"]
    assert ranking["labels"] == 5
    service.store.close()


def test_an_unreachable_registry_leaves_the_other_candidates(data, tmp_path, monkeypatch):
    csv = tmp_path / "local.csv"
    csv.write_text("key,label\n" + "".join(f"k{i},{data['y'][i - 1]}\n" for i in range(1, N_TASKS + 1)))
    closed = free_port(18400, 18500)  # nothing listens there
    pool = write_pool(tmp_path, "  - name: local\n    source: {type: predictions, path: local.csv, key_field: key}\n"
                      "  - name: remote\n    source: {type: mlflow, registered_model: whatever}\n")
    service, client = make_backend(tmp_path, pool, monkeypatch, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed}",
                                   MODELPICKER_MLFLOW_TRACKING="false")
    health = client.get("/health").get_json()
    assert health["pool"]["candidates"] == 1
    [missing] = health["pool"]["unavailable"]
    assert missing["candidate"] == "remote"
    assert f"cannot reach the MLflow server at http://127.0.0.1:{closed}" in missing["error"]
    assert health["mlflow"]["tracking"] is False
    service.store.close()


def test_rounds_are_runs_and_the_stop_crowns_the_best(registered, data, tmp_path, mlflow_server, monkeypatch):
    experiment = f"exp-{uuid.uuid4().hex[:6]}"
    env = {**client_env(mlflow_server.url), "MODELPICKER_MLFLOW_EXPERIMENT": experiment,
           "MODELPICKER_EPSILON": "0.01"}  # the runner-up is 5 points below the best: only the best may stop
    service, client = make_backend(tmp_path, write_pool(tmp_path, registry_pool(registered)), monkeypatch, **env)
    import_tasks(client, data)
    labels = 0
    for task in range(1, N_TASKS + 1):
        assert client.post("/webhook", json=label_event(data, task, task)).status_code == 200
        labels += 1
        if client.get("/rankings?project=1").get_json()["decision"]["stop"]:
            break
    ranking = client.get("/rankings?project=1").get_json()
    assert ranking["decision"]["stop"] and ranking["decision"]["candidate"] == data["best"], (labels, ranking)
    mc = mlflow.MlflowClient(mlflow_server.url)
    exp = mc.get_experiment_by_name(experiment)
    [run] = mc.search_runs([exp.experiment_id])
    assert run.data.tags["modelpicker.project"] == "1" and run.data.tags["modelpicker.round"] == "1"
    assert run.info.status == "FINISHED" and run.data.tags["modelpicker.chosen"] == data["best"]
    assert run.data.params["strategy"] == "certified" and run.data.params["n_candidates"] == "3"
    for name in data["models"]:
        steps = [m.step for m in mc.get_metric_history(run.info.run_id, f"p_best.{name}")]
        assert steps == list(range(1, labels + 1))  # one point per label
    bound = mc.get_metric_history(run.info.run_id, "bound")
    assert bound[-1].value <= 1.0 < bound[0].value  # the certified bound fell below epsilon (1 point)
    artifacts = {a.path for a in mc.list_artifacts(run.info.run_id)}
    assert {"decision.json", "ranking.csv", "ranking.json", "predictions.json", "pbest.png", "pool.json"} <= artifacts
    decision = json.loads(Path(mc.download_artifacts(run.info.run_id, "decision.json", str(tmp_path))).read_text())
    assert decision["chosen"] == data["best"] and decision["stopped"] is True
    png = Path(mc.download_artifacts(run.info.run_id, "pbest.png", str(tmp_path))).read_bytes()
    assert png.startswith(b"\x89PNG")
    champion = mc.get_model_version_by_alias(registered["model"], "champion")
    assert champion.version == registered["versions"][data["best"]]
    assert champion.tags["modelpicker.project"] == "1" and champion.tags["modelpicker.labels"] == str(labels)
    assert float(champion.tags["modelpicker.bound_points"]) <= 1.0
    exported = client.get("/export?project=1").get_json()["mlflow"]
    assert exported["registry"]["uri"] == f"models:/{registered['model']}/{champion.version}"
    assert mc.get_model_version_by_alias(registered["model"], "champion").version == champion.version
    # another batch's decision moves the alias; the old champion keeps its history as tags
    previous = champion.version
    other = next(n for n in data["models"] if n != data["best"])
    from backend.mlflow_champion import promote
    promote(service.tracker.registry(), service.pool, other, "champion", {"project": 2}, 0.0)
    moved = mc.get_model_version_by_alias(registered["model"], "champion")
    assert moved.version == registered["versions"][other]
    old = mc.get_model_version(registered["model"], previous)
    assert old.tags["modelpicker.champion_until"] and old.tags["modelpicker.succeeded_by"].endswith(f"/{moved.version}")
    assert old.tags["modelpicker.labels"] == str(labels)  # what it won stays on it
    service.store.close()


def test_mlflow_down_never_fails_a_refresh(data, tmp_path, monkeypatch):
    csv = tmp_path / "local.csv"
    csv.write_text("key,label\n" + "".join(f"k{i},{data['y'][i - 1]}\n" for i in range(1, N_TASKS + 1)))
    closed = free_port(18400, 18500)
    pool = write_pool(tmp_path, "  - name: local\n    source: {type: predictions, path: local.csv, key_field: key}\n"
                      "  - name: other\n    source: {type: predictions, path: local.csv, key_field: key}\n")
    service, client = make_backend(tmp_path, pool, monkeypatch, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed}")
    import_tasks(client, data)
    assert client.post("/webhook", json=label_event(data, 1, 1)).status_code == 200
    assert client.get("/rankings?project=1").get_json()["labels"] == 1
    [job] = [j for j in client.get("/jobs?project=1").get_json()["jobs"] if j["kind"] == "refresh"][:1]
    assert job["state"] == "finished"
    assert f"cannot reach the MLflow server at http://127.0.0.1:{closed}" in job["result"]["mlflow"]["error"]
    health = client.get("/health").get_json()["mlflow"]
    assert health["tracking"] is True and health["ok"] is False and "cannot reach" in health["error"]
    exported = client.get("/export?project=1")
    assert exported.status_code == 200 and "cannot reach" in exported.get_json()["mlflow"]["error"]
    service.store.close()


def test_tracking_switched_off_writes_nothing(registered, data, tmp_path, mlflow_server, monkeypatch):
    experiment = f"off-{uuid.uuid4().hex[:6]}"
    env = {**client_env(mlflow_server.url), "MODELPICKER_MLFLOW_EXPERIMENT": experiment,
           "MODELPICKER_MLFLOW_TRACKING": "false"}
    service, client = make_backend(tmp_path, write_pool(tmp_path, registry_pool(registered)), monkeypatch, **env)
    for task in range(1, 4):
        assert client.post("/webhook", json=label_event(data, task, task)).status_code == 200
    assert client.get("/rankings?project=1").get_json()["labels"] == 3
    assert client.get("/export?project=1").status_code == 200
    assert mlflow.MlflowClient(mlflow_server.url).get_experiment_by_name(experiment) is None
    aliases = mlflow.MlflowClient(mlflow_server.url).get_registered_model(registered["model"]).aliases
    assert "champion" not in aliases or aliases["champion"] != "written-by-this-test"
    service.store.close()


def test_the_default_setup_never_imports_mlflow(tmp_path, pool_dir):
    script = (
        "import sys, json\n"
        "from backend.settings import from_env\nfrom backend.service import Service\n"
        "from backend.app import create_app\n"
        "import modelpicker_core\n"
        f"s = from_env({{'MODEL_DIR': {str(tmp_path)!r}, 'MODELPICKER_POOL': {str(pool_dir / 'pool.yaml')!r}}})\n"
        "svc = Service.from_settings(s); app = create_app(s, svc)\n"
        "c = app.test_client(); print(json.dumps(c.get('/health').get_json()['mlflow']))\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[2],
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "tracking": False, "uri": None, "experiment": None, "alias": None, "ok": None, "error": None,
        "last_ok_at": None}

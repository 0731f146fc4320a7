"""State survives a restart: a new app over the same MODEL_DIR, and a killed real process."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import requests

from tests.support.labelstudio import BackendServer, start_backend

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_new_app_instance_sees_the_same_labels_and_ranking(backend_factory, events, truth, all_tasks):
    first = backend_factory()
    first.post("/setup", {"project": 1, "schema": events.config})
    first.webhook(events.tasks_created(*range(1, 31)))
    for i in range(8):
        first.webhook(events.created(100 + i, i + 1, events.choices[truth[i]], second=i))
    labels, ranking = first.labels(), first.ranking()
    scores = [p["score"] for p in first.post("/predict", {"project": 1, "tasks": all_tasks}).get_json()["results"]]
    first.service.store.close()

    second = backend_factory()  # same MODEL_DIR, new service, new store connection, no /setup
    assert second.labels() == labels and second.ranking() == ranking
    again = second.post("/predict", {"project": 1, "tasks": all_tasks}).get_json()["results"]
    assert [p["score"] for p in again] == scores


def test_a_changed_model_file_is_predicted_afresh_after_restart(backend_factory, events, pool_dir):
    first = backend_factory()
    first.post("/setup", {"project": 1, "schema": events.config})
    before = first.post("/predict", {"project": 1, "tasks": [events.task(1)]}).get_json()
    first.service.store.close()
    flipped = {"0": "1", "1": "2", "2": "0"}
    lines = (pool_dir / "good.csv").read_text().splitlines()
    (pool_dir / "good.csv").write_text("\n".join([lines[0]] + [f"{ln.split(',')[0]},{flipped[ln.split(',')[1]]}"
                                                               for ln in lines[1:]]) + "\n")
    second = backend_factory()
    after = second.post("/predict", {"project": 1, "tasks": [events.task(1)]}).get_json()
    assert after["model_version"] != before["model_version"]
    old, new = (r["results"][0]["modelpicker"]["predictions"]["good"] for r in (before, after))
    names = list(events.choices)
    assert names.index(new) == (names.index(old) + 1) % 3


def start(env: dict, log: Path) -> BackendServer:
    """``python -m backend`` (this interpreter) on 127.0.0.1 at ``env["PORT"]``, answering /health."""
    return start_backend(env, log, python=sys.executable)


def post(server: BackendServer, path: str, body: dict) -> dict:
    r = server.session.post(server.url + path, json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def kill(server: BackendServer) -> None:
    """SIGKILL: no shutdown code runs."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(10)


@pytest.fixture
def backend_env(tmp_path, pool_dir, free_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPICKER_", "BASIC_AUTH", "REDIS_URL"))}
    env.update(HOST="127.0.0.1", PORT=str(free_port()), MODEL_DIR=str(tmp_path / "state"),
               MODELPICKER_POOL=str(pool_dir / "pool.yaml"), MODELPICKER_STRATEGY="modelpicker",
               LOG_LEVEL="WARNING", PYTHONPATH=str(REPO_ROOT))
    return env


def test_killing_the_process_between_two_annotations_loses_nothing(backend_env, events, tmp_path):
    log = tmp_path / "backend.log"
    proc = start(backend_env, log)
    try:
        post(proc, "/setup", {"project": "1.1700000000", "schema": events.config})
        post(proc, "/webhook", events.tasks_created(1, 2, 3))
        first = post(proc, "/webhook", events.created(11, 1, "zero"))
        kill(proc)
        assert proc.process.returncode == -signal.SIGKILL
        proc = start(backend_env, log)
        ranking = requests.get(proc.url + "/rankings?project=1", timeout=10).json()
        assert ranking["labels"] == 1 and ranking["model_version"] == first["model_version"]
        second = post(proc, "/webhook", events.created(12, 2, "one"))
        assert second["labels"] == 2
        ranking = requests.get(proc.url + "/rankings?project=1", timeout=10).json()
        assert (ranking["labels"], ranking["labels_used"], ranking["tasks"]) == (2, 2, 3)
    finally:
        proc.stop()

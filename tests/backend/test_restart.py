"""State survives a restart: a new app over the same MODEL_DIR, and a killed real process."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

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


def _free_port() -> int:
    for port in range(19100, 19200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19100-19199")


class Process:
    """``python -m backend`` on 127.0.0.1, its output in a log file."""

    def __init__(self, env: dict, log: Path):
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.log = log
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "backend"], cwd=REPO_ROOT, env=env,
                                         stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"backend did not answer /health:\n{log.read_text()[-3000:]}")

    def post(self, path: str, body: dict) -> dict:
        r = requests.post(self.url + path, json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def backend_env(tmp_path, pool_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPICKER_", "BASIC_AUTH", "REDIS_URL"))}
    env.update(HOST="127.0.0.1", PORT=str(_free_port()), MODEL_DIR=str(tmp_path / "state"),
               MODELPICKER_POOL=str(pool_dir / "pool.yaml"), MODELPICKER_STRATEGY="modelpicker",
               LOG_LEVEL="WARNING", PYTHONPATH=str(REPO_ROOT))
    return env


def test_killing_the_process_between_two_annotations_loses_nothing(backend_env, events, tmp_path):
    log = tmp_path / "backend.log"
    proc = Process(backend_env, log)
    try:
        proc.post("/setup", {"project": "1.1700000000", "schema": events.config})
        proc.post("/webhook", events.tasks_created(1, 2, 3))
        first = proc.post("/webhook", events.created(11, 1, "zero"))
        proc.kill()  # SIGKILL: no shutdown code runs
        assert proc.proc.returncode == -signal.SIGKILL
        proc = Process(backend_env, log)
        ranking = requests.get(proc.url + "/rankings?project=1", timeout=10).json()
        assert ranking["labels"] == 1 and ranking["model_version"] == first["model_version"]
        second = proc.post("/webhook", events.created(12, 2, "one"))
        assert second["labels"] == 2
        ranking = requests.get(proc.url + "/rankings?project=1", timeout=10).json()
        assert (ranking["labels"], ranking["labels_used"], ranking["tasks"]) == (2, 2, 3)
    finally:
        proc.stop()

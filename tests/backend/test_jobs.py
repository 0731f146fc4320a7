"""Background jobs: inline without Redis, on a real rq queue (real redis-server) with REDIS_URL."""
from __future__ import annotations

import pytest

from backend import jobs


class Recorder:
    def __init__(self):
        self.calls = []

    def compute_predictions(self, *args):
        self.calls.append(args)


def test_inline_runner_runs_before_returning():
    target = Recorder()
    runner = jobs.make_runner(None, "q", target)
    assert runner.kind == "inline" and runner.submit("compute_predictions", 1, [2, 3]) is None
    assert target.calls == [(1, [2, 3])]
    with pytest.raises(ValueError, match="unknown job 'rm_rf'"):
        runner.submit("rm_rf")


def test_tasks_created_goes_through_rq_and_a_worker_computes_the_predictions(
        backend_factory, redis_url, events, monkeypatch, tmp_path, pool_dir):
    from redis import Redis
    from rq import Queue, SimpleWorker

    b = backend_factory(REDIS_URL=redis_url)
    assert b.client.get("/health").get_json()["jobs"] == "rq"
    assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
    answer = b.webhook(events.tasks_created(*range(1, 31))).get_json()
    assert answer["status"] == "ok" and answer["job"]
    assert b.ranking()["tasks"] == 0  # queued, not computed yet

    # the worker builds its own service from the same environment
    for key, value in {"MODEL_DIR": str(tmp_path / "model_dir"), "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                       "MODELPICKER_STRATEGY": "modelpicker", "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(jobs, "_worker_service", None)
    connection = Redis.from_url(redis_url)
    SimpleWorker([Queue("modelpicker", connection=connection)], connection=connection).work(burst=True)
    assert jobs._worker_service is not None and jobs._worker_service.runner.kind == "inline"
    jobs._worker_service.store.close()
    assert b.ranking()["tasks"] == 30


def test_unreachable_redis_falls_back_to_inline(backend_factory, events, caplog, free_port):
    b = backend_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    b.post("/setup", {"project": 1, "schema": events.config})
    answer = b.webhook(events.tasks_created(1, 2, 3)).get_json()
    assert answer["status"] == "ok" and "job" not in answer
    assert b.ranking()["tasks"] == 3
    assert any("running it inline" in r.getMessage() for r in caplog.records)

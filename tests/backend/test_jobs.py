"""Background jobs: inline without Redis, on a real rq queue (real redis-server) with REDIS_URL."""
from __future__ import annotations

import pytest

from backend import jobs, worker


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


def test_an_rq_job_names_the_worker_entry_point_by_path_and_runs_it(redis_url, monkeypatch):
    """RQRunner enqueues ``backend.worker.run_job`` by its import path (backend.jobs never imports the
    service); rq imports it from that path, and it runs the named job on the worker's service."""
    from redis import Redis
    from rq import Queue

    queue = Queue("q", connection=Redis.from_url(redis_url))
    runner = jobs.RQRunner(redis_url, "q", jobs.DropRunner())
    now = queue.fetch_job(runner.submit("compute_predictions", 1, [2, 3]))
    later = queue.fetch_job(runner.submit("refresh", 1, delay=60))
    assert later.id in queue.scheduled_job_registry.get_job_ids()
    for job in (now, later):
        assert job.func_name == jobs.RQ_ENTRY_POINT == "backend.worker.run_job"
        assert job.func is worker.run_job
    target = Recorder()
    monkeypatch.setattr(worker, "_worker_service", target)
    now.perform()
    assert target.calls == [(1, [2, 3])]
    with pytest.raises(ValueError, match="unknown job 'rm_rf'"):
        worker.run_job("rm_rf")
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
    monkeypatch.setattr(worker, "_worker_service", None)
    connection = Redis.from_url(redis_url)
    SimpleWorker([Queue("modelpicker", connection=connection)], connection=connection).work(burst=True)
    assert worker._worker_service is not None and worker._worker_service.runner.kind == "inline"
    worker._worker_service.store.close()
    assert b.ranking()["tasks"] == 30


def test_unreachable_redis_falls_back_to_inline(backend_factory, events, caplog, free_port):
    b = backend_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    b.post("/setup", {"project": 1, "schema": events.config})
    answer = b.webhook(events.tasks_created(1, 2, 3)).get_json()
    assert answer["status"] == "ok" and "job" not in answer
    assert b.ranking()["tasks"] == 3
    assert any("running it inline" in r.getMessage() for r in caplog.records)

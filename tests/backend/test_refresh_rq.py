"""Refresh jobs on a real rq queue (a real redis-server on 127.0.0.1): queued by the webhook, run by a
worker that builds its own service from the environment, recorded for GET /jobs; delayed refreshes go
to rq's scheduled registry (run by ``rq worker --with-scheduler``)."""
from __future__ import annotations

from backend import worker


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _work(redis_url, monkeypatch, tmp_path, pool_dir, **env):
    """Run the queued jobs as an rq worker would (SimpleWorker, burst), with a service from the environment."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    for key, value in {"MODEL_DIR": str(tmp_path / "model_dir"), "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                       "MODELPICKER_STRATEGY": "modelpicker", "REDIS_URL": redis_url, **env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(worker, "_worker_service", None)
    connection = Redis.from_url(redis_url)
    SimpleWorker([Queue("modelpicker", connection=connection)], connection=connection).work(burst=True)
    worker._worker_service.store.close()


def test_label_refresh_is_queued_then_run_by_the_worker(backend_factory, redis_url, events, monkeypatch,
                                                        tmp_path, pool_dir):
    b = backend_factory(REDIS_URL=redis_url)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    first = ok(b.webhook(events.tasks_created(*range(1, 31))))["refresh"]
    assert first["status"] == "queued" and first["rq_job"]
    assert ok(b.webhook(events.created(100, 1, "zero")))["refresh"] == {"status": "coalesced", "job": first["job"]}
    records = ok(b.client.get("/jobs?project=1"))
    assert records["runner"] == "rq" and [j["state"] for j in records["jobs"]] == ["queued"]
    _work(redis_url, monkeypatch, tmp_path, pool_dir)
    (record,) = ok(b.client.get("/jobs?project=1"))["jobs"]
    assert record["state"] == "finished" and record["progress"] == 1.0
    assert record["result"]["labels"] == 1 and record["result"]["label_changes"] == 1
    assert b.ranking()["tasks"] == 30
    # the next label is due again (N=1 by default) and gets its own job
    second = ok(b.webhook(events.created(101, 2, "one")))["refresh"]
    assert second["status"] == "queued", (second, ok(b.client.get("/jobs?project=1")))
    assert second["job"] != first["job"]


def test_a_refresh_not_due_yet_is_scheduled_with_its_delay(backend_factory, redis_url, events, monkeypatch,
                                                           tmp_path, pool_dir):
    from redis import Redis
    from rq import Queue

    b = backend_factory(REDIS_URL=redis_url, MODELPICKER_REFRESH_EVERY_LABELS="5",
                        MODELPICKER_REFRESH_MIN_SECONDS="60")
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    _work(redis_url, monkeypatch, tmp_path, pool_dir)  # the import's refresh runs now
    answer = ok(b.webhook(events.created(100, 1, "zero")))["refresh"]
    assert answer["status"] == "queued" and 55 < answer["delay"] <= 60
    queue = Queue("modelpicker", connection=Redis.from_url(redis_url))
    assert answer["rq_job"] in queue.scheduled_job_registry.get_job_ids()
    assert ok(b.webhook(events.created(101, 2, "zero")))["refresh"]["status"] == "coalesced"

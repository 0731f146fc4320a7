"""/rankings serves the ranking kept in the store, so readers do not refit the belief on every label (issue 11).

With rq, the worker's refresh after a label change writes the next ranking; until it does, and for at most
``RANKING_STALE_SECONDS``, readers get the previous one marked ``"up_to_date": false``.  Inline (no Redis),
a reader computes the ranking itself whenever the labels changed.
"""
from __future__ import annotations

import pytest

import backend.service as service_module


@pytest.fixture
def fits(monkeypatch):
    """Counts belief fits."""
    calls = []
    real = service_module.fit_belief

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "fit_belief", counting)
    return calls


def labelled(b, events, n):
    assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
    assert b.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i in range(n):
        assert b.webhook(events.created(100 + i, 1 + i, ("zero", "one", "two")[i % 3])).status_code == 200


def test_with_rq_readers_get_the_kept_ranking_until_the_worker_refreshes(backend_factory, events, redis_url, fits):
    b = backend_factory(REDIS_URL=redis_url)                 # payload mode: the webhook stores, the refresh waits
    labelled(b, events, 3)
    first = b.ranking()
    assert first["up_to_date"] is True and first["labels"] == 3
    n_fits = len(fits)
    for _ in range(5):
        assert b.ranking() == first                            # unchanged labels: no refit
    assert len(fits) == n_fits
    assert b.webhook(events.created(110, 11, "two")).status_code == 200
    stale = b.ranking()                                        # the refresh job has not run yet
    assert stale["up_to_date"] is False and stale["labels"] == 3 and "computed_at" in stale
    assert stale["candidates"] == first["candidates"] and len(fits) == n_fits
    b.service.refresh(1)                                       # what the rq worker runs
    fresh = b.ranking()
    assert fresh["up_to_date"] is True and fresh["labels"] == 4
    assert len(fits) == n_fits + 1                             # the refresh's fit, shared with the reader


def test_a_kept_ranking_older_than_the_bounds_is_recomputed_by_the_reader(backend_factory, events, redis_url, fits):
    b = backend_factory(REDIS_URL=redis_url)
    labelled(b, events, 3)
    b.ranking()
    assert b.webhook(events.created(110, 11, "two")).status_code == 200   # queues a refresh (no worker runs)
    t = b.service.clock()
    b.service.clock = lambda: t + service_module.RANKING_STALE_SECONDS + 1
    assert b.ranking()["up_to_date"] is False            # past 10 s, but the refresh is queued: still served
    b.service.clock = lambda: t + service_module.RANKING_MAX_STALE_SECONDS + 1  # the worker is stuck or gone
    answer = b.ranking()
    assert answer["up_to_date"] is True and answer["labels"] == 4


def test_past_10_s_with_nothing_in_flight_the_reader_recomputes(backend_factory, events, redis_url, fits):
    b = backend_factory(REDIS_URL=redis_url)
    labelled(b, events, 3)
    b.ranking()
    assert b.webhook(events.created(110, 11, "two")).status_code == 200
    store = b.service.store
    for job in store.jobs(1, 100):                        # the refresh was lost (a crash): nothing in flight
        if job["state"] in ("queued", "started"):
            store.update_job(job["id"], b.service.clock(), state="failed")
    t = b.service.clock()
    b.service.clock = lambda: t + service_module.RANKING_STALE_SECONDS + 1
    answer = b.ranking()
    assert answer["up_to_date"] is True and answer["labels"] == 4


def test_inline_a_reader_always_sees_the_current_labels(backend_factory, events, fits):
    b = backend_factory()
    labelled(b, events, 3)
    assert b.ranking()["labels"] == 3
    assert b.webhook(events.created(110, 11, "two")).status_code == 200
    answer = b.ranking()
    assert answer["up_to_date"] is True and answer["labels"] == 4


def test_a_kept_ranking_of_other_settings_is_not_served(backend_factory, events, redis_url):
    b = backend_factory(REDIS_URL=redis_url)
    labelled(b, events, 3)
    b.ranking()
    key = b.service.ranking_keeper.snapshot_key
    b.service.settings = b.service.settings.__class__(**{**vars(b.service.settings), "epsilon": 0.05})
    assert b.service.ranking_keeper.snapshot_key != key
    assert b.service.store.ranking_snapshot(1, b.service.ranking_keeper.snapshot_key) is None
    assert b.ranking()["up_to_date"] is True
    assert b.service.store.ranking_snapshot(1, b.service.ranking_keeper.snapshot_key) is not None

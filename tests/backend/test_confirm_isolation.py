"""Issue 11: order-independent deliveries, per-project locks, a bounded config cache, /predict off the lock."""
from __future__ import annotations

import itertools
import threading

import pytest

from backend.lru import BoundedCache
from backend.request_args import parse_tasks
from backend.store import AnnotationVersion

WAIT = 30  # seconds a thread may take to reach a point (a liveness bound, not a timing assertion)


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# ------------------------------------------------------------------ order independence (payload mode)
STATES = [  # one annotation: two updates with the same updated_at, two without, one cancelled
    AnnotationVersion(7, 1, "zero", 100.0), AnnotationVersion(7, 1, "two", 100.0),
    AnnotationVersion(7, 1, "one", None), AnnotationVersion(7, 1, None, None), AnnotationVersion(7, 1, "one", 50.0),
]


@pytest.mark.parametrize("states", [STATES[:2], STATES[2:4], STATES])
def test_every_delivery_order_ends_in_the_same_state(store, states):
    finals = set()
    for project, order in enumerate(itertools.permutations(states), start=1):  # a project per order: fresh state
        for state in order:
            store.apply_annotations(project, [state])
        finals.add(tuple(store._query("SELECT annotation, task, choice, version FROM annotations WHERE project = ?",
                                      (project,))))
    assert len(finals) == 1, finals


def test_the_later_updated_at_still_wins(store):
    store.apply_annotations(1, [AnnotationVersion(7, 1, "zero", 200.0)])
    store.apply_annotations(1, [AnnotationVersion(7, 1, "two", 100.0)])   # older: ignored
    assert [(x.choice) for x in store.labels(1)] == ["zero"]
    store.apply_annotations(1, [AnnotationVersion(7, 1, "one", 300.0)])
    assert [(x.choice) for x in store.labels(1)] == ["one"]


# ------------------------------------------------------------------ per-project locks
def test_a_slow_project_does_not_block_rankings_of_another(backend_factory, events, monkeypatch):
    import backend.service as service_module

    b = backend_factory()
    for project in (1, 2):
        ok(b.post("/setup", {"project": project, "schema": events.config}))
        body = events.tasks_created(*range(1, 11))
        body["project"]["id"] = project
        ok(b.webhook(body))
    ok(b.client.get("/rankings?project=2"))
    entered, release = threading.Event(), threading.Event()
    real_fit = service_module.fit_belief

    def slow_fit(project, *args, **kwargs):
        if project == 1:
            entered.set()
            release.wait(WAIT)
        return real_fit(project, *args, **kwargs)

    monkeypatch.setattr(service_module, "fit_belief", slow_fit)
    b.service.beliefs.forget(1)
    b.service.beliefs.forget(2)
    b.service.store._db.execute("DELETE FROM ranking_snapshots")  # make /rankings refit
    worker = threading.Thread(target=lambda: b.service.rankings(1))
    worker.start()
    try:
        assert entered.wait(WAIT), "project 1's fit never started"
        assert b.service.beliefs.locks.lock(1)._is_owned() is False   # held by the other thread, not this one
        answer = b.service.rankings(2)                         # answers while project 1 holds its lock
        assert answer["project"] == 2 and not release.is_set()
        assert not b.service.beliefs.locks.lock(1).acquire(blocking=False)  # project 1 still held
    finally:
        release.set()
        worker.join(WAIT)
    assert not worker.is_alive()


# ------------------------------------------------------------------ bounded config cache
def test_the_cache_never_exceeds_its_entries_or_bytes():
    cache = BoundedCache(max_entries=8, max_bytes=50 * 2 ** 20)
    for i in range(30):                                        # 30 "configs" of 10 MB
        cache.put(f"k{i}", object(), 10 * 2 ** 20)
        assert len(cache) <= 8 and cache.bytes <= 50 * 2 ** 20
    assert len(cache) == 5 and cache.get("k29") is not None and cache.get("k0") is None
    cache.put("huge", object(), 60 * 2 ** 20)                  # larger than the bound: not cached
    assert cache.get("huge") is None and cache.bytes <= 50 * 2 ** 20


def test_thirty_large_configs_do_not_grow_the_service_cache_past_its_bound(backend_factory, events):
    b = backend_factory()
    b.service.configs.checked = BoundedCache(max_entries=64, max_bytes=2 * 2 ** 20)
    for i in range(30):
        padding = f'<Header value="{"x" * 200_000}{i}"/>'      # ~200 KB each, 6 MB in all
        config = events.config.replace("<View>", "<View>" + padding)
        b.service.choices_for(config)
        assert b.service.configs.checked.bytes <= 2 * 2 ** 20
    assert 0 < len(b.service.configs.checked) <= 10


# ------------------------------------------------------------------ /predict predicts outside the store lock
def test_predict_holds_no_store_lock_while_candidates_predict_and_a_422_stores_nothing(backend_factory, events):
    b = backend_factory()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    cand = b.service.pool.candidates[0]
    entered, release = threading.Event(), threading.Event()
    real = cand.predict_tasks

    def slow(tasks, choices):
        entered.set()
        release.wait(WAIT)
        return real(tasks, choices)

    cand.predict_tasks = slow
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "answer", b.service.predict(1, parse_tasks([events.task(t) for t in range(1, 4)]))))
    worker.start()
    try:
        assert entered.wait(WAIT)
        assert b.service.store._lock.acquire(timeout=WAIT)       # the store is free meanwhile
        b.service.store._lock.release()
        with b.service.store.transaction():                       # and SQLite takes a write transaction
            pass
        assert b.service.store.task_data(1, [1, 2, 3]) == {}      # nothing stored before the predictions are in
    finally:
        release.set()
        worker.join(WAIT)
    cand.predict_tasks = real
    assert len(result["answer"]["results"]) == 3 and sorted(b.service.store.task_data(1, [1, 2, 3])) == [1, 2, 3]
    response = b.post("/predict", {"project": 1, "tasks": [{"id": 40, "data": {"key": "nope"}}]})
    assert response.status_code == 422
    assert b.service.store.task_data(1, [40]) == {} and 40 not in b.service.store.round_tasks(1, 1)

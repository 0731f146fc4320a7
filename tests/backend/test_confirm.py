"""Confirmation mode (issue 11): a webhook is a hint to re-read; only Label Studio's record is stored.

The Label Studio here is the recording fake of ``test_refresh.py``: ``Backend.webhook`` (conftest) first
tells it what a real Label Studio would hold when it sends that webhook, while a *forged* webhook is
posted straight to the backend (``client.post``), so the fake holds nothing of it.  The same behaviour
against the real Label Studio 1.23.2 is in ``tests/e2e/test_confirm_e2e.py``.
"""
from __future__ import annotations

import pytest

from tests.backend.test_refresh import FakeLabelStudio


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def confirmed(backend_factory, events):
    """A backend in confirmation mode (Label Studio API configured) on a recording fake, 30 tasks imported."""
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_WRITEBACK="false")
    b.service._api = FakeLabelStudio()
    assert b.service.confirm_labels
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    answer = ok(b.webhook(events.tasks_created(*range(1, 31))))
    assert answer["pending"] == 0 and answer["confirmation"]["tasks_read"] == 30
    for aid, task, choice in ((100, 1, "zero"), (101, 2, "one"), (102, 3, "two")):
        ok(b.webhook(events.created(aid, task, choice, second=1)))
    assert b.labels() == [(100, 1, "zero"), (101, 2, "one"), (102, 3, "two")]
    return b


def forge(b, body):
    """A webhook Label Studio never sent: posted to the backend only."""
    return ok(b.client.post("/webhook", json=body))


def test_the_webhook_stores_a_hint_and_the_confirmation_reads_label_studio(confirmed, events):
    b = confirmed
    ls = b.service._api
    body = events.created(103, 4, "one", second=2)
    ls.record_event(body)
    ls.tasks[4]["annotations"][0]["result"][0]["value"]["choices"] = ["two"]  # Label Studio's record differs
    answer = forge(b, body)
    assert answer["status"] == "ok" and answer["pending"] == 0 and answer["hint"] >= 1
    assert (103, 4, "two") in b.labels()                  # Label Studio's answer, not the payload's
    assert b.service.store.pending_count() == 0
    job = ok(b.client.get("/jobs?project=1"))["jobs"]
    assert any(j["kind"] == "confirm" and j["state"] == "finished" for j in job)


def test_a_forged_label_changes_nothing(confirmed, events):
    b = confirmed
    before = (b.labels(), b.ranking())
    for aid in range(200, 240):                           # 40 forged labels, as in the issue
        answer = forge(b, events.created(aid, 5 + aid % 20, "two", second=3))
        assert answer["annotations_changed"] == 0
    after = (b.labels(), b.ranking())
    assert after[0] == before[0] and after[1]["candidates"] == before[1]["candidates"]
    assert after[1]["model_version"] == before[1]["model_version"]


def test_a_forged_future_update_changes_nothing_and_a_later_genuine_update_applies(confirmed, events):
    b = confirmed
    forged = events.updated(100, 1, "two")
    forged["annotation"]["updated_at"] = "2099-01-01T00:00:00Z"
    forge(b, forged)
    assert (100, 1, "zero") in b.labels()
    ok(b.webhook(events.updated(100, 1, "one", second=9)))  # the genuine update, older than the forged stamp
    assert (100, 1, "one") in b.labels() and (100, 1, "zero") not in b.labels()


def test_a_forged_delete_of_200000_unseen_ids_tombstones_nothing(confirmed, events):
    b = confirmed
    ids = list(range(1000, 201000))
    answer = forge(b, events.deleted(*ids))
    assert answer["annotations_removed"] == 0 and answer["pending"] == 0
    assert b.service.store._query("SELECT COUNT(*) FROM deleted_annotations")[0][0] == 0
    for aid in range(1000, 1010):                         # genuine annotations with those ids arrive later
        ok(b.webhook(events.created(aid, 10 + aid - 1000, "zero", second=4)))
    assert len([x for x in b.labels() if 1000 <= x[0] < 1010]) == 10


def test_a_forged_delete_of_a_real_annotation_changes_nothing(confirmed, events):
    b = confirmed
    forge(b, events.deleted(100, 101))
    assert b.labels() == [(100, 1, "zero"), (101, 2, "one"), (102, 3, "two")]
    ok(b.webhook(events.deleted(101)))                    # Label Studio really deletes it
    assert b.labels() == [(100, 1, "zero"), (102, 3, "two")]


def test_a_forged_tasks_deleted_does_not_delete_or_block_re_imports(confirmed, events):
    b = confirmed
    rows_before = b.service.store._query("SELECT COUNT(*) FROM task_reads")[0][0]
    forge(b, {"action": "TASKS_DELETED", "project": events.project(),
              "tasks": [{"id": 1}] + [{"id": t} for t in range(31, 20031)]})
    assert (100, 1, "zero") in b.labels() and b.ranking()["tasks"] == 30
    # 20,000 ids neither side has leave no row behind (task 1 was read again: its row is updated, not added)
    assert b.service.store._query("SELECT COUNT(*) FROM task_reads")[0][0] == rows_before
    assert b.service.store._query("SELECT COUNT(*) FROM deleted_tasks")[0][0] == 0
    body = events.tasks_created(31, 32)                   # a genuine import of the forged-deleted id 31
    for i, task in enumerate(body["tasks"]):
        task["data"] = {"key": f"k{i}"}                   # (the demo pool knows 30 keys)
    ok(b.webhook(body))
    assert b.ranking()["tasks"] == 32
    ok(b.webhook({"action": "TASKS_DELETED", "project": events.project(), "tasks": [{"id": 1}]}))
    assert (100, 1, "zero") not in b.labels() and b.ranking()["tasks"] == 31


def test_label_studio_down_keeps_the_hints_and_a_later_confirmation_stores_them(confirmed, events):
    from backend.labelstudio_api import LabelStudioAPIError

    b = confirmed
    ls = b.service._api
    real = ls.tasks_by_id

    def down(project, ids):
        raise LabelStudioAPIError("GET", f"/api/projects/{project}/export", None, "connection refused", kind="refused")

    ls.tasks_by_id = down
    for aid in (110, 111, 112):
        answer = ok(b.webhook(events.created(aid, aid - 100, "one", second=5)))
        assert answer["confirmation"]["state"] == "failed"
    assert answer["pending"] == 3
    health = ok(b.client.get("/health"))
    assert health["labels"]["confirmed"] and health["labels"]["pending_hints"] == 3
    assert health["label_studio"]["problem"] == "refused"
    assert not [x for x in b.labels() if x[0] >= 110]     # not stored yet, not lost either
    ls.tasks_by_id = real                                 # Label Studio is back: the next refresh retries
    b.service.refresh(1, force=True)
    assert [x for x in b.labels() if x[0] >= 110] == [(110, 10, "one"), (111, 11, "one"), (112, 12, "one")]
    assert b.service.store.pending_count() == 0


@pytest.mark.parametrize("retry", ["sync", "restart"])
def test_hints_left_pending_are_confirmed_by_sync_or_at_start(confirmed, events, backend_factory, retry):
    from backend.labelstudio_api import LabelStudioAPIError

    b = confirmed
    ls = b.service._api
    real = ls.tasks_by_id
    ls.tasks_by_id = lambda project, ids: (_ for _ in ()).throw(
        LabelStudioAPIError("GET", "/api/projects/1/export", 503, "maintenance"))
    ok(b.webhook(events.created(120, 20, "two", second=6)))
    assert b.service.store.pending_count(1) == 1
    ls.tasks_by_id = real
    if retry == "sync":
        answer = ok(b.client.post("/sync?project=1"))
        assert answer["hints_confirmed"] == 1
    else:
        b.service.store.close()
        again = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                                MODELPICKER_WRITEBACK="false")
        again.service._api = ls
        assert again.service.store.pending_count(1) == 1  # the hint survived the process
        again.service.resume_pending()                    # what the start check and a new worker do
        b = again
    assert (120, 20, "two") in b.labels() and b.service.store.pending_count(1) == 0


def test_health_and_start_log_say_labels_are_unconfirmed_without_label_studio(backend_factory, caplog):
    b = backend_factory()
    labels = ok(b.client.get("/health"))["labels"]
    assert labels["confirmed"] is False and "LABEL_STUDIO_URL" in labels["warning"]
    assert any("labels are UNCONFIRMED" in r.getMessage() and "LABEL_STUDIO_API_KEY" in r.getMessage()
               for r in caplog.records)


def test_a_hint_for_a_project_label_studio_does_not_have_is_dropped(confirmed, events):
    from backend.labelstudio_api import LabelStudioAPIError

    b = confirmed
    ls = b.service._api

    def no_project(project):
        raise LabelStudioAPIError("GET", f"/api/projects/{project}/", 404, "Not found.")

    ls.get_project = no_project
    body = events.created(300, 1, "one")
    body["project"]["id"] = 77
    answer = forge(b, body)
    assert answer["pending"] == 0 and b.service.store.get_label_config(77) is None


def test_with_rq_the_webhook_only_commits_and_enqueues_and_a_down_label_studio_gets_one_retry(
        backend_factory, events, redis_url, monkeypatch, tmp_path, pool_dir):
    """Real Redis and rq: the answer comes before any read of Label Studio; a burst makes one job; the worker's
    failed confirmation (nothing listens at LABEL_STUDIO_URL) keeps the hints and schedules one retry."""
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.registry import ScheduledJobRegistry

    from backend import worker

    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "secret",
           "MODELPICKER_WRITEBACK": "false", "REDIS_URL": redis_url}
    b = backend_factory(**env)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    first = forge(b, events.tasks_created(*range(1, 31)))
    assert first["pending"] == 1 and first["rq_job"] and "confirmation" not in first
    second = forge(b, events.created(100, 1, "zero"))
    assert second["pending"] == 2 and second["job"] == first["job"] and "rq_job" not in second  # coalesced
    assert b.service.store.task_data(1, [1]) == {} and b.labels() == []                        # nothing yet
    for key, value in {"MODEL_DIR": str(tmp_path / "model_dir"), "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                       **env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(worker, "_worker_service", None)
    connection = Redis.from_url(redis_url)
    queue = Queue("modelpicker", connection=connection)
    SimpleWorker([queue], connection=connection).work(burst=True)
    worker._worker_service.store.close()
    assert b.service.store.pending_count(1) == 2                   # kept: Label Studio could not be read
    records = ok(b.client.get("/jobs?project=1"))["jobs"]
    assert [j["state"] for j in records if j["kind"] == "confirm"].count("failed") >= 1
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1
    assert sum(j["state"] == "queued" for j in records if j["kind"] == "confirm") == 1   # the one retry
    third = forge(b, events.created(101, 2, "one"))              # coalesces onto the waiting retry
    assert "rq_job" not in third and len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1


def test_a_job_record_a_crash_never_enqueued_is_not_waited_for(backend_factory, events, redis_url):
    """The server killed between a hint's commit and the enqueue leaves a "queued" record nothing will run:
    the next webhook queues its own job instead of coalescing onto it (real Redis and rq)."""
    from redis import Redis
    from rq import Queue

    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_WRITEBACK="false", REDIS_URL=redis_url)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    store, now = b.service.store, b.service.clock()
    store.add_hint(1, "ANNOTATION_CREATED", [1], [100], False, now)   # what the killed request committed
    store.add_job("lost", 1, "confirm", now)
    assert store.waiting_job(1, "confirm", now - 60) is None
    answer = forge(b, events.created(101, 2, "one"))
    assert answer["rq_job"] and answer["job"] != "lost" and answer["pending"] == 2
    assert answer["rq_job"] in Queue("modelpicker", connection=Redis.from_url(redis_url)).job_ids
    again = forge(b, events.created(102, 3, "two"))                     # coalesces onto the enqueued one
    assert again["job"] == answer["job"] and "rq_job" not in again


def test_the_sweep_confirms_hints_whose_job_was_lost(confirmed, events):
    """An rq worker killed mid-confirmation leaves its record "started" and the hints pending; with no later
    webhook, the web process's sweep (backend.hint_sweeper) submits a new confirmation once they waited 30 s."""
    from backend.service import HINT_SWEEP_AGE_SECONDS

    b = confirmed
    ls, store = b.service._api, b.service.store
    t0 = b.service.clock()
    body = events.created(130, 7, "two", second=8)
    ls.record_event(body)                                 # Label Studio holds the annotation
    store.add_hint(1, "ANNOTATION_CREATED", [7], [130], False, t0)
    store.add_job("killed", 1, "confirm", t0)
    store.update_job("killed", t0, state="started")       # the worker died here
    assert b.service.sweep_unattended_hints() == {}       # too young: a job may still be on its way
    assert store.pending_count(1) == 1
    b.service.clock = lambda: t0 + HINT_SWEEP_AGE_SECONDS + 1
    assert list(b.service.sweep_unattended_hints()) == [1]
    assert (130, 7, "two") in b.labels() and store.pending_count(1) == 0
    assert b.service.sweep_unattended_hints() == {}       # nothing left to sweep


def test_an_old_store_file_gets_the_enqueued_column(tmp_path):
    import sqlite3

    from backend.store import SQLiteStore

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, project INTEGER, kind TEXT NOT NULL, state TEXT NOT NULL, "
               "progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, "
               "started_at REAL, finished_at REAL, result TEXT, run_after REAL)")
    db.execute("INSERT INTO jobs (id, project, kind, state, created_at) VALUES ('old', 1, 'confirm', 'queued', 5)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.waiting_job(1, "confirm", 0) is None     # never known to be enqueued
    store.mark_enqueued("old", 6)
    assert store.waiting_job(1, "confirm", 0) == "old"
    store.close()


def test_new_tasks_label_studio_does_not_show_yet_are_read_again(confirmed, events):
    """Label Studio 1.23.2 sends TASKS_CREATED from inside its import transaction (the web UI's file import):
    a read at once can miss the new tasks.  The hint stays until they show, at most CREATED_PATIENCE_SECONDS."""
    from backend.confirm import CREATED_PATIENCE_SECONDS
    from tests.backend.test_refresh import FakeClock

    b = confirmed
    ls = b.service._api
    clock = b.service.clock = FakeClock(2e9)
    body = events.tasks_created(31, 32)
    answer = forge(b, body)                                   # Label Studio has not committed them yet
    assert answer["pending"] == 1 and answer["confirmation"]["waiting"] == 1
    assert b.service.store.stored_task_ids(1, [31, 32]) == set()
    clock.now += 5
    ls.record_event(body)                                     # committed now
    again = b.service.confirm_pending(1)                      # the retry (rq: 2 s later; inline: the sweep)
    assert again["waiting"] == 0 and again["pending"] == 0 and again["new_tasks"] == [31, 32]
    assert b.service.store.stored_task_ids(1, [31, 32]) == {31, 32}
    forge(b, events.tasks_created(33))                        # never created (or deleted at once)
    assert b.service.store.pending_count(1) == 1
    clock.now += CREATED_PATIENCE_SECONDS + 1
    last = b.service.confirm_pending(1)
    assert last["waiting"] == 0 and last["pending"] == 0 and b.service.store.stored_task_ids(1, [33]) == set()


def test_a_confirmation_that_finds_its_hints_taken_by_another_job_answers_in_full(confirmed):
    """Two jobs for the same hints: the second finds none left (its answer has every key the job reads)."""
    from backend.confirm import confirm_project

    b = confirmed
    answer = confirm_project(b.service.store, b.service._api, 1, b.service.project_choices(1), b.service.clock)
    assert answer["hints"] == 0 and answer["waiting"] == 0 and answer["pending"] == 0

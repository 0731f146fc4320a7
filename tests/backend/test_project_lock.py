"""One refresh of a project at a time across processes: the store's cross-process lock, and a refresh job
that finds its labels already refreshed by another job does nothing twice (on SQLite and PostgreSQL)."""
from __future__ import annotations

import threading

from backend.project_lock import project_lock


def _holder(store, project, holding: threading.Event, release: threading.Event):
    def run():
        with project_lock(store, project):
            holding.set()
            release.wait(30)
    return threading.Thread(target=run)


def test_a_second_holder_waits_for_the_first_and_other_projects_do_not(make_store):
    first, second, other = make_store("s"), make_store("s"), make_store("s")  # three connections to one store
    holding, release = threading.Event(), threading.Event()
    a = _holder(first, 7, holding, release)
    a.start()
    assert holding.wait(30)
    got = threading.Event()

    def take_second():
        with project_lock(second, 7):
            got.set()
    b = threading.Thread(target=take_second)
    b.start()
    with project_lock(other, 8):  # another project's lock is free meanwhile
        pass
    assert not got.wait(0.5), "the second holder got project 7's lock while the first held it"
    release.set()
    a.join(30)
    assert got.wait(30), "the second holder never got the lock after the first let go"
    b.join(30)


def test_a_refresh_of_labels_already_refreshed_is_skipped(backend, events):
    backend.webhook(events.tasks_created(*range(1, 31)))
    backend.webhook(events.created(100, 1, "zero"))  # refreshed inline, in the webhook
    service = backend.service
    first = service.store.jobs(1, 1)[0]
    assert first["state"] == "finished" and first["result"]["labels"] == 1 and not first["result"].get("skipped")
    again = service.refresh(1)  # what a second worker's job for the same labels does
    assert again["state"] == "finished" and again["skipped"] is True
    assert again["labels_covered_by"] == first["id"]
    assert service.refresh(1)["labels_covered_by"] == first["id"]
    assert service.refresh(1, force=True)["skipped"] is True  # forced or not, nothing changed since
    backend.webhook(events.created(101, 2, "one"))  # a new label: its refresh runs (inline, in the webhook)
    latest = service.store.jobs(1, 1)[0]
    assert latest["state"] == "finished" and latest["result"]["labels"] == 2 and not latest["result"].get("skipped")
    backend.webhook(events.tasks_created(31))  # a new task, no new label: the matrix changed, the refresh runs
    latest = service.store.jobs(1, 1)[0]
    assert latest["state"] == "finished" and not latest["result"].get("skipped") and latest["result"]["labels"] == 2


def test_a_changed_pool_or_setting_is_refreshed_even_with_the_same_labels(backend_factory, events):
    b = backend_factory()
    assert b.post("/setup", {"project": "1.1700000000", "schema": events.config}).status_code == 200
    b.webhook(events.tasks_created(*range(1, 31)))
    b.webhook(events.created(100, 1, "zero"))
    assert b.service.refresh(1)["skipped"] is True
    again = backend_factory(MODELPICKER_EPSILON="0.2")  # a restart with another stopping setting, same store
    result = again.service.refresh(1)
    assert result["state"] == "finished" and not result.get("skipped")


def test_a_label_stored_while_a_refresh_runs_gets_its_own_refresh(backend, events):
    from backend.records import AnnotationVersion

    backend.webhook(events.tasks_created(*range(1, 31)))
    backend.webhook(events.created(100, 1, "zero"))
    service = backend.service
    keep = service.refresher.rankings.keep

    def keep_and_meanwhile_a_label(project, belief_at=None):  # another process stores a label mid-refresh
        out = keep(project, belief_at)
        if not getattr(keep_and_meanwhile_a_label, "done", False):
            keep_and_meanwhile_a_label.done = True
            service.store.apply_annotations(1, [AnnotationVersion(annotation=101, task=2, choice="one", version=1.0)])
        return out

    service.refresher.rankings.keep = keep_and_meanwhile_a_label
    backend.webhook(events.created(102, 3, "two"))   # its refresh runs; label 101 lands while it does
    assert service.store.jobs(1, 1)[0]["result"]["labels"] == 2
    follow_up = service.refresh(1)
    assert follow_up["state"] == "finished" and not follow_up.get("skipped") and follow_up["labels"] == 3

"""One refresh of a project at a time across processes: the store's cross-process lock (on SQLite and
PostgreSQL)."""
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

"""The periodic sync counts a label whose webhook never came, keeps each project's outcome, and /health shows it."""
from __future__ import annotations

from tests.backend.test_refresh import FakeClock, FakeLabelStudio
from tests.backend.test_webhook import ok


def test_a_label_without_its_webhook_is_caught_up_and_shown_in_health(backend_factory, events, truth):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    clock = b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    ok(b.webhook(events.created(101, 1, events.choices[truth[0]])))
    assert b.service.sync_all() == {1: {"caught_up": 0, "error": None}}   # the webhooks told everything
    ls.record_event(events.created(102, 2, events.choices[truth[1]]))     # labelled in Label Studio, webhook lost
    assert len(b.labels()) == 1
    clock.now += 300
    assert b.service.sync_all() == {1: {"caught_up": 1, "error": None}}
    assert sorted(a for a, _, _ in b.labels()) == [101, 102]
    health = ok(b.client.get("/health"))["sync"]
    assert health["every_seconds"] == 300.0
    assert health["projects"]["1"]["caught_up"] == 1 and health["projects"]["1"]["total_caught_up"] == 1
    assert health["projects"]["1"]["at"] == health["projects"]["1"]["last_caught_up_at"] != None  # noqa: E711
    clock.now += 300
    b.service.sync_all()                                                   # nothing missed this time
    again = ok(b.client.get("/health"))["sync"]["projects"]["1"]
    assert again["caught_up"] == 0 and again["total_caught_up"] == 1
    assert again["last_caught_up_at"] == health["projects"]["1"]["at"] != again["at"]


def test_a_project_that_cannot_be_synced_keeps_its_error(backend_factory, events):
    b = backend_factory()                                                  # no Label Studio configured
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    outcome = b.service.sync_all()[1]
    assert outcome["caught_up"] == 0 and "LABEL_STUDIO_URL" in outcome["error"]
    shown = ok(b.client.get("/health"))["sync"]["projects"]["1"]
    assert shown["error"] == outcome["error"] and shown["last_caught_up_at"] is None


def test_the_ranking_page_says_when_label_studio_was_last_checked(backend_factory, events, truth):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    page = b.client.get("/page?project=1").get_data(as_text=True)
    assert "Last check against Label Studio" not in page                  # no sync yet
    ls.record_event(events.created(102, 2, events.choices[truth[1]]))
    b.service.sync_all()
    page = b.client.get("/page?project=1").get_data(as_text=True)
    assert "Last check against Label Studio" in page and "caught up 1 change(s) no webhook delivered" in page


def test_tasks_whose_tasks_created_webhook_was_lost_are_stored_by_the_sync(backend_factory, events):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    clock = b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    ls.record_event(events.tasks_created(11, 12))                         # imported; its webhook never came
    assert b.service.store.stored_task_ids(1, [11, 12]) == set()
    assert b.service.sync_all() == {1: {"caught_up": 2, "error": None}}
    assert b.service.store.stored_task_ids(1, [11, 12]) == {11, 12}
    assert b.ranking()["tasks"] == 12
    clock.now += 300
    assert b.service.sync_all() == {1: {"caught_up": 0, "error": None}}  # nothing new the second time


def test_of_the_processes_sharing_a_store_one_syncs_a_project_per_period(backend_factory, events, truth):
    """Every web process runs the periodic sync; the first to claim a project's sync in a period runs it,
    the others leave that project out of their sync until the period has passed."""
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "secret"}
    a = backend_factory(**env)
    b = backend_factory(**env)                                            # a second process on the same store
    clock = a.service.clock = b.service.clock = FakeClock()
    ls = a.service._api = b.service._api = FakeLabelStudio()
    ok(a.post("/setup", {"project": 1, "schema": events.config}))
    ok(a.webhook(events.tasks_created(*range(1, 11))))
    ls.record_event(events.created(102, 2, events.choices[truth[1]]))     # labelled; its webhook lost
    assert a.service.sync_all() == {1: {"caught_up": 1, "error": None}}
    assert b.service.sync_all() == {}                                     # a synced project 1 this period
    clock.now += 0.9 * 300 - 1
    assert b.service.sync_all() == {} and a.service.sync_all() == {}
    clock.now += 1
    assert b.service.sync_all() == {1: {"caught_up": 0, "error": None}}   # the next period: b's turn
    assert a.service.sync_all() == {}


def test_the_sync_lists_every_task_only_when_the_counts_differ_or_an_hour_has_passed(backend_factory, events):
    """Listing every task costs Label Studio about 110 s at 100,000 tasks (benchmarks/task_listing_scale.py)."""
    from backend.sync import FULL_LISTING_SECONDS

    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    clock = b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    created = events.tasks_created(*range(1, 11))
    ls.record_event(created)
    ok(b.webhook(created))

    def listings() -> int:
        return sum(1 for c in ls.calls if c[0] == "task_ids")

    b.service.sync_all()
    assert listings() == 1                                             # a process's first sync lists
    clock.now += 300
    b.service.sync_all()
    assert listings() == 1                                             # 10 tasks on both sides: no listing
    ls.tasks.pop(10)                                                   # deleted, and its webhook lost ...
    ls.record_event(events.tasks_created(11))                          # ... as was this one's: counts equal
    clock.now += 300
    assert b.service.sync_all() == {1: {"caught_up": 0, "error": None}}
    assert listings() == 1 and b.service.store.stored_task_ids(1, [11]) == set()
    clock.now += FULL_LISTING_SECONDS
    assert b.service.sync_all()[1]["caught_up"] == 2                    # the hourly listing finds both
    assert listings() == 2 and b.service.store.stored_task_ids(1, [10, 11]) == {11}
    ls.record_event(events.tasks_created(12))                          # counts differ: listed at once
    clock.now += 300
    assert b.service.sync_all()[1]["caught_up"] == 1
    assert listings() == 3 and b.service.store.stored_task_ids(1, [12]) == {12}
    ok(b.post("/sync?project=1", {}))                                  # asked for by hand: lists in any case
    assert listings() == 4


def test_one_listing_serves_every_process_sharing_the_store(backend_factory, events):
    """The time of the last listing is kept in the store: a second web process (another gunicorn worker, a
    replica) does not list again in its first sync."""
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "secret"}
    a, b = backend_factory(**env), backend_factory(**env)
    clock = a.service.clock = b.service.clock = FakeClock()
    ls = a.service._api = b.service._api = FakeLabelStudio()
    ok(a.post("/setup", {"project": 1, "schema": events.config}))
    created = events.tasks_created(*range(1, 11))
    ls.record_event(created)
    ok(a.webhook(created))
    a.service.sync_all()
    clock.now += 300
    b.service.sync_all()
    assert sum(1 for c in ls.calls if c[0] == "task_ids") == 1
    assert b.service.store.task_listed_at(1) == clock.now - 300


def test_tasks_announced_but_not_yet_confirmed_do_not_make_the_sync_list(backend_factory, events, monkeypatch):
    """A large import is confirmed a few thousand tasks a job: meanwhile Label Studio counts more tasks
    than the store holds, and the pending TASKS_CREATED hints name exactly the difference."""
    import backend.confirm

    monkeypatch.setattr(backend.confirm, "MAX_TASKS_PER_JOB", 3)
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    clock = b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    store = b.service.store
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    created = events.tasks_created(*range(1, 11))
    ls.record_event(created)
    ok(b.webhook(created))
    b.service.sync_all()                                               # the first sync lists
    ls.record_event(events.tasks_created(*range(11, 21)))              # imported; 10 webhooks queued ...
    for task in range(11, 21):                                         # ... as a busy rq worker leaves them
        store.add_hint(1, "TASKS_CREATED", [task], [], False, clock.now)
    clock.now += 300
    assert b.service.sync_all() == {1: {"caught_up": 0, "error": None}}  # its confirmations took 3 a job
    assert 10 < store.task_count(1) < 20 and store.task_count(1) + store.pending_count(1) == 20
    assert sum(1 for c in ls.calls if c[0] == "task_ids") == 1          # 20 = stored + announced
    store.add_hint(1, "TASKS_DELETED", [1], [], False, clock.now)       # announced deleted: 19 expected
    clock.now += 300
    b.service.sync_all()
    assert sum(1 for c in ls.calls if c[0] == "task_ids") == 2          # Label Studio still has 20: listed


def test_a_listing_leaves_announced_tasks_to_their_confirmation(backend_factory, events, monkeypatch):
    """The first listing of a project met during a large import's confirmation read every task the hints
    had not confirmed yet by id as well (60,000 at once in the 100,000-task benchmark)."""
    import backend.confirm

    monkeypatch.setattr(backend.confirm, "MAX_TASKS_PER_JOB", 3)
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    store = b.service.store
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ls.record_event(events.tasks_created(*range(1, 21)))
    for task in range(1, 21):                                          # 20 webhooks, not confirmed yet
        store.add_hint(1, "TASKS_CREATED", [task], [], False, b.service.clock.now)
    reads: list[list[int]] = []
    read_by_id = ls.tasks_by_id
    monkeypatch.setattr(ls, "tasks_by_id", lambda project, ids: reads.append(list(ids)) or read_by_id(project, ids))
    b.service.sync_all()
    assert sum(1 for c in ls.calls if c[0] == "task_ids") == 1         # the first sync lists ...
    assert reads and max(len(r) for r in reads) <= 3                   # ... but reads only what the jobs read
    while store.pending_count(1):
        b.service.confirm_pending(1)
    assert store.task_count(1) == 20

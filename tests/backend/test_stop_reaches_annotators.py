"""STOP empties Label Studio's queue and says so in the instructions; a reopened round refills it; superseded
priorities wait out a grace period before they are deleted.  Against the recording fake of Label Studio
(tests/backend/test_refresh.py); tests/e2e/test_writeback_e2e.py checks the same against a real one."""
from __future__ import annotations

from backend.queue_stop import BEGIN, stopped_marker
from tests.backend.test_refresh import FakeClock, FakeLabelStudio
from tests.backend.test_webhook import ok

ADMIN_TEXT = "<p>Digits: choose the digit you see.</p>"


def label(b, events, truth, aid, task):
    return ok(b.webhook(events.created(aid, task, events.choices[truth[task - 1]], second=aid % 60)))


def budget_backend(backend_factory, events, **env):
    """Ten tasks, a budget of 3 labels (the STOP), write-back to the fake Label Studio."""
    b = backend_factory(MODELPICKER_LABEL_BUDGET="3", MODELPICKER_CONFIDENCE="0.999999",
                        MODELPICKER_STOP_RULE="belief", LABEL_STUDIO_URL="http://127.0.0.1:9",
                        LABEL_STUDIO_API_KEY="secret", **env)
    ls = b.service._api = FakeLabelStudio()
    ls.instruction = ADMIN_TEXT
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    return b, ls


def latest_refresh(b) -> dict:
    return next(j for j in ok(b.client.get("/jobs?project=1"))["jobs"] if j["kind"] == "refresh")


def test_stop_takes_every_task_left_out_of_the_queue_next_ones_first(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2)):
        label(b, events, truth, aid, task)
    queue_top = latest_refresh(b)["result"]["queue_top"]                # the order the annotators are served
    assert len(queue_top) == 8 and set(queue_top) == set(range(3, 11))
    ls.calls.clear()
    shown_while_emptying = []
    flag = ls.set_labeled

    def set_labeled(project, task_ids, labeled):                        # what /rankings says meanwhile
        kept = b.service.store.ranking_snapshot(1, b.service.ranking_keeper.snapshot_key)
        shown_while_emptying.append(kept["body"]["decision"]["stop"])
        return flag(project, task_ids, labeled)

    ls.set_labeled = set_labeled
    label(b, events, truth, 103, queue_top[0])                          # the third label: the budget stops
    assert shown_while_emptying == [False, False]                       # STOP kept only once the queue is empty
    decision = b.ranking()["decision"]
    assert decision["stop"] and decision["reason"] == "budget"
    flagged = [c for c in ls.calls if c[0] == "set_labeled"]
    assert len(flagged) == 2 and flagged[0][3] is True
    assert flagged[0][2] == [t for t in queue_top if t != queue_top[0]]  # all seven left, in queue order, at once
    assert flagged[1][2] == []                                          # then Label Studio's flags: none left open
    names = [c[0] for c in ls.calls]
    assert names.index("set_labeled") < names.index("task_ids")         # nothing read before the first flags
    assert "import_predictions" not in [c[0] for c in ls.calls]       # no new priorities once stopped
    names = [c[0] for c in ls.calls]
    assert names.index("set_labeled") < names.index("set_description")  # emptied before the STOP is shown
    assert ls.instruction.startswith(BEGIN) and ls.instruction.endswith(ADMIN_TEXT) and ls.show_instruction
    assert f"STOP LABELLING: {decision['candidate']} chosen" in ls.instruction
    assert "STOP LABELLING" in ls.description
    job = latest_refresh(b)
    result = job["result"]
    assert result["stopped_tasks"] == 7 and result["pushed"] == 0
    assert job["message"].startswith("STOP: queue emptied (7 task(s) taken out)")
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1)


def test_a_label_after_the_stop_neither_pushes_nor_flags_again(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    ls.calls.clear()
    label(b, events, truth, 104, 4)                                     # a task that was open on someone's screen
    assert b.ranking()["decision"]["stop"]
    assert "import_predictions" not in [c[0] for c in ls.calls]
    assert [c[2] for c in ls.calls if c[0] == "set_labeled"] == [[], []]  # every task already out of the queue
    assert ls.instruction.count(BEGIN) == 1 and ls.instruction.endswith(ADMIN_TEXT)  # replaced, not stacked


def test_a_reopened_round_puts_its_unlabelled_tasks_back_and_removes_the_stop(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    ls.calls.clear()
    ok(b.webhook(events.deleted(103)))                                  # back under the budget: reopened
    assert not b.ranking()["decision"]["stop"]
    unflagged = [c for c in ls.calls if c[0] == "set_labeled"]
    assert len(unflagged) == 1 and unflagged[0][3] is False and sorted(unflagged[0][2]) == list(range(3, 11))
    assert all(ls.flags[t] is False for t in range(3, 11))
    assert ls.instruction == ADMIN_TEXT and ls.show_instruction        # the admin's text, shown as before
    names = [c[0] for c in ls.calls]
    assert names.index("set_labeled") < names.index("import_predictions") < names.index("set_queue_version")
    assert b.service.store.refresh_state(1)["pushed_version"] == b.ranking()["model_version"]
    assert "decision reopened" in ls.description


def test_stop_queue_off_leaves_the_queue_to_label_studio(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events, MODELPICKER_STOP_QUEUE="false")
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    assert "set_labeled" not in [c[0] for c in ls.calls] and ls.instruction == ADMIN_TEXT
    assert ls.project_version == b.ranking()["model_version"]         # the queue still follows the ranking


def test_superseded_priorities_are_deleted_only_after_the_grace_period(backend_factory, events, truth):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_PRIORITY_GRACE_SECONDS="30", MODELPICKER_REFRESH_MIN_SECONDS="0")
    clock = b.service.clock = FakeClock()
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    first = ls.project_version
    clock.now += 10
    label(b, events, truth, 101, 1)
    second = ls.project_version
    assert second != first and first in ls.versions                     # left the queue 0 s ago: kept
    assert latest_refresh(b)["result"]["kept"] == [first]
    clock.now += 25
    label(b, events, truth, 102, 2)
    assert first in ls.versions and second in ls.versions               # 25 s and 0 s: both kept
    clock.now += 6
    label(b, events, truth, 103, 3)                                     # 31 s since `first` left
    assert first not in ls.versions and second in ls.versions
    assert latest_refresh(b)["result"]["superseded"] == [first]
    clock.now += 31
    b.service.refresh(1, force=True)                                    # nothing pushed, a version still waiting
    assert set(v for v in ls.versions if v.startswith("modelpicker-")) == {ls.project_version}


def test_a_new_batch_after_the_stop_starts_a_round_whose_queue_is_served_and_the_stop_comes_off(
        backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"] and ls.instruction.startswith(BEGIN)
    ls.calls.clear()
    ok(b.webhook(events.tasks_created(*range(11, 21))))                # a fresh batch: round 2
    assert b.ranking()["round"] == 2 and not b.ranking()["decision"]["stop"]
    assert ls.instruction == ADMIN_TEXT                                 # round 1's STOP is off the instructions
    assert [c[2] for c in ls.calls if c[0] == "set_labeled"] == [[]]    # round 1's tasks stay out of the queue
    assert all(ls.flags[t] for t in range(4, 11))
    assert sorted(p["task"] for p in ls.versions[ls.project_version]) == list(range(11, 21))

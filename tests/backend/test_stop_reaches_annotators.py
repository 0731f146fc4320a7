"""STOP empties Label Studio's queue (the project's ``maximum_annotations`` to 0, the admin's value kept) and
says so in the instructions; a reopened round refills it; superseded
priorities wait out a grace period before they are deleted.  Against the recording fake of Label Studio
(tests/backend/test_refresh.py); tests/e2e/test_writeback_e2e.py checks the same against a real one."""
from __future__ import annotations

from backend.queue_stop import BEGIN, stopped_marker
from tests.backend.test_refresh import FakeClock, FakeLabelStudio
from tests.backend.test_webhook import ok

ADMIN_TEXT = "<p>Digits: choose the digit you see.</p>"


def label(b, events, truth, aid, task):
    body = events.created(aid, task, events.choices[truth[task - 1]], second=aid % 60)
    b.service._api.record_event(body)                                   # Label Studio holds the annotation
    return ok(b.webhook(body))


def budget_backend(backend_factory, events, **env):
    """Ten tasks, a budget of 3 labels (the STOP), write-back to the fake Label Studio."""
    b = backend_factory(MODELPICKER_LABEL_BUDGET="3", MODELPICKER_CONFIDENCE="0.999999",
                        MODELPICKER_STOP_RULE="belief", LABEL_STUDIO_URL="http://127.0.0.1:9",
                        LABEL_STUDIO_API_KEY="secret", **env)
    ls = b.service._api = FakeLabelStudio()
    ls.instruction = ADMIN_TEXT
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    created = events.tasks_created(*range(1, 11))
    ls.record_event(created)
    ok(b.webhook(created))
    return b, ls


def latest_refresh(b) -> dict:
    return next(j for j in ok(b.client.get("/jobs?project=1"))["jobs"] if j["kind"] == "refresh")


def test_stop_takes_every_task_out_of_the_queue_in_one_request_and_keeps_the_admins_overlap(
        backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    ls.maximum_annotations = 2                                          # the admin's own "annotations per task"
    for aid, task in ((101, 1), (102, 2)):
        label(b, events, truth, aid, task)
    queue_top = latest_refresh(b)["result"]["queue_top"]                # the order the annotators are served
    assert len(queue_top) == 8 and set(queue_top) == set(range(3, 11))
    assert ls.served() == set(range(1, 11))                             # two annotations wanted per task
    ls.calls.clear()
    shown_while_emptying = []
    update = ls.update_project

    def update_project(project, **fields):                              # what /rankings says meanwhile
        kept = b.service.store.ranking_snapshot(1, b.service.ranking_keeper.snapshot_key)
        shown_while_emptying.append(kept["body"]["decision"]["stop"])
        return update(project, **fields)

    ls.update_project = update_project
    label(b, events, truth, 103, queue_top[0])                          # the third label: the budget stops
    assert shown_while_emptying == [False]                              # STOP kept only once the queue is empty
    decision = b.ranking()["decision"]
    assert decision["stop"] and decision["reason"] == "budget"
    assert [c for c in ls.calls if c[0] == "update_project"] == [("update_project", 1, {"maximum_annotations": 0,
                                                                                 "sampling": "Uniform sampling"})]
    assert ls.served() == set() and "set_labeled" not in [c[0] for c in ls.calls]
    assert "import_predictions" not in [c[0] for c in ls.calls]       # no new priorities once stopped
    names = [c[0] for c in ls.calls]
    assert names.index("update_project") < names.index("set_description")  # emptied before the STOP is shown
    assert ls.instruction.startswith(BEGIN) and ls.instruction.endswith(ADMIN_TEXT) and ls.show_instruction
    assert f"STOP LABELLING: {decision['candidate']} chosen" in ls.instruction
    assert "STOP LABELLING" in ls.description
    job = latest_refresh(b)
    result = job["result"]
    assert result["stopped_tasks"] == 7 and result["pushed"] == 0        # the seven tasks without an annotation
    assert job["message"].startswith("STOP: queue emptied (7 task(s) taken out)")
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1, 2)


def test_a_label_after_the_stop_neither_pushes_nor_writes_the_overlap_again(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    ls.calls.clear()
    label(b, events, truth, 104, 4)                                     # a task that was open on someone's screen
    assert b.ranking()["decision"]["stop"]
    assert "import_predictions" not in [c[0] for c in ls.calls]
    assert "update_project" not in [c[0] for c in ls.calls]             # already 0: nothing written
    assert ls.instruction.count(BEGIN) == 1 and ls.instruction.endswith(ADMIN_TEXT)  # replaced, not stacked
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1, 1)  # the admin's 1, not the 0


def test_an_overlap_set_back_while_stopped_is_set_to_0_again_and_the_kept_value_stays(backend_factory, events,
                                                                                       truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    ls.maximum_annotations = 3                                          # someone edits the project meanwhile
    label(b, events, truth, 104, 4)
    assert ls.maximum_annotations == 0 and ls.served() == set()
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1, 1)


def test_a_reopened_round_puts_its_unlabelled_tasks_back_and_removes_the_stop(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    ls.calls.clear()
    deleted = events.deleted(103)
    ls.record_event(deleted)
    ok(b.webhook(deleted))                                              # back under the budget: reopened
    assert not b.ranking()["decision"]["stop"]
    assert [c for c in ls.calls if c[0] == "update_project"] == [("update_project", 1, {"maximum_annotations": 1,
                                                                                 "sampling": "Uncertainty sampling"})]
    assert ls.served() == set(range(3, 11))
    assert ls.instruction == ADMIN_TEXT and ls.show_instruction        # the admin's text, shown as before
    names = [c[0] for c in ls.calls]
    assert names.index("update_project") < names.index("import_predictions") < names.index("set_queue_version")
    assert b.service.store.refresh_state(1)["pushed_version"] == b.ranking()["model_version"]
    assert "decision reopened" in ls.description


def test_a_round_an_earlier_release_stopped_task_by_task_is_reopened_task_by_task(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events)
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    ls.maximum_annotations = 1                                          # as that release left Label Studio
    ls.set_labeled(1, list(range(4, 11)), True)
    b.service.store.set_pushed_version(1, stopped_marker(1))            # its marker: no overlap kept
    ls.calls.clear()
    deleted = events.deleted(103)
    ls.record_event(deleted)
    ok(b.webhook(deleted))
    assert not b.ranking()["decision"]["stop"]
    unflagged = [c for c in ls.calls if c[0] == "set_labeled"]
    assert len(unflagged) == 1 and unflagged[0][3] is False and sorted(unflagged[0][2]) == list(range(3, 11))
    assert ls.served() == set(range(3, 11)) and "update_project" not in [c[0] for c in ls.calls]


def test_stop_queue_off_leaves_the_queue_to_label_studio(backend_factory, events, truth):
    b, ls = budget_backend(backend_factory, events, MODELPICKER_STOP_QUEUE="false")
    for aid, task in ((101, 1), (102, 2), (103, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    assert "update_project" not in [c[0] for c in ls.calls] and ls.instruction == ADMIN_TEXT
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
    created = events.tasks_created(*range(11, 21))
    ls.record_event(created)
    assert ls.served() == set()                                         # imported while stopped: not served yet
    ok(b.webhook(created))                                              # a fresh batch: round 2
    assert b.ranking()["round"] == 2 and not b.ranking()["decision"]["stop"]
    assert ls.instruction == ADMIN_TEXT                                 # round 1's STOP is off the instructions
    assert ls.maximum_annotations == 1 and set(range(11, 21)) <= ls.served()
    # round 1's unlabelled tasks are back in Label Studio's stream but carry no priority of the version the
    # queue follows: only round 2's tasks are ordered
    assert sorted(p["task"] for p in ls.versions[ls.project_version]) == list(range(11, 21))


def test_a_stop_label_studio_applies_after_the_request_timed_out_keeps_the_admins_overlap(backend_factory, events,
                                                                                          truth):
    """On a large project Label Studio may apply ``maximum_annotations`` 0 after the backend stopped waiting:
    that refresh fails, the next one must neither write it again nor put back 0 (or the default) later."""
    from backend.labelstudio_errors import LabelStudioAPIError

    b, ls = budget_backend(backend_factory, events)
    ls.maximum_annotations = 3                                          # the admin's own value
    for aid, task in ((101, 1), (102, 2)):
        label(b, events, truth, aid, task)
    update = ls.update_project

    def slow_update(project, **fields):                                 # applied, but the answer never came
        update(project, **fields)
        raise LabelStudioAPIError("PATCH", f"/api/projects/{project}/", None, "ReadTimeout")

    ls.update_project = slow_update
    label(b, events, truth, 103, 3)                                     # the budget's STOP: its refresh fails
    assert latest_refresh(b)["state"] == "failed" and ls.maximum_annotations == 0
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1, 3)
    ls.update_project = update
    ls.calls.clear()
    label(b, events, truth, 104, 4)                                     # the next refresh finishes the STOP
    assert latest_refresh(b)["state"] == "finished" and b.ranking()["decision"]["stop"]
    assert "update_project" not in [c[0] for c in ls.calls]             # already 0 in Label Studio
    assert ls.instruction.startswith(BEGIN) and "STOP LABELLING" in ls.description
    assert b.service.store.refresh_state(1)["pushed_version"] == stopped_marker(1, 3)

"""backend.labelstudio_api against a real Label Studio 1.23.2.

It is the test session's Label Studio (fixture ``label_studio`` from
tests/support/pytest_label_studio.py, shared with tests/e2e); every test works
in a fresh project of its own.  The first tests need no server (argument checks
and the score conversion).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from backend.belief import priorities  # noqa: E402
from backend.description_block import KEEP_LABELLING, extract_block, merge_description, render_ranking  # noqa: E402
from backend.label_studio_predictions import delete_superseded, switch_queue  # noqa: E402
from backend.labelstudio_api import UNCERTAINTY_SAMPLING, LabelStudioAPI, LabelStudioAPIError, error_message  # noqa: E402

#: label-studio-sdk 2.1.2 parses the Personal Access Token's refresh answer with pydantic's deprecated ``parse_obj``
pytestmark = pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated:DeprecationWarning")

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
          '<Choice value="yes"/><Choice value="no"/></Choices></View>')
N_TASKS = 12


# ---------------------------------------------------------------- no server
@pytest.mark.parametrize("kwargs, message", [
    ({"url": "localhost:8080"}, "http://host:port"),
    ({"api_key": " "}, "API key is empty"),
    ({"timeout": 0}, "timeout"),
    ({"chunk_size": 0}, "chunk_size"),
])
def test_constructor_names_bad_arguments(kwargs, message):
    args = {"url": "http://127.0.0.1:8080", "api_key": "k", **kwargs}
    with pytest.raises(ValueError, match=message):
        LabelStudioAPI(**args)


def test_error_message_keeps_label_studios_detail():
    body = {"id": "x", "status_code": 400, "detail": "Validation error",
            "validation_errors": {"sampling": ["bad"]}}
    assert error_message(body) == 'Validation error: {"sampling": ["bad"]}'
    assert error_message(b"<!doctype html><html>...") == "an HTML error page (see the Label Studio log)"


def test_bad_ids_are_refused_before_any_call():
    api = LabelStudioAPI("http://127.0.0.1:9", "k")
    with pytest.raises(ValueError, match="project id"):
        api.model_versions(0)


# ------------------------------------------------------------ real server
@pytest.fixture(scope="module")
def server(label_studio):
    return label_studio


@pytest.fixture(scope="module")
def api(server) -> LabelStudioAPI:
    return LabelStudioAPI(server.url, server.personal_token, timeout=120)


@pytest.fixture()
def project(api) -> tuple[int, list[int]]:
    """A fresh project with N_TASKS text tasks; returns (project id, task ids)."""
    created = api.create_project("api test", CONFIG)
    assert api.import_tasks(created["id"], [{"text": f"item {i}"} for i in range(N_TASKS)]) == N_TASKS
    return created["id"], list(api.task_ids(created["id"]))


def annotate(server, task_id: int, choice: str = "yes") -> None:
    server.api("POST", f"/api/tasks/{task_id}/annotations/", json={"result": [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]})


def test_project_and_tasks(api, server, project):
    pid, ids = project
    info = api.get_project(pid)
    assert info["id"] == pid and info["title"] == "api test" and "Choices" in info["label_config"]
    assert len(ids) == N_TASKS and ids == sorted(ids)
    annotate(server, ids[3], "no")
    labelled = api.task_ids(pid, page_size=5)  # three pages
    assert [t for t, done in labelled.items() if done] == [ids[3]]
    exported = api.annotated_tasks(pid)
    assert [t["id"] for t in exported] == [ids[3]]
    assert exported[0]["data"] == {"text": "item 3"}
    assert exported[0]["annotations"][0]["result"][0]["value"]["choices"] == ["no"]


def test_queue_follows_pushed_priorities_and_old_ones_are_removed(api, server, project):
    pid, ids = project
    rng = np.random.default_rng(0)
    # a candidate's predictions with scores in the opposite order must not steer the queue
    first = rng.random(N_TASKS)
    candidate = [{"task": t, "result": [], "score": float(s), "model_version": "candidate-a"}
                 for t, s in zip(ids, first)]
    assert api.import_predictions(pid, candidate) == N_TASKS

    def refresh(informativeness, name):
        """The backend's refresh steps: push and switch, then delete the superseded version."""
        switched = switch_queue(api, pid, np.asarray(ids), priorities(informativeness, np.zeros(N_TASKS, bool)),
                                name)
        return {**switched, **delete_superseded(api, pid, name)}

    v1 = f"modelpicker-p{pid}-n0-test0001"
    report = refresh(first, v1)
    assert report["pushed"] == N_TASKS and report["superseded"] == [] and report["deleted"] == 0
    project_now = api.get_project(pid)
    assert project_now["model_version"] == v1 and project_now["sampling"] == UNCERTAINTY_SAMPLING
    top = ids[int(np.argmax(first))]
    assert api.next_task(pid)["id"] == top
    annotate(server, top)

    second = rng.random(N_TASKS)
    v2 = f"modelpicker-p{pid}-n1-test0002"
    report = refresh(second, v2)
    assert report["superseded"] == [v1] and report["deleted"] == N_TASKS
    assert api.model_versions(pid) == {v2: N_TASKS, "candidate-a": N_TASKS}
    assert api.get_project(pid)["model_version"] == v2
    unlabelled = [i for i in range(N_TASKS) if ids[i] != top]
    expected = ids[max(unlabelled, key=lambda i: second[i])]
    assert api.next_task(pid)["id"] == expected
    # the annotation made while a v1 prediction was shown survives v1's deletion
    assert [t["id"] for t in api.annotated_tasks(pid)] == [top]


def test_the_queue_switch_turns_prelabelling_off_so_next_serves_no_prediction(api, project):
    pid, ids = project
    assert api.get_project(pid)["show_collab_predictions"] is True      # Label Studio's default
    version = f"modelpicker-p{pid}-n0-test0003"
    switch_queue(api, pid, np.asarray(ids), np.linspace(0.0, 1.0, N_TASKS), version)
    info = api.get_project(pid)
    assert info["show_collab_predictions"] is False and info["model_version"] == version
    served = api.next_task(pid)
    assert served["id"] == ids[0] and served["predictions"] == []      # nothing to submit as parent_prediction


def test_set_labeled_takes_tasks_out_of_the_queue_and_puts_them_back(api, server, project):
    pid, ids = project
    annotate(server, ids[0])
    assert api.set_labeled(pid, ids[1:], True) == N_TASKS - 1
    assert api.next_task(pid) is None                                    # Label Studio: "no more tasks"
    assert all(api.task_ids(pid).values())
    assert api.set_labeled(pid, ids[5:7], False) == 2
    assert api.next_task(pid)["id"] in ids[5:7]
    assert [t for t, done in api.task_ids(pid).items() if not done] == ids[5:7]
    assert api.set_labeled(pid, [], True) == 0
    server.api("DELETE", f"/api/tasks/{ids[5]}/")                      # deleted meanwhile: skipped, not counted
    assert api.set_labeled(pid, ids[5:7], True) == 1 and api.next_task(pid) is None


def test_the_stop_block_survives_label_studios_sanitising_and_is_replaced_not_stacked(api, project):
    from backend.queue_stop import with_stop_block, without_stop_block

    pid, _ = project
    admin = "<p>Choose the answer the text gives.</p>"
    api.set_instruction(pid, admin, show=False)
    for line in ("STOP LABELLING: a chosen", "STOP LABELLING: b chosen"):
        current = api.get_project(pid)["expert_instruction"]
        api.set_instruction(pid, with_stop_block(current, line), show=True)
    info = api.get_project(pid)
    assert info["show_instruction"] is True
    stored = info["expert_instruction"]                  # as Label Studio keeps it (comments, styles dropped)
    assert stored.count("STOP LABELLING") == 1 and "b chosen" in stored and stored.endswith(admin)
    assert without_stop_block(stored) == admin


def test_chunked_import_and_version_deletion(api, project):
    pid, ids = project
    predictions = [{"task": t, "result": [], "score": 0.5, "model_version": "chunked"} for t in ids]
    assert api.import_predictions(pid, predictions, chunk_size=5) == N_TASKS  # 3 requests
    assert api.model_versions(pid)["chunked"] == N_TASKS
    assert api.delete_model_version(pid, "chunked") == N_TASKS
    assert "chunked" not in api.model_versions(pid)
    assert api.delete_model_version(pid, "never-existed") == 0


def test_description_write_back_keeps_the_admins_text(api, project):
    pid, _ = project
    api.set_description(pid, "Label the sentiment.\nAsk Ann when unsure.")
    ranking = [{"name": "good", "p_best": 0.9, "accuracy": 0.8, "accuracy_low": 0.7,
                "accuracy_high": 0.9, "labels": 5}]
    block = render_ranking(ranking, KEEP_LABELLING)
    api.set_description(pid, merge_description(api.get_project(pid)["description"], block))
    stored = api.get_project(pid)["description"]
    assert stored.startswith("Label the sentiment.\nAsk Ann when unsure.\n\n")
    assert extract_block(stored) == block


def test_errors_carry_status_and_label_studios_message(api, server, project):
    pid, ids = project
    with pytest.raises(LabelStudioAPIError, match="No Project matches") as missing:
        api.get_project(999999)
    assert missing.value.status == 404 and missing.value.method == "GET"
    with pytest.raises(LabelStudioAPIError, match="not a valid choice") as invalid:
        api.update_project(pid, sampling="Best first")
    assert invalid.value.status == 400
    with pytest.raises(LabelStudioAPIError, match="task") as unknown_task:
        api.import_predictions(pid, [{"task": 10**9, "result": [], "score": 0.1, "model_version": "x"}])
    assert unknown_task.value.status == 400
    with pytest.raises(LabelStudioAPIError, match="stored 0 of 1"):
        api.import_predictions(pid, [{"task": ids[0], "result": [], "score": "high", "model_version": "x"}])
    with pytest.raises(LabelStudioAPIError, match="Invalid token") as denied:
        LabelStudioAPI(server.url, "0" * 40).model_versions(pid)
    assert denied.value.status == 401
    with pytest.raises(LabelStudioAPIError, match="no answer"):
        LabelStudioAPI("http://127.0.0.1:9", "k", timeout=5).get_project(pid)

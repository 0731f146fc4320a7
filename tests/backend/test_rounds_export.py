"""Issue 4 through the Flask test client: the stop decision and its reopening, rounds, the export
(HTTP and ``python -m backend export``) and their bad inputs."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from backend.__main__ import main


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def label(b, events, truth, aid, task):
    return ok(b.webhook(events.created(aid, task, events.choices[truth[task - 1]], second=aid % 60)))


@pytest.fixture
def budget_backend(backend_factory, events):
    """Budget of 3 labels; confidence so high that only the budget stops."""
    b = backend_factory(MODELPICKER_LABEL_BUDGET="3", MODELPICKER_CONFIDENCE="0.999999")
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 21))))
    return b


def test_budget_stops_then_late_labels_are_stored_and_a_deletion_reopens(budget_backend, events, truth):
    b = budget_backend
    for aid, task in ((100, 1), (101, 2)):
        label(b, events, truth, aid, task)
    assert not b.ranking()["decision"]["stop"]
    assert ok(b.client.get("/rounds?project=1"))["rounds"][0]["decisions"] == []
    label(b, events, truth, 102, 3)
    ranking = b.ranking()
    assert ranking["decision"]["stop"] and ranking["decision"]["reason"] == "budget"
    rounds = ok(b.client.get("/rounds?project=1"))
    first = rounds["rounds"][0]
    assert first["state"] == "decided" and first["decision"]["state"] == "stop"
    assert first["decision"]["labels"] == 3 and first["decision"]["candidate"] == ranking["candidates"][0]["name"]
    evidence = first["decision"]["evidence"]
    assert evidence["budget"] == 3 and [r["name"] for r in evidence["ranking"]] == \
        [c["name"] for c in ranking["candidates"]]
    label(b, events, truth, 103, 4)                                   # a label after the stop is stored
    assert b.ranking()["labels"] == 4
    assert len(ok(b.client.get("/rounds?project=1"))["rounds"][0]["decisions"]) == 1  # still the same decision
    ok(b.webhook(events.deleted(102, 103)))                            # back under the budget: reopened
    history = ok(b.client.get("/rounds?project=1"))["rounds"][0]
    assert [d["state"] for d in history["decisions"]] == ["stop", "reopened"]
    assert history["state"] == "open" and history["decision"] is None


def test_confidence_stop_is_recorded_with_its_evidence(backend_factory, events, truth):
    b = backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.6")
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    for i in range(1, 31):
        label(b, events, truth, 100 + i, i)
        if b.ranking()["decision"]["stop"]:
            break
    decision = b.ranking()["decision"]
    assert decision["stop"] and decision["reason"] == "confident" and decision["p_best"] >= 0.6
    recorded = ok(b.client.get("/rounds?project=1"))["rounds"][0]["decision"]
    assert recorded["candidate"] == decision["candidate"] == "good" and recorded["p_best"] >= 0.6


def test_labels_after_a_confident_stop_can_reopen_or_change_the_decision(backend_factory, events, truth):
    """Labels after the stop that contradict the pick (here: the answers of 'fair' where 'good' differs)."""
    b = backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.6")
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    aid = 100
    for task in range(1, 31):
        label(b, events, truth, aid, task)
        aid += 1
        if b.ranking()["decision"]["stop"]:
            break
    assert b.ranking()["decision"]["candidate"] == "good"
    answers = b.service.store.predictions(1)
    keys = {c.name: c.cache_key for c in b.service.pool.candidates}
    labelled = {x.task for x in b.service.store.labels(1)}
    contradicting = [t for t in range(1, 31) if t not in labelled
                     and answers[t][keys["fair"]] != answers[t][keys["good"]]]
    assert contradicting, "the demo pool has tasks where fair and good disagree"
    for task in contradicting:
        ok(b.webhook(events.created(aid, task, answers[task][keys["fair"]], second=aid % 60)))
        aid += 1
    history = ok(b.client.get("/rounds?project=1"))["rounds"][0]["decisions"]
    assert history[0]["state"] == "stop" and history[0]["candidate"] == "good"
    assert len(history) >= 2
    assert history[1]["state"] == "reopened" or history[1]["candidate"] != "good"
    assert b.ranking()["labels"] == len(labelled) + len(contradicting)   # every late label was stored


def test_new_batch_after_a_decision_starts_a_round_with_its_own_tasks_and_labels(budget_backend, events, truth):
    b = budget_backend
    for aid, task in ((100, 1), (101, 2), (102, 3)):
        label(b, events, truth, aid, task)
    assert b.ranking()["decision"]["stop"]
    old_version = b.ranking()["model_version"]
    again = ok(b.webhook(events.tasks_created(*range(1, 21))))        # a repeat of known tasks: same round
    assert "new_round" not in again and b.ranking()["round"] == 1
    answer = ok(b.webhook(events.tasks_created(*range(21, 31))))      # a fresh batch
    assert answer["new_round"] == 2
    ranking = b.ranking()
    assert ranking["round"] == 2 and ranking["tasks"] == 10 and ranking["labels"] == 0
    assert not ranking["decision"]["stop"]
    assert ranking["model_version"].startswith("modelpicker-p1-r2-n0-") and ranking["model_version"] != old_version
    label(b, events, truth, 103, 4)                                    # a late label of a round-1 task
    assert b.ranking()["labels"] == 0                                  # ... does not count in round 2
    label(b, events, truth, 104, 25)
    assert b.ranking()["labels"] == 1
    rounds = ok(b.client.get("/rounds?project=1"))
    assert rounds["current_round"] == 2
    assert [(r["round"], r["state"], r["tasks"], r["current"]) for r in rounds["rounds"]] == \
        [(1, "decided", 20, False), (2, "open", 10, True)]
    assert rounds["rounds"][1]["labelled_tasks"] == 1 and "after round 1 was decided" in rounds["rounds"][1]["reason"]
    belief = b.service.belief(1)
    assert belief.task_ids.tolist() == list(range(21, 31))


def test_post_rounds_starts_a_round_by_hand(backend, events):
    ok(backend.webhook(events.tasks_created(*range(1, 11))))
    answer = ok(backend.client.post("/rounds?project=1", json={"reason": "batch of Monday"}))
    assert answer["round"] == 2
    ok(backend.webhook(events.tasks_created(11, 12)))
    assert backend.ranking()["tasks"] == 2
    rounds = ok(backend.client.get("/rounds?project=1"))["rounds"]
    assert [r["tasks"] for r in rounds] == [10, 2] and rounds[1]["reason"] == "batch of Monday"


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/rounds", None, 400, "query parameter 'project' is required"),
    ("get", "/rounds?project=9", None, 404, "project 9 is unknown"),
    ("post", "/rounds?project=9", None, 404, "project 9 is unknown"),
    ("post", "/rounds?project=1", {"reason": 5}, 400, "'reason' must be a string"),
    ("post", "/rounds?project=1", [1], 400, "must be a JSON object"),
    ("get", "/export", None, 400, "query parameter 'project' is required"),
    ("get", "/export?project=9", None, 404, "project 9 is unknown"),
    ("get", "/export?project=1&round=x", None, 400, "'round' must be an integer between 1 and"),
    ("get", "/export?project=1&round=4", None, 404, "has no round 4"),
    ("get", "/export?project=1&file=model.pkl", None, 400, "'file' must be one of"),
])
def test_rounds_and_export_bad_input(backend, events, method, path, body, status, message):
    ok(backend.webhook(events.tasks_created(1, 2, 3)))
    response = getattr(backend.client, method)(path, json=body) if body is not None else \
        getattr(backend.client, method)(path)
    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["error"]


def test_export_of_a_past_round_that_was_never_decided_is_refused(backend, events):
    ok(backend.webhook(events.tasks_created(1, 2, 3)))
    ok(backend.client.post("/rounds?project=1"))
    response = backend.client.get("/export?project=1&round=1")
    assert response.status_code == 409 and "never decided" in response.get_json()["error"]


def test_export_writes_the_decision_ranking_and_predictions(budget_backend, events, truth, tmp_path):
    b = budget_backend
    provisional = ok(b.client.get("/export?project=1"))
    assert provisional["decision"]["stopped"] is False and provisional["decision"]["decided_at"] is None
    for aid, task in ((100, 1), (101, 2), (102, 3)):
        label(b, events, truth, aid, task)
    bundle = ok(b.client.get("/export?project=1"))
    decision = bundle["decision"]
    chosen = b.ranking()["candidates"][0]["name"]
    assert decision["stopped"] and decision["chosen"] == chosen and decision["round"] == 1
    assert decision["pool_entry"]["name"] == chosen and "source" in decision["pool_entry"]
    assert decision["evidence"]["reason"] == "budget" and decision["evidence"]["labels"] == 3
    # the chosen candidate's guaranteed bound (accuracy units) is part of the evidence
    assert 0.0 <= decision["evidence"]["gap"] <= 1.0
    assert decision["evidence"]["gap"] == next(r["gap"] for r in bundle["ranking"] if r["name"] == chosen)
    assert decision["decided_at"].endswith("+00:00")
    assert [r["name"] for r in bundle["ranking"]] == [c["name"] for c in b.ranking()["candidates"]]
    assert sorted(bundle["files"]) == ["decision.json", "predictions.json", "ranking.csv", "ranking.json"]
    written = Path(bundle["written_to"])
    assert written == b.service.settings.model_dir / "exports" / "project-1" / "round-1"
    assert json.loads((written / "decision.json").read_text()) == decision
    assert json.loads((written / "predictions.json").read_text()) == bundle["predictions"]
    # predictions.json: Label Studio's task import format, the chosen candidate's answer for every task
    key = b.service.pool.candidates[b.service.pool.names.index(chosen)].cache_key
    cached = b.service.store.predictions(1)
    assert [t["id"] for t in bundle["predictions"]] == list(range(1, 21))
    for task in bundle["predictions"]:
        assert task["data"] == {"key": f"k{task['id'] - 1}"}
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == chosen
        assert prediction["result"] == [{"from_name": "label", "to_name": "text", "type": "choices",
                                         "value": {"choices": [cached[task["id"]][key]]}}]
    text = b.client.get("/export?project=1&file=ranking.csv")
    assert text.status_code == 200 and text.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    assert [r["name"] for r in rows] == [r["name"] for r in bundle["ranking"]] and rows[0]["rank"] == "1"


def test_cli_export_writes_four_files_and_refuses_unknown_projects(budget_backend, events, truth, tmp_path,
                                                                  monkeypatch, capsys, pool_dir):
    b = budget_backend
    for aid, task in ((100, 1), (101, 2), (102, 3)):
        label(b, events, truth, aid, task)
    chosen = b.ranking()["candidates"][0]["name"]
    monkeypatch.setenv("MODEL_DIR", str(b.service.settings.model_dir))
    monkeypatch.setenv("MODELPICKER_POOL", str(pool_dir / "pool.yaml"))
    monkeypatch.setenv("MODELPICKER_STRATEGY", "modelpicker")
    monkeypatch.setenv("MODELPICKER_LABEL_BUDGET", "3")
    out = tmp_path / "export"
    assert main(["export", "--project", "1", "--out", str(out)]) == 0
    assert f"project 1 round 1: {chosen} (decided)" in capsys.readouterr().out
    assert json.loads((out / "decision.json").read_text())["chosen"] == chosen
    assert json.loads((out / "ranking.json").read_text())[0]["name"] == chosen
    assert (out / "ranking.csv").read_text().splitlines()[0] == \
        "rank,name,p_best,gap,accuracy,accuracy_low,accuracy_high,labels"
    assert len(json.loads((out / "predictions.json").read_text())) == 20
    assert main(["export", "--project", "42", "--out", str(tmp_path / "x")]) == 1
    assert "backend export: project 42 is unknown" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exc:
        main(["export", "--out", str(out)])
    assert exc.value.code == 2 and "--project" in capsys.readouterr().err


def _labels_until_stop(b, events, truth):
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    for i in range(1, 31):
        label(b, events, truth, 100 + i, i)
        decision = b.ranking()["decision"]
        if decision["stop"]:
            return i, decision
    return None, decision


def test_patience_needs_the_confidence_to_hold_for_consecutive_labels(backend_factory, events, truth):
    """The first crossing of a noisy P(best) is biased upwards: with patience 3 the backend stops
    only once the pick's P(best) held the level after 3 consecutive labels."""
    eager, first = _labels_until_stop(backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.6",
                                                      MODELPICKER_PATIENCE="1"),
                                      events, truth)
    patient_backend = backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.6",
                                      MODELPICKER_PATIENCE="3")
    patient, decision = _labels_until_stop(patient_backend, events, truth)
    assert first["reason"] == decision["reason"] == "confident"
    assert patient >= eager + 2
    recorded = ok(patient_backend.client.get("/rounds?project=1"))["rounds"][0]["decision"]
    assert recorded["evidence"]["patience"] == 3


def test_patience_setting_is_checked(backend_factory):
    with pytest.raises(Exception, match="MODELPICKER_PATIENCE"):
        backend_factory(MODELPICKER_PATIENCE="0")

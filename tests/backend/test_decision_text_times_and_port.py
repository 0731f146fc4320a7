"""What a user sees of a decision and of a start: the stop reason names what holds the stop back, the
P(best) shown is the named candidate's everywhere, every time is ISO 8601 UTC, and a taken port stops
the start before serving is announced."""
from __future__ import annotations

import logging
import re
import socket
from datetime import datetime

import pytest

from backend.__main__ import main
from backend.decisions import holding_back
from tests.backend.test_refresh import FakeLabelStudio

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def label(b, events, truth, aid, task):
    return ok(b.webhook(events.created(aid, task, events.choices[truth[task - 1]], second=aid % 60)))


# ------------------------------------------------------------------- the stop reason
BELIEF = {"rule": "belief", "confidence": 0.95, "patience": 3, "min_labels": 0}


def test_the_reason_names_the_patience_when_p_best_already_reached_the_confidence():
    text = holding_back(BELIEF, None, 0.98, 12, previous=[0.90, 0.97])
    assert "below the confidence" not in text
    assert "0.980" in text and "2 of the 3 consecutive labels" in text and "MODELPICKER_PATIENCE" in text
    assert "1 of the 3" in holding_back(BELIEF, None, 0.98, 12, previous=[0.97, 0.90])
    assert holding_back(BELIEF, None, 0.93, 12, previous=[0.97, 0.98]) == \
        "P(best) (ties counted) is 0.930, below the confidence 0.95"


def test_the_reason_names_the_minimum_number_of_labels():
    text = holding_back({**BELIEF, "patience": 1, "min_labels": 20}, None, 0.99, 7)
    assert text == "7 of the 20 labels a stop needs at least (MODELPICKER_MIN_LABELS)"
    certified = {"rule": "certified", "epsilon": 0.01, "min_labels": 20}
    assert holding_back(certified, 0.004, 0.9, 7) == "7 of the 20 labels a stop needs at least (MODELPICKER_MIN_LABELS)"
    assert holding_back(certified, 0.05, 0.9, 30) == \
        "the guaranteed bound (5.0 points below the best candidate) is above epsilon (1.0 points)"


def test_the_live_reason_never_says_below_the_confidence_while_p_best_is_above_it(backend_factory, events, truth):
    b = backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.6", MODELPICKER_PATIENCE="3")
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    held_back = []
    for task in range(1, 31):
        label(b, events, truth, 100 + task, task)
        decision = b.ranking()["decision"]
        if decision["stop"]:
            break
        if decision["p_top"] >= 0.6:
            held_back.append(decision["reason_text"])
        else:
            assert "below the confidence 0.60" in decision["reason_text"]
    assert decision["stop"], "the demo pool reaches the confidence within 30 labels"
    assert held_back, "with patience 3 some labels see P(best) above the confidence before the stop"
    for text in held_back:
        assert "below the confidence" not in text and "consecutive labels a stop needs" in text


# ------------------------------------------------------------ P(best) of the named candidate
@pytest.fixture
def twin_backend(backend_factory, pool_dir, events):
    """Consensus on a pool where 'twin' answers exactly as 'good': P(a true best) counts the tie for both."""
    text = (pool_dir / "pool.yaml").read_text()
    (pool_dir / "pool.yaml").write_text(
        text + "  - name: twin\n    source: {type: predictions, path: good.csv}\n"
               "    labels: {0: zero, 1: one, 2: two}\n")
    b = backend_factory(MODELPICKER_STRATEGY="consensus", MODELPICKER_STOP_RULE="belief",
                        MODELPICKER_CONFIDENCE="0.999999", MODELPICKER_LABEL_BUDGET="8",
                        LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    return b


def test_decision_p_best_is_the_named_candidates_p_best_everywhere(twin_backend, events, truth):
    b = twin_backend
    for task in range(1, 5):
        label(b, events, truth, 100 + task, task)
    ranking = b.ranking()
    decision = ranking["decision"]
    row = next(r for r in ranking["candidates"] if r["name"] == decision["candidate"])
    assert decision["candidate"] in ("good", "twin")
    assert row["p_top"] > row["p_best"] + 0.01, "the tie must make P(a true best) differ from P(best)"
    assert decision["p_best"] == row["p_best"] and decision["p_top"] == row["p_top"]
    assert ok(b.client.get("/export?project=1"))["decision"]["evidence"]["p_best"] == row["p_best"]
    for task in range(5, 9):                                          # the budget of 8 labels stops
        label(b, events, truth, 100 + task, task)
    ranking = b.ranking()
    decision = ranking["decision"]
    assert decision["stop"] and decision["reason"] == "budget"
    row = next(r for r in ranking["candidates"] if r["name"] == decision["candidate"])
    recorded = ok(b.client.get("/rounds?project=1"))["rounds"][0]["decision"]
    exported = ok(b.client.get("/export?project=1"))["decision"]["evidence"]
    assert recorded["p_best"] == exported["p_best"] == decision["p_best"] == row["p_best"]
    assert f"STOP LABELLING: {decision['candidate']} chosen with P(best)={row['p_best']:.3f}" in \
        b.service._api.description


# ---------------------------------------------------------------------- one time format
def test_every_time_that_leaves_the_backend_is_iso_8601_utc(backend_factory, events, truth):
    b = backend_factory(MODELPICKER_LABEL_BUDGET="2", MODELPICKER_CONFIDENCE="0.999999",
                        LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    for task in (1, 2):
        label(b, events, truth, 100 + task, task)
    ok(b.post("/rounds?project=1", {"reason": "by hand"}))
    rounds = ok(b.client.get("/rounds?project=1"))["rounds"]
    decided = rounds[0]["decision"]["decided_at"]
    stamps = [decided, rounds[1]["started_at"]] + [d["decided_at"] for r in rounds for d in r["decisions"]]
    exported = ok(b.client.get("/export?project=1&round=1"))["decision"]
    stamps += [exported["decided_at"], exported["exported_at"]]
    for job in ok(b.client.get("/jobs?project=1"))["jobs"]:
        stamps += [job[k] for k in ("created_at", "started_at", "finished_at") if job[k] is not None]
    stamps.append(re.search(r"updated: ([^,|]+), round", b.service._api.description).group(1))  # the description
    for stamp in stamps:
        assert isinstance(stamp, str) and ISO_UTC.match(stamp), stamp
    assert exported["decided_at"] == decided                         # the same record reads the same everywhere
    assert abs(datetime.fromisoformat(decided).timestamp() - b.service.store.decisions(1, 1)[0]["decided_at"]) < 1e-3


# ----------------------------------------------------------------------- a taken port
def test_a_taken_port_stops_the_start_before_serving_is_announced(monkeypatch, capsys, caplog, tmp_path, pool_dir):
    caplog.set_level(logging.INFO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        monkeypatch.setenv("MODEL_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("MODELPICKER_POOL", str(pool_dir / "pool.yaml"))
        monkeypatch.setenv("HOST", "127.0.0.1")
        monkeypatch.setenv("PORT", str(port))
        assert main([]) == 1
    err = capsys.readouterr().err
    assert f"backend: cannot listen on 127.0.0.1:{port}: the address is already in use" in err
    assert "set PORT to a free port" in err and "Traceback" not in err
    assert not [r for r in caplog.records if "serving" in r.getMessage()]

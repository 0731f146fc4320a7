"""The store keeps each round's belief after every refresh (P(best) and certified bound per candidate), and
every refresh adds to it: the history the ranking page charts."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from backend.store import SQLiteStore
from tests.support.old_store_files import OLD_SCHEMA


def test_round_trip_per_round_oldest_first(store):
    names = ["good", "fair", "poor"]
    assert store.add_belief_history(1, 1, 0, names, np.array([1 / 3] * 3), None, 100.0)
    assert store.add_belief_history(1, 1, 1, names, [0.5, 0.3, 0.2], np.array([0.4, 0.5, np.nan]), 101.0)
    assert store.add_belief_history(1, 2, 0, names, [0.2, 0.2, 0.6], [0.1, 0.2, 0.0], 102.0)
    assert store.add_belief_history(2, 1, 5, ["x"], [1.0], [0.0], 103.0)
    rows = store.belief_history(1, 1)
    assert [r["seq"] for r in rows] == [1, 2] and [r["labels"] for r in rows] == [0, 1]
    assert rows[0] == {"seq": 1, "labels": 0, "candidates": names, "p_best": pytest.approx([1 / 3] * 3),
                       "gap": None, "recorded_at": 100.0}
    assert rows[1]["p_best"] == [0.5, 0.3, 0.2] and rows[1]["gap"] == [0.4, 0.5, None]  # NaN: not computed
    assert [r["labels"] for r in store.belief_history(1, 2)] == [0]
    assert store.belief_history(2, 1)[0]["candidates"] == ["x"]
    assert store.belief_history(3, 1) == []


def test_an_unchanged_refresh_adds_no_row(store):
    assert store.add_belief_history(1, 1, 3, ["a", "b"], [0.9, 0.1], [0.0, 0.2], 1.0)
    assert not store.add_belief_history(1, 1, 3, ["a", "b"], [0.9, 0.1], [0.0, 0.2], 2.0)
    assert store.add_belief_history(1, 1, 3, ["a", "b"], [0.8, 0.2], [0.0, 0.2], 3.0)  # values changed
    assert [r["recorded_at"] for r in store.belief_history(1, 1)] == [1.0, 3.0]


def test_a_count_mismatch_is_refused(store):
    with pytest.raises(ValueError, match="2 P\\(best\\) values for 3 candidates"):
        store.add_belief_history(1, 1, 0, ["a", "b", "c"], [0.5, 0.5], None, 1.0)
    assert store.belief_history(1, 1) == []


def test_a_store_file_from_before_the_table_gets_it(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = OLD_SCHEMA[:OLD_SCHEMA.index("CREATE TABLE IF NOT EXISTS belief_history")]
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute("INSERT INTO projects (project, label_config) VALUES (1, '<View/>')")
    assert "belief_history" not in {r[0] for r in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    store = SQLiteStore(path)
    try:
        assert store.get_label_config(1) == "<View/>"     # old data kept
        assert store.add_belief_history(1, 1, 0, ["a"], [1.0], None, 1.0)
        assert len(store.belief_history(1, 1)) == 1
    finally:
        store.close()


def test_every_refresh_records_the_round(backend, events, truth):
    assert backend.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i, task in enumerate(range(1, 5)):
        r = backend.webhook(events.created(100 + i, task, events.choices[truth[task - 1]]))
        assert r.status_code == 200 and r.get_json()["refresh"]["state"] == "finished", r.get_json()
    rows = backend.service.store.belief_history(1, 1)
    assert [r["labels"] for r in rows] == [0, 1, 2, 3, 4]
    ranking = backend.ranking()
    last = rows[-1]
    assert last["candidates"] == ["good", "fair", "poor"]
    by_name = dict(zip(last["candidates"], last["p_best"]))
    gaps = dict(zip(last["candidates"], last["gap"]))
    for c in ranking["candidates"]:   # the last row is the ranking /rankings serves
        assert by_name[c["name"]] == pytest.approx(c["p_best"]) and gaps[c["name"]] == pytest.approx(c["gap"])
    assert sum(last["p_best"]) == pytest.approx(1.0)

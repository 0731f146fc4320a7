"""Store semantics that make webhook handling idempotent and order-independent (on SQLite and PostgreSQL:
the ``store`` and ``make_store`` fixtures of conftest.py)."""
from __future__ import annotations

import pytest

from backend.store import AnnotationVersion as V
from backend.store import Label, SQLiteStore


def test_newer_version_wins_whatever_the_order(store):
    assert store.apply_annotations(1, [V(5, 1, "b", 2.0)]) == 1
    assert store.apply_annotations(1, [V(5, 1, "a", 1.0)]) == 0  # stale
    assert store.labels(1) == [Label(5, 1, "b")]
    assert store.apply_annotations(1, [V(5, 1, None, 3.0)]) == 1  # cancelled later: no label
    assert store.labels(1) == []


def test_without_versions_the_last_delivery_wins(store):
    store.apply_annotations(1, [V(5, 1, "a", None)])
    store.apply_annotations(1, [V(5, 1, "b", None)])
    assert store.labels(1) == [Label(5, 1, "b")]


def test_tombstones_stop_late_creates(store):
    store.apply_annotations(1, [V(5, 1, "a", 1.0), V(6, 2, "b", 1.0)])
    assert store.delete_annotations(1, [5, 99]) == 1
    store.delete_tasks(1, [2])
    assert store.apply_annotations(1, [V(5, 1, "a", 1.0), V(6, 2, "b", 5.0)]) == 0
    assert store.upsert_tasks(1, [(2, {"k": 1}), (3, {"k": 2})]) == [3]
    assert store.labels(1) == []


def test_projects_are_separate(store):
    store.apply_annotations(1, [V(5, 1, "a", 1.0)])
    store.apply_annotations(2, [V(5, 1, "b", 1.0)])
    assert store.labels(1) == [Label(5, 1, "a")] and store.labels(2) == [Label(5, 1, "b")]
    store.set_label_config(2, "<View/>")
    assert store.get_label_config(2) == "<View/>" and store.get_label_config(1) is None


def test_changed_task_data_drops_its_cached_predictions(store):
    store.upsert_tasks(1, [(1, {"k": "a"}), (2, {"k": "b"})])
    store.save_predictions(1, [(1, "m", "x"), (1, "n", "y"), (2, "m", "x")])
    assert store.tasks_without_predictions(1, ["m", "n"]) == [2]
    r = store.revision(1)
    store.upsert_tasks(1, [(1, {"k": "a"})])  # same data: nothing changes
    assert store.revision(1) == r and store.predictions(1)[1] == {"m": "x", "n": "y"}
    store.upsert_tasks(1, [(1, {"k": "changed"})])
    assert store.revision(1) > r and 1 not in store.predictions(1)
    assert store.tasks_without_predictions(1, ["m", "n"]) == [1, 2]


def test_a_failed_transaction_stores_nothing(store):
    store.apply_annotations(1, [V(5, 1, "a", 1.0)])
    r = store.revision(1)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.apply_annotations(1, [V(6, 1, "b", 1.0)])
            store.delete_annotations(1, [5])
            raise RuntimeError("crash in the middle")
    assert store.labels(1) == [Label(5, 1, "a")] and store.revision(1) == r


def test_state_is_in_the_file(make_store):
    first = make_store("kept")
    first.apply_annotations(1, [V(5, 1, "a", 1.0)])
    first.close()
    second = make_store("kept")
    assert second.labels(1) == [Label(5, 1, "a")] and second.check() == (True, None)


def test_tasks_without_predictions_can_be_limited_to_some_tasks(store):
    store.upsert_tasks(1, [(t, {"k": t}) for t in range(1, 6)])
    store.save_predictions(1, [(1, "m", "x"), (2, "m", "x"), (2, "n", "y")])
    assert store.tasks_without_predictions(1, ["m", "n"]) == [1, 3, 4, 5]
    assert store.tasks_without_predictions(1, ["m", "n"], [2, 3, 1, 99]) == [1, 3]
    assert store.tasks_without_predictions(1, ["m", "n"], []) == []


def test_the_store_interface_declares_every_method_the_backend_calls():
    """``Store`` declares every public method of both stores (``annotation_ids`` is called by nothing)."""
    import inspect

    from backend.store import PostgresStore, Store

    for cls in (SQLiteStore, PostgresStore):
        public = {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}
        assert public - Store.__abstractmethods__ == {"annotation_ids"}
        assert Store.__abstractmethods__ <= public and not cls.__abstractmethods__


def test_an_old_store_file_keeps_its_matrix_counter_under_the_new_column_name(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE projects (project INTEGER PRIMARY KEY, label_config TEXT, "
               "revision INTEGER NOT NULL DEFAULT 0, pool_revision INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO projects (project, label_config, revision, pool_revision) VALUES (1, '<View/>', 7, 3)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.matrix_revision(1) == 3 and store.revision(1) == 7
    store.upsert_tasks(1, [(5, {"key": "k"})])
    assert store.matrix_revision(1) == 4
    store.close()


def test_packed_predictions_come_a_few_tasks_at_a_time_and_build_the_matrix(store):
    """The round matrix is built from one packed string per task, a few tasks' at a time (a large project's
    10,000,000 answers are never one list of rows)."""
    from backend.belief import prediction_matrix
    from backend.labelconfig import parse_choices

    store.upsert_tasks(3, [(t, {"k": t}) for t in (5, 1, 9, 7)])
    store.save_predictions(3, [(t, c, ("a" if (t + len(c)) % 2 else "b")) for t in (5, 1, 9) for c in ("x", "yy")]
                           + [(7, "x", "a"), (7, "zz", "b"), (9, "other", "a")])
    batches = list(store.packed_predictions(3, tasks_per_batch=2))
    assert [sorted(t for t, _ in b) for b in batches] == [[1, 5], [7, 9]]   # tasks 1 and 5, then 7 and 9
    packed = dict(r for b in batches for r in b)
    assert sorted(packed[9].split("\x1e")) == ["other\x1fa", "x\x1fb", "yy\x1fa"]
    assert list(store.packed_predictions(4)) == []
    choices = parse_choices('<View><Text name="t" value="$k"/><Choices name="c" toName="t">'
                            '<Choice value="a"/><Choice value="b"/></Choices></View>')
    task_ids, matrix = prediction_matrix(store.packed_predictions(3, tasks_per_batch=3), ["x", "yy"], choices)
    assert task_ids.tolist() == [1, 5, 9]                     # task 7 lacks candidate yy
    assert matrix.tolist() == [[1, 0], [1, 0], [1, 0]]        # b -> 1, a -> 0
    task_ids, _ = prediction_matrix(store.packed_predictions(3), ["x", "yy"], choices, tasks={5, 7})
    assert task_ids.tolist() == [5]
    store.save_predictions(3, [(1, "x\x1fz", "a")])          # a name holding a separator: named, not dropped
    with pytest.raises(ValueError, match="not one candidate and one choice"):
        prediction_matrix(store.packed_predictions(3), ["x", "yy"], choices)

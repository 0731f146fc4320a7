"""Alembic migrations of the store: old SQLite files are brought to the newest schema, both databases reach
alembic's head at open, and processes opening one fresh database at once all succeed."""
from __future__ import annotations

import sqlite3
import threading

from backend.store import AnnotationVersion, PostgresStore, SQLiteStore
from backend.store.migrate import MIGRATIONS_DIR, head
from tests.support.old_store_files import make_oldest_store_file


def _columns(path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def test_the_revisions_ship_inside_the_package():
    """The alembic environment lives in backend/store/migrations (in the wheel and the Docker image's COPY backend/),
    as packages, so setuptools' package discovery takes them."""
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert head() == "0004"


def test_an_oldest_format_file_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    make_oldest_store_file(path)
    assert "enqueued_at" not in _columns(path, "jobs") and "pool_revision" in _columns(path, "projects")
    store = SQLiteStore(path)
    try:
        assert store.schema_revision() == head()
        assert "enqueued_at" in _columns(path, "jobs") and "matrix_revision" in _columns(path, "projects")
        assert "pool_revision" not in _columns(path, "projects")
        # old rows kept, under their new names
        assert store.get_label_config(1) == "<View/>" and (store.revision(1), store.matrix_revision(1)) == (7, 3)
        assert [(x.annotation, x.task, x.choice) for x in store.labels(1)] == [(50, 5, "zero")]
        assert [h["id"] for h in store.pending_hints(1)] == [1]
        assert store.waiting_job(1, "confirm", 0) is None      # never known to be enqueued
        # tables added since exist and work; the hint ids go on after the old ones
        assert store.add_belief_history(1, 1, 0, ["a"], [1.0], None, 1.0)
        store.record_sync(1, 2.0, 0, None)
        assert store.add_hint(1, "ANNOTATION_UPDATED", [5], [50], False, 11.0) == 2
        store.mark_enqueued("old", 6)
        assert store.waiting_job(1, "confirm", 0) == "old"
    finally:
        store.close()
    again = SQLiteStore(path)  # a second open finds the head and changes nothing
    try:
        assert again.schema_revision() == head() and again.revision(1) == 7
    finally:
        again.close()


def test_both_stores_reach_the_head_at_open(store, store_kind):
    assert store.schema_revision() == head() == "0004"
    assert isinstance(store, PostgresStore if store_kind == "postgres" else SQLiteStore)


def test_the_postgres_schema_keeps_timestamps_and_ids_whole(store, store_kind):
    """BIGINT for SQLite's 64-bit INTEGER, double precision for REAL (PostgreSQL's real would round a Unix time
    to about two minutes), and jobs listed newest first in insertion order when created at the same time."""
    now = 1_764_600_000.123456
    big = 2**40 + 1
    store.upsert_tasks(big, [(big, {"k": 1})])
    store.add_job("a", big, "refresh", now)
    store.add_job("b", big, "refresh", now)
    store.apply_annotations(big, [AnnotationVersion(big + 1, big, "x", now)])
    assert store.task_data(big, [big]) == {big: {"k": 1}}
    assert [j["id"] for j in store.jobs(big)] == ["b", "a"] and store.jobs(big)[0]["created_at"] == now
    assert store._query("SELECT version FROM annotations WHERE project = ?", (big,)) == [(now,)]


def _open_at_once(open_store, n: int = 4) -> list:
    """Open ``n`` stores on one fresh database from ``n`` threads released together; returns them (or errors)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = open_store()
        except Exception as exc:  # recorded: the assertion below names it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_opens_of_a_fresh_sqlite_file_all_succeed(tmp_path):
    results = _open_at_once(lambda: SQLiteStore(tmp_path / "fresh.sqlite3"))
    try:
        assert [type(r).__name__ for r in results] == ["SQLiteStore"] * len(results), results
        assert {r.schema_revision() for r in results} == {head()}
        results[0].upsert_tasks(1, [(1, {"k": 1})])
        assert results[-1].stored_task_ids(1, [1]) == {1}
    finally:
        for r in results:
            if isinstance(r, SQLiteStore):
                r.close()


def test_concurrent_opens_of_a_fresh_postgres_database_all_succeed(postgres_server_url):
    """Separate processes opening one fresh database at once (here threads, each with its own connections):
    the migration lock makes one migrate and the others find the head."""
    from tests.support.postgres_server import create_database, drop_database

    url = create_database(postgres_server_url, "fresh_at_once")
    try:
        results = _open_at_once(lambda: PostgresStore(url))
        try:
            assert [type(r).__name__ for r in results] == ["PostgresStore"] * len(results), results
            assert {r.schema_revision() for r in results} == {head()}
            assert results[0]._query("SELECT COUNT(*) FROM alembic_version") == [(1,)]
        finally:
            for r in results:
                if isinstance(r, PostgresStore):
                    r.close()
    finally:
        drop_database(postgres_server_url, "fresh_at_once")


def test_python_m_backend_store_prints_the_revisions(tmp_path, monkeypatch, capsys):
    from backend.store.__main__ import main

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "m"))
    assert main(["heads"]) == 0 and capsys.readouterr().out == "0004\n"
    assert main(["current"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'm' / 'modelpicker.sqlite3'}: 0004\n"  # made and migrated
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:Pw-Not-Shown@127.0.0.1:9/db")
    assert main(["current"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to the PostgreSQL database postgresql://127.0.0.1:9/db" in err and "Pw-Not-Shown" not in err
    assert main(["nonsense"]) == 2

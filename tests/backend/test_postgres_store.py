"""The PostgreSQL store: concurrent read-modify-writes lose no update, and DATABASE_URL's password never shows.

The stores here each have their own connection, as separate backend processes and rq workers would.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backend.settings import SettingsError, from_env
from backend.store import PostgresStore, StoreError
from backend.store.postgres import PostgresConnection
from tests.support.postgres_server import PG_USER
from tests.support.store_kinds import Schemas

THREADS, ROUNDS = 4, 8
REPO_ROOT = Path(__file__).resolve().parents[2]


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.fixture
def pg_url(postgres_server_url):
    """``DATABASE_URL`` of a fresh schema of the session's PostgreSQL cluster (this module is PostgreSQL only)."""
    schemas = Schemas(postgres_server_url)
    yield schemas.url()
    schemas.drop()


def _in_threads(stores, work) -> list[BaseException]:
    """Run ``work(store, i)`` for every store in its own thread, released together; returns the errors."""
    barrier, errors = threading.Barrier(len(stores)), []

    def run(store, i):
        barrier.wait()
        try:
            work(store, i)
        except BaseException as exc:  # collected: the test asserts there are none
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def _python_increment(store, i) -> None:
    """The mixins' pattern at its most exposed: read in one statement, decide in Python, write another."""
    for _ in range(ROUNDS):
        with store.transaction():
            (value,), = store._query("SELECT matrix_revision FROM projects WHERE project = ?", (1,))
            time.sleep(0.005)  # another writer would run here, if it could
            store._execute("UPDATE projects SET matrix_revision = ? WHERE project = ?", (value + 1, 1))
            store._bump(1)  # an increment in SQL: never lost, the count of transactions that ran


@pytest.fixture
def stores(pg_url):
    opened = [PostgresStore(pg_url) for _ in range(THREADS)]
    with opened[0].transaction():
        opened[0]._bump(1)  # project 1's row: revision 1, matrix_revision 0
    yield opened
    for s in opened:
        s.close()


def test_a_python_read_modify_write_loses_no_update(stores):
    assert _in_threads(stores, _python_increment) == []
    assert stores[0].matrix_revision(1) == THREADS * ROUNDS and stores[0].revision(1) == 1 + THREADS * ROUNDS


def test_without_the_write_lock_the_same_work_loses_updates(stores, monkeypatch):
    """The control: the test above would see a lost update (the lock, not luck, makes it pass)."""
    def begin_without_lock(self):
        self._db.execute("BEGIN")

    monkeypatch.setattr(PostgresConnection, "_begin", begin_without_lock)
    assert _in_threads(stores, _python_increment) == []
    assert stores[0].matrix_revision(1) < THREADS * ROUNDS == stores[0].revision(1) - 1


def test_concurrent_decisions_rounds_and_refresh_claims_lose_nothing(stores):
    """The store's own read-then-write methods from four connections at once: next ``seq`` of a round's
    decisions, next round, belief history, label-change counts against a refresh's claim."""
    record = {"state": "continue", "candidate": "a", "p_best": 0.5, "labels": 1, "reason": "r", "evidence": {},
              "decided_at": 1.0}

    def work(store, i):
        for k in range(ROUNDS):
            store.add_decision(1, 1, record)
            store.add_belief_history(1, 1, i * ROUNDS + k, ["a"], [0.5], None, float(k))
            store.count_label_changes(1, 1)
            store.start_round(2, "next", float(k))
            store.upsert_tasks(3, [(i * ROUNDS + k, {"k": k})])

    assert _in_threads(stores, work) == []
    s, total = stores[0], THREADS * ROUNDS
    assert [d["seq"] for d in s.decisions(1, 1)] == list(range(1, total + 1))
    assert [r["seq"] for r in s.belief_history(1, 1)] == list(range(1, total + 1))
    assert [r["round"] for r in s.rounds(2)] == list(range(1, total + 2))
    assert s.refresh_state(1)["label_changes"] == total and s.mark_refresh_started(1, 5.0) == total
    assert len(s.round_tasks(3, 1)) == total and s.matrix_revision(3) == total


def test_a_hint_and_a_job_from_each_connection_get_their_own_ids(stores):
    def work(store, i):
        for k in range(ROUNDS):
            store.add_hint(1, "ANNOTATION_CREATED", [k], [k], False, float(k))
            store.add_job(f"j{i}-{k}", 1, "refresh", float(k))

    assert _in_threads(stores, work) == []
    hints = stores[0].pending_hints(1)
    assert sorted(h["id"] for h in hints) == list(range(1, THREADS * ROUNDS + 1))
    assert len(stores[0].jobs(1, limit=1000)) == THREADS * ROUNDS


# ------------------------------------------------------------------ the password
def test_a_bad_url_is_a_settings_error_without_the_password():
    for url, says in [("mysql://u:s3cret-pw@h/db", "must be a PostgreSQL URL"),
                      ("postgresql://u:s3cret-pw@h:port/db", "port"),
                      ("postgresql://u:s3cret-pw@h:5432", "must name the database"),
                      ("postgresql://u:s3cret-pw@h/db?nonsense=1", "not a valid PostgreSQL URL")]:
        with pytest.raises(SettingsError, match="DATABASE_URL") as info:
            from_env({"DATABASE_URL": url})
        assert says in str(info.value) and "s3cret-pw" not in str(info.value)
    assert "s3cret-pw" not in repr(from_env({"DATABASE_URL": "postgresql://u:s3cret-pw@h/db"}))


def test_a_wrong_password_or_a_dead_server_is_a_store_error_without_the_password(pg_url):
    wrong = pg_url.replace(_password(pg_url), "not-the-Password-9")
    with pytest.raises(StoreError, match="password authentication failed") as info:
        PostgresStore(wrong)
    assert "not-the-Password-9" not in str(info.value) and info.value.__cause__ is None
    port = pg_url.split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    dead = pg_url.replace(f"127.0.0.1:{port}", "127.0.0.1:9")
    with pytest.raises(StoreError, match="127.0.0.1:9") as info:
        PostgresStore(dead)
    assert _password(pg_url) not in str(info.value)


@pytest.mark.parametrize("store_kind", ["postgres"], indirect=True)
def test_health_and_logs_show_the_database_without_the_password(backend_factory, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    b = backend_factory(LOG_LEVEL="DEBUG")
    health = b.client.get("/health").get_json()
    assert health["store"]["ok"] and health["store"]["path"].startswith("postgresql://127.0.0.1:")
    assert PG_USER not in health["store"]["path"]
    assert _password(database_url) not in b.client.get("/health").get_data(as_text=True)
    assert _password(database_url) not in caplog.text


def test_python_m_backend_names_an_unreachable_database_without_its_password(pool_dir, tmp_path):
    url = f"postgresql://{PG_USER}:Not-Shown-42@127.0.0.1:9/postgres"
    env = {"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path / "m"), "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
           "DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "backend"], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert done.returncode == 1, done.stderr
    assert "cannot connect to the PostgreSQL database postgresql://127.0.0.1:9/postgres" in done.stderr
    assert "Not-Shown-42" not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_missing_server_binaries_are_named_with_how_to_install(monkeypatch):
    from tests.support import postgres_server

    monkeypatch.delenv("MODELPICKER_PG_BIN", raising=False)
    monkeypatch.setattr(postgres_server.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres_server.shutil, "which", lambda name: None)
    with pytest.raises(postgres_server.PostgresServerError, match="initdb, postgres.*`make postgres` installs"):
        postgres_server.find_pg_bin()

"""``python -m backend.store revision MESSAGE | current | heads``: the store's alembic revisions.

``revision`` writes a new revision file in ``backend/store/migrations/versions/`` (its ``upgrade()`` must run
on SQLite and PostgreSQL); ``current`` opens the store the environment names (``DATABASE_URL``, else the SQLite
file under ``MODEL_DIR``), which migrates it, and prints its revision; ``heads`` prints the newest revision.
"""
from __future__ import annotations

import sys

from . import open_store
from .migrate import alembic_config, head

USAGE = "usage: python -m backend.store revision MESSAGE | current | heads"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["revision"] and len(argv) == 2:
        from alembic import command

        command.revision(alembic_config(), argv[1])
        return 0
    if argv == ["heads"]:
        print(head())
        return 0
    if argv == ["current"]:
        from ..settings import SettingsError, from_env
        from .connection import StoreError

        try:
            settings = from_env()
            store = open_store(settings.database_url, settings.db_path)
        except (SettingsError, StoreError) as exc:
            print(f"backend.store: {exc}", file=sys.stderr)
            return 1
        try:
            print(f"{store.describe()}: {store.schema_revision()}")
        finally:
            store.close()
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

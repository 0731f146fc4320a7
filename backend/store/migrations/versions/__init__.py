"""The store's alembic revisions, oldest first: ``0001`` is the baseline (the schema before alembic)."""

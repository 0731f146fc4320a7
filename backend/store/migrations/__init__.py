"""The store's alembic environment (``env.py``) and revisions (``versions/``); run by :mod:`backend.store.migrate`."""

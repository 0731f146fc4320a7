"""The alembic environment of the store: migrations run online, on the connection
:mod:`backend.store.migrate` opened and locked (``config.attributes["connection"]``)."""
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the store's migrations run through backend.store.migrate (python -m backend.store), "
                       "which opens the database and holds the migration lock")
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()

"""sync_claims: which process runs a project's periodic sync in the current period.

Every web process (gunicorn workers, replicas on other hosts) runs the hint
sweeper, and each used to mirror every project from Label Studio every period:
N processes read the same export and computed the same predictions at once,
all waiting on the store's write lock.  A process now claims the project's
sync for the period first (:meth:`backend.store.sync_log.SyncLogTables.claim_sync`);
the others skip it.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("sync_claims",
                    sa.Column("project", sa.BigInteger(), primary_key=True, autoincrement=False),
                    sa.Column("claimed_at", sa.Double(), nullable=False))


def downgrade() -> None:
    op.drop_table("sync_claims")

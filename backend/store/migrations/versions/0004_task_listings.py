"""task_listings: when a project's tasks were last listed in full, shared by every process.

Listing every task costs Label Studio about 110 s at 100,000 tasks and slows
the annotators meanwhile (``benchmarks/task_listing_scale.py``); the periodic
sync lists only when the counts disagree or the last listing is an hour old.
Kept per process, that hour restarted in every gunicorn worker and replica:
each one's first sync listed again.  The store keeps it now
(:meth:`backend.store.sync_log.SyncLogTables.record_task_listing`).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("task_listings",
                    sa.Column("project", sa.BigInteger(), primary_key=True, autoincrement=False),
                    sa.Column("listed_at", sa.Double(), nullable=False))


def downgrade() -> None:
    op.drop_table("task_listings")

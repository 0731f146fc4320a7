"""round_draw_rules: which draw rule ordered each round's queue.

The certified bound weighs each drawn label by the probability its draw had.
A refit replays the labels with the draw rule of the code running now; labels
that an earlier rule drew (another release, other settings) would be weighed
wrongly.  The first queue a round pushes records its rule
(:meth:`backend.store.rounds.RoundTables.record_draw_rule`); a belief over a
round whose record names another rule carries no certified bound.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("round_draw_rules",
                    sa.Column("project", sa.BigInteger(), primary_key=True, autoincrement=False),
                    sa.Column("round", sa.BigInteger(), primary_key=True, autoincrement=False),
                    sa.Column("rule", sa.Text(), nullable=False),
                    sa.Column("recorded_at", sa.Double(), nullable=False))


def downgrade() -> None:
    op.drop_table("round_draw_rules")

"""ix_delivery_copy_sent: the rows that still hold their mailed copy, by sent_at, so that
retention finds the oldest copies without reading the whole ledger.

On PostgreSQL the index is built CONCURRENTLY: a ledger of millions of rows keeps taking
writes (a run may be going) while it is built.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_HOLDS_A_COPY = sa.text("message IS NOT NULL")


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_delivery_copy_sent",
            "delivery",
            ["sent_at"],
            if_not_exists=True,
            sqlite_where=_HOLDS_A_COPY,
            postgresql_where=_HOLDS_A_COPY,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_delivery_copy_sent",
            table_name="delivery",
            if_exists=True,
            postgresql_concurrently=True,
        )

"""delivery.claimed_by: the consumer holding a claim, so a dead consumer's claims come back as
soon as its heartbeat stops instead of when their lease runs out.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as table:
        table.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as table:
        table.drop_column("claimed_by")

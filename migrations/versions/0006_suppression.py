"""suppression: the learners no report is mailed to (unsubscribed, hard bounce, or added by an
admin), with why, since when and on whose word (webapp/core/suppression.py). A table of the
product's own: the quiz platform's "user" table is not touched.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=254), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("suppression") as table:
        table.create_index("ix_suppression_created", ["created_at"])
        table.create_index("uq_suppression_user", ["user_id"], unique=True)


def downgrade() -> None:
    op.drop_table("suppression")  # its indexes go with it

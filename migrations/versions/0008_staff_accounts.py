"""staff_account: what the product keeps about a staff account (viewer, operator, admin) beside
the quiz platform's user row, which it leaves as it is: whether the account is disabled. An
admin made before this revision has no row, and is active. Also an index on audit_entry for
the Audit page's filter by action, newest first.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_account",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    # Not in a batch: on SQLite a batch may copy the table, and the copy would lose the
    # triggers that keep the trail append-only.
    op.create_index("ix_audit_entry_action_at", "audit_entry", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_action_at", table_name="audit_entry")
    op.drop_table("staff_account")

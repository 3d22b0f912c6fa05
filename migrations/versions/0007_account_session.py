"""account_session: one row per signed-in browser (webapp/core/sessions.py), so that signing
out, signing out everywhere, a password change or a demotion ends sessions for good.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("account_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("account_session") as table:
        table.create_index("ix_account_session_expires_at", ["expires_at"])
        table.create_index("ix_account_session_user_id", ["user_id"])


def downgrade() -> None:
    op.drop_table("account_session")  # its indexes go with it

"""audit_entry: the audit trail (webapp/core/audit.py), append-only: triggers refuse every
UPDATE and DELETE, so not even a bug in the product can rewrite what happened.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_REFUSE_SQLITE = """
CREATE TRIGGER audit_entry_no_{what} BEFORE {verb} ON audit_entry
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END
"""
_REFUSE_POSTGRESQL_FUNCTION = """
CREATE FUNCTION audit_entry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$
"""
_REFUSE_POSTGRESQL = """
CREATE TRIGGER audit_entry_no_{what} BEFORE {verb} ON audit_entry
FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse()
"""


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_entry") as table:
        table.create_index("ix_audit_entry_action", ["action"])
        table.create_index("ix_audit_entry_actor_id", ["actor_id"])
        table.create_index("ix_audit_entry_at", ["at"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(_REFUSE_POSTGRESQL_FUNCTION)
    for what, verb in (("update", "UPDATE"), ("delete", "DELETE")):
        template = _REFUSE_POSTGRESQL if postgresql else _REFUSE_SQLITE
        op.execute(template.format(what=what, verb=verb))


def downgrade() -> None:
    op.drop_table("audit_entry")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_entry_refuse()")

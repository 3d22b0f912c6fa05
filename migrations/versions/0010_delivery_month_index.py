"""ix_delivery_kind_month_state: each month's reports by state, so that the overview counts
a month's standing from the index alone (webapp/core/month_standing.py): about 10 ms for
six months of 10,000 learners, where a scan of the ledger takes several times that.

On PostgreSQL the index is built CONCURRENTLY: the ledger keeps taking writes (a run may be
going) while it is built.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_delivery_kind_month_state",
            "delivery",
            ["kind", "month", "state"],
            if_not_exists=True,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_delivery_kind_month_state",
            table_name="delivery",
            if_exists=True,
            postgresql_concurrently=True,
        )

"""report_run.subject and report_run.intro: what an admin chose to say in a run's emails
(unset: the default subject and no intro), kept so the run's page shows what was mailed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_run") as table:
        table.add_column(sa.Column("subject", sa.String(150), nullable=True))
        table.add_column(sa.Column("intro", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_run") as table:
        table.drop_column("intro")
        table.drop_column("subject")

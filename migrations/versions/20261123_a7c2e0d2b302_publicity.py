"""public notice and objections: when a notice came down, one notice up per case, and
the community's notices by state

Revision ID: a7c2e0d2b302
Revises: a7c1e0d2b301
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2


revision = 'a7c2e0d2b302'
down_revision = 'a7c1e0d2b301'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_notices_community_state', ['community_id', 'state', 'posted_until'], unique=False)
        batch_op.create_index('uq_notices_case_posted', ['case_id'], unique=True,
                              sqlite_where=sa.text("state = 'posted'"), postgresql_where=sa.text("state = 'posted'"))


def downgrade():
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('uq_notices_case_posted', sqlite_where=sa.text("state = 'posted'"),
                            postgresql_where=sa.text("state = 'posted'"))
        batch_op.drop_index('ix_notices_community_state')
        batch_op.drop_column('closed_at')

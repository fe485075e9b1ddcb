"""ledgers and exports

Revision ID: a7c4e0d2b304
Revises: a7c3e0d2b303
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2


revision = 'a7c4e0d2b304'
down_revision = 'a7c3e0d2b303'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index('ix_decisions_case_payment',
                              ['case_id', 'payment_from', 'decision_date', 'outcome', 'allowance'], unique=False)


def downgrade():
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_decisions_case_payment')

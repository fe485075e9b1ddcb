"""county decisions and re-checks

Revision ID: a7c3e0d2b303
Revises: a7c2e0d2b302
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2


revision = 'a7c3e0d2b303'
down_revision = 'a7c2e0d2b302'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

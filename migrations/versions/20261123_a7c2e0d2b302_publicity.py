"""public notice and objections

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
    pass


def downgrade():
    pass

"""evaluation panel sessions, votes and minutes

Revision ID: a7c1e0d2b301
Revises: 2267daa94473
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2


revision = 'a7c1e0d2b301'
down_revision = '2267daa94473'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""evaluation panel sessions, votes and minutes: recusals the register of staff relatives
proposes, confirmed or dismissed by the office

Revision ID: a7c1e0d2b301
Revises: 2267daa94473
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = 'a7c1e0d2b301'
down_revision = '2267daa94473'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recusal_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agenda_item_id', sa.Integer(), nullable=False),
    sa.Column('panel_member_id', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('by_account', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('proposed', 'confirmed', 'dismissed')", name=op.f('ck_recusal_proposals_state')),
    sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_items.id'], name=op.f('fk_recusal_proposals_agenda_item_id_agenda_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_recusal_proposals_decided_by_id_users')),
    sa.ForeignKeyConstraint(['panel_member_id'], ['panel_members.id'], name=op.f('fk_recusal_proposals_panel_member_id_panel_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recusal_proposals')),
    sa.UniqueConstraint('agenda_item_id', 'panel_member_id', name=op.f('uq_recusal_proposals_agenda_item_id_panel_member_id'))
    )
    with op.batch_alter_table('recusal_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recusal_proposals_agenda_item_id'), ['agenda_item_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recusal_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recusal_proposals_agenda_item_id'))

    op.drop_table('recusal_proposals')

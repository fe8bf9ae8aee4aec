"""fleet terminal cursors and enrolment queue (issue 20)

A fleet terminal keeps its local store and, in it, how far it got with the central database:
the last central change number its mirror applied and the last local punch id the centre
committed (``fleet_cursors``), and the on-device enrolments waiting to go up
(``fleet_enrolment_queue``). A standalone terminal leaves both empty.

Revision ID: f1e7a20c3b64
Revises: 38970cece0bc
Create Date: 2026-12-05 07:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1e7a20c3b64'
down_revision = '38970cece0bc'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fleet_cursors',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_fleet_cursors'))
    )
    op.create_table('fleet_enrolment_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_no', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('photo', sa.LargeBinary(), nullable=False),
    sa.Column('photo_sha256', sa.String(length=64), nullable=False),
    sa.Column('descriptors', sa.Text(), nullable=False),
    sa.Column('quality', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_enrolment_queue'))
    )


def downgrade():
    op.drop_table('fleet_enrolment_queue')
    op.drop_table('fleet_cursors')

"""adms cursors: ZKTeco PUSH (ADMS) upload positions (issue 18)

Each table pushed to an ADMS server (ATTLOG: punch ids, OPERLOG: audit-log ids) keeps the id of
the last row the server acknowledged, so the link resumes where it stopped after a restart, a
kill -9 or hours offline.

Revision ID: a7d5c3e1f018
Revises: 5377f267f672
Create Date: 2026-12-05 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d5c3e1f018'
down_revision = '5377f267f672'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('adms_cursors',
    sa.Column('table', sa.String(length=16), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('table', name=op.f('pk_adms_cursors'))
    )


def downgrade():
    op.drop_table('adms_cursors')

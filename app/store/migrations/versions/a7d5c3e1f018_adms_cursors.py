"""adms cursors and punch states: ZKTeco PUSH (ADMS) upload positions (issue 18)

Each table pushed to an ADMS server (ATTLOG: punch ids, OPERLOG: audit-log ids) keeps the id of
the last row the server acknowledged, so the link resumes where it stopped after a restart, a
kill -9 or hours offline. Punches get ZKTeco's state (0 in .. 5 overtime out), chosen on the
confirm card; existing punches are 0 (in), what ADMS terminals send when nobody chose.

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
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_punches_status'), 'status BETWEEN 0 AND 5')


def downgrade():
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_punches_status'), type_='check')
        batch_op.drop_column('status')
    op.drop_table('adms_cursors')

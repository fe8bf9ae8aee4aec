"""staff.zk_uid: the small stable number ZKTeco's pull protocol calls a user's uid

ZKTeco clients (pyzk, node-zklib, zkemkeeper) key users and attendance records by a 16-bit uid.
Existing staff are numbered 1, 2, ... in the order they were created (their id order); new
staff get the next number when they are inserted (app/store/models.py).

Revision ID: c41f0a7d2b93
Revises: a7d5c3e1f018
Create Date: 2026-12-05 03:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41f0a7d2b93'
down_revision = 'a7d5c3e1f018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zk_uid', sa.Integer(), nullable=True))
    # Rank by id: the same numbers on SQLite and PostgreSQL, no window functions needed.
    op.execute("UPDATE staff SET zk_uid = (SELECT COUNT(*) FROM staff AS earlier WHERE earlier.id <= staff.id)")
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column('zk_uid', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_staff_zk_uid'), ['zk_uid'])


def downgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_zk_uid'), type_='unique')
        batch_op.drop_column('zk_uid')

"""store counters: the highest ZKTeco uid ever given

A deleted person's uid (when it was the highest) was handed to the next person enrolled, so an
HR system that had pulled it filed the newcomer's punches under the one who left. The highest
uid ever given is now kept apart from the staff rows (``store_counters`` row ``zk_uid``),
starting at the highest uid in use.

Revision ID: 5c3e8a1f9b20
Revises: f1e7a20c3b64
Create Date: 2026-12-05 11:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c3e8a1f9b20'
down_revision = 'f1e7a20c3b64'
branch_labels = None
depends_on = None


def upgrade():
    counters = op.create_table('store_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_store_counters'))
    )
    top = op.get_bind().execute(sa.text("SELECT coalesce(max(zk_uid), 0) FROM staff")).scalar_one()
    op.bulk_insert(counters, [{"name": "zk_uid", "value": top}])


def downgrade():
    op.drop_table('store_counters')

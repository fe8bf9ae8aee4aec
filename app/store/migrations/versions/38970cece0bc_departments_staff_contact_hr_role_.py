"""departments, staff phone and card, the hr role, leave requests (issue 24)

Departments become rows: one per distinct non-empty ``staff.department`` text, and each person's
``department_id`` points at theirs. The text column stays (the lists, exports and the JSON API
read it) and the admin keeps it equal to the department's name. Accounts and API tokens may
have the ``hr`` role. A make-up request is now a missed punch or a leave (``kind``).

Revision ID: 38970cece0bc
Revises: dba59707af80
Create Date: 2026-12-05 03:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '38970cece0bc'
down_revision = 'dba59707af80'
branch_labels = None
depends_on = None

NEW_ROLES = "role IN ('admin', 'hr', 'viewer')"
OLD_ROLES = "role IN ('admin', 'viewer')"


def upgrade():
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('name', name=op.f('uq_departments_name'))
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('card_no', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_card_no'), ['card_no'], unique=True)
        batch_op.create_foreign_key(batch_op.f('fk_staff_department_id_departments'), 'departments',
                                    ['department_id'], ['id'], ondelete='SET NULL')
    # The free-text departments become rows, and each person points at theirs.
    op.execute(
        "INSERT INTO departments (name, created_at) "
        "SELECT DISTINCT department, CURRENT_TIMESTAMP FROM staff WHERE department <> ''"
    )
    op.execute(
        "UPDATE staff SET department_id = "
        "(SELECT departments.id FROM departments WHERE departments.name = staff.department) "
        "WHERE department <> ''"
    )
    for table in ('admin_users', 'api_tokens'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'ck_{table}_role'), type_='check')
            batch_op.create_check_constraint('role', NEW_ROLES)
    with op.batch_alter_table('makeup_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='punch'))
        batch_op.add_column(sa.Column('leave_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('leave_end', sa.Date(), nullable=True))
        batch_op.create_check_constraint('kind', "kind IN ('punch', 'leave')")


def downgrade():
    op.execute("DELETE FROM makeup_requests WHERE kind = 'leave'")
    with op.batch_alter_table('makeup_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_makeup_requests_kind'), type_='check')
        batch_op.drop_column('leave_end')
        batch_op.drop_column('leave_type')
        batch_op.drop_column('kind')
    for table in ('admin_users', 'api_tokens'):
        # hr accounts and tokens fall back to read-only viewers
        op.execute(f"UPDATE {table} SET role = 'viewer' WHERE role = 'hr'")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'ck_{table}_role'), type_='check')
            batch_op.create_check_constraint('role', OLD_ROLES)
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_staff_department_id_departments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_staff_card_no'))
        batch_op.drop_index(batch_op.f('ix_staff_department_id'))
        batch_op.drop_column('card_no')
        batch_op.drop_column('phone')
        batch_op.drop_column('department_id')
    op.drop_table('departments')

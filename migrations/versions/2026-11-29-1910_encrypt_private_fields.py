"""encrypt private fields at rest; blind indexes

Revision ID: a7c1e0f10002
Revises: a7c1e0f10001
Create Date: 2026-11-29

The private columns become unbounded text, since ciphertext is longer than what it encrypts
(`v1.<key id>.<base64url>`: about 4/3 of the plaintext plus 40 characters); input lengths stay
checked by the request schemas. `child.birth_date` (a date) and `report.parents` (JSON) become
text too. New columns: the blind indexes `child.name_index` and `reporter.phone_index`, wider
matching keys (they now carry the index key id), and `case_file.anonymised_at`.

Existing rows are not encrypted here (a migration holds no keys): they stay readable as
plaintext until `kipthoi keys rotate` encrypts them and recomputes their indexes.

SQLite cannot change a column's type in place. `batch_alter_table` copies the table into a new
one and drops the old, which SQLite refuses for a table other rows point at (`child`,
`reporter`) while foreign keys are enforced, and the pragma cannot be switched off inside the
migration's transaction. For those two the declared types are rewritten in the schema itself
(SQLite's documented procedure for changes that leave the stored rows as they are: every
value stays the text it was, and TEXT affinity is what the new columns want).
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c1e0f10002'
down_revision: str | None = 'a7c1e0f10001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = sa.String(length=80)
OLD_KEY = sa.String(length=64)

# table -> column -> (type before, nullable); every one becomes TEXT.
ENCRYPTED: dict[str, dict[str, tuple[sa.types.TypeEngine, bool]]] = {
    'child': {'full_name': (sa.String(length=120), True), 'birth_date': (sa.Date(), True)},
    'reporter': {'full_name': (sa.String(length=120), True), 'phone': (sa.String(length=16), True),
                 'address': (sa.String(length=300), True), 'relation': (sa.String(length=120), True)},
    'report': {'place_detail': (sa.String(length=300), True),
               'narrative': (sa.String(length=10000), False),
               'child_condition': (sa.String(length=2000), True),
               'likely_consequence': (sa.String(length=2000), True),
               'parents': (sa.JSON(), False),
               'family_circumstances': (sa.String(length=2000), True),
               'current_carer': (sa.String(length=300), True),
               'actions_taken': (sa.String(length=2000), True)},
    'emergency_action': {'action_taken': (sa.String(length=2000), False),
                         'who_was_called': (sa.String(length=500), False)},
    'plan': {'goals': (sa.String(length=5000), False), 'measures': (sa.String(length=5000), False),
             'decision_note': (sa.String(length=2000), True)},
    'service': {'note': (sa.String(length=2000), True)},
    'review': {'findings': (sa.String(length=5000), False)},
    'note': {'text': (sa.String(length=5000), False)},
}
# Tables other tables reference: SQLite cannot copy-and-drop them (see above).
REFERENCED = {'child', 'reporter'}
# PostgreSQL needs to be told how to turn these into text, and back.
PG_CAST = {('child', 'birth_date'): ('date', 'birth_date::text', 'birth_date::date'),
           ('report', 'parents'): ('json', 'parents::text', 'parents::json')}


def _sqlite_declare(table: str, changes: dict[str, tuple[str, str]]) -> None:
    """Rewrite the declared types of some columns of a SQLite table, rows untouched."""
    bind = op.get_bind()
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                       {'t': table}).scalar_one()
    for column, (old, new) in changes.items():
        pattern = rf'(\n\s*"?{column}"?\s+){re.escape(old)}(?=[\s,])'
        sql, found = re.subn(pattern, rf'\g<1>{new}', sql, count=1, flags=re.IGNORECASE)
        if found != 1:
            raise RuntimeError(f"{table}.{column}: declared type {old} not found in the schema")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
                 {'sql': sql, 't': table})
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    if bind.exec_driver_sql("PRAGMA integrity_check").scalar_one() != 'ok':
        raise RuntimeError(f"{table}: integrity check failed after changing declared types")


def _sqlite_type(type_: sa.types.TypeEngine) -> str:
    return str(type_.compile(dialect=op.get_bind().dialect))


def _retype(to_text: bool) -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, columns in ENCRYPTED.items():
        if sqlite and table in REFERENCED:
            keys = {'birth_key': (OLD_KEY, INDEX), 'place_key': (OLD_KEY, INDEX)} if table == 'child' else {}
            changes = {c: (t, sa.Text()) for c, (t, _) in columns.items()} | keys
            _sqlite_declare(table, {c: (_sqlite_type(old if to_text else new), _sqlite_type(new if to_text else old))
                                    for c, (old, new) in changes.items()})
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, (old, nullable) in columns.items():
                cast = PG_CAST.get((table, column))
                batch_op.alter_column(
                    column, existing_type=old if to_text else sa.Text(), existing_nullable=nullable,
                    type_=sa.Text() if to_text else old,
                    postgresql_using=(cast[1] if to_text else cast[2]) if cast else None)
            if table == 'child':
                for column in ('birth_key', 'place_key'):
                    batch_op.alter_column(column, existing_type=OLD_KEY if to_text else INDEX,
                                          type_=INDEX if to_text else OLD_KEY, existing_nullable=True)


def upgrade() -> None:
    _retype(to_text=True)
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_index', INDEX, nullable=True))
        batch_op.create_index(batch_op.f('ix_child_name_index'), ['name_index'], unique=False)
    with op.batch_alter_table('reporter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_index', INDEX, nullable=True))
        batch_op.create_index(batch_op.f('ix_reporter_phone_index'), ['phone_index'], unique=False)
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    for table, columns in ENCRYPTED.items():
        for column in columns:
            found = bind.execute(sa.text(f'SELECT 1 FROM "{table}" WHERE "{column}" LIKE :p LIMIT 1'),
                                 {'p': 'v1.%'}).first()
            if found is not None:
                raise RuntimeError(f"{table}.{column} holds encrypted values: downgrading would make "
                                   "them unreadable (and too long for the old columns)")
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('reporter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reporter_phone_index'))
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_name_index'))
    # SQLite (3.35+) drops a column in place; the batch copy would trip on foreign keys.
    op.drop_column('reporter', 'phone_index')
    op.drop_column('child', 'name_index')
    _retype(to_text=False)

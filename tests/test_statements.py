"""models/statements.py: a statement run on the driver's cursor (SQLite) stores exactly what the
ORM would, encrypted columns included, and works across transactions of one session."""

from datetime import date
from typing import NamedTuple

from sqlalchemy import select, text
from sqlmodel import Session

from models import Case, Child, Database, Place
from models.statements import Insert, Query, Statement, model_defaults


class PlaceName(NamedTuple):
    name: str


CHILDREN = Statement(Child.__table__.insert())  # type: ignore[attr-defined]
PLACE_NAME = Query(select(Place.name).where(Place.code == "P-1"), PlaceName)  # a value fixed in the statement


def test_an_insert_stores_what_the_orm_would_encrypted_columns_included(db: Database) -> None:
    values = {"full_name": "Trẻ Câu Lệnh", "birth_date": date(2016, 5, 1), "estimated_age": None,
              "sex": "female", "place_id": None, "birth_key": "k.b", "place_key": "k.p", "name_index": "k.n"}
    with db.write() as s:
        fast_id = CHILDREN.insert(s, values)
        orm = Child(**values)
        s.add(orm)
        s.flush()
    with db.read() as s:
        fast, slow = s.get(Child, fast_id), s.get(Child, orm.id)
        assert fast is not None and slow is not None
        assert (fast.full_name, fast.birth_date, fast.sex) == ("Trẻ Câu Lệnh", date(2016, 5, 1), "female")
        assert (slow.full_name, slow.birth_date) == (fast.full_name, fast.birth_date)
        stored = s.execute(text("SELECT full_name, birth_date FROM child WHERE id = :i"), {"i": fast_id}).one()
    # Encrypted at rest like any other write: key id prefix, never the name in clear.
    assert all(v.startswith("v1.") and "Câu" not in v for v in stored)


def test_values_written_in_the_statement_and_a_second_transaction(db: Database) -> None:
    with db.write() as s:
        s.add(Place(code="P-1", name="Thôn Câu Lệnh"))
    session = Session(db.writer, expire_on_commit=False)
    try:
        assert PLACE_NAME.one(session) == PlaceName("Thôn Câu Lệnh")
        session.commit()  # the connection goes back to the pool: the next statement begins anew
        session.add(Place(code="P-2", name="Thôn Hai"))
        session.flush()
        assert PLACE_NAME.one(session) == PlaceName("Thôn Câu Lệnh")
        session.commit()
    finally:
        session.close()
    with db.read() as s:
        assert s.execute(select(Place.name).where(Place.code == "P-2")).scalar_one() == "Thôn Hai"


def test_many_rows_in_one_call(db: Database) -> None:
    rows = [{"full_name": f"Trẻ {i}", "birth_date": None, "estimated_age": 9, "sex": "male", "place_id": None,
             "birth_key": None, "place_key": f"k.{i}", "name_index": f"n.{i}"} for i in range(3)]
    with db.write() as s:
        CHILDREN.run_many(s, rows)
    with db.read() as s:
        names = sorted(c.full_name or "" for c in s.execute(select(Child)).scalars())
    assert names == ["Trẻ 0", "Trẻ 1", "Trẻ 2"]


def test_rows_come_back_typed_and_none_when_there_is_none(db: Database) -> None:
    with db.write() as s:
        assert PLACE_NAME.first(s) is None
        assert PLACE_NAME.all(s) == []
        s.add(Place(code="P-1", name="Thôn Một"))
        s.flush()
        row = PLACE_NAME.one(s)
        assert isinstance(row, PlaceName) and row.name == "Thôn Một"


def test_an_insert_fills_in_the_models_own_defaults(db: Database) -> None:
    defaults = model_defaults(Case)
    assert "id" not in defaults and "code" not in defaults  # the key, and a field with no default
    assert defaults["version"] == 1 and defaults["flags"] == [] and defaults["assignee_id"] is None
    with db.write() as s:
        child_id = Insert(Child).insert(s, {"full_name": None, "birth_date": None, "place_key": "k.d"})
        stored = s.get(Child, child_id)
        assert stored is not None and (stored.sex, stored.estimated_age) == ("unknown", None)

"""Intake's group commit (models/group_commit.py, `Database.write_batched`): reports that
arrive together share one write transaction on SQLite, each in its own savepoint; a failing
one is rolled back alone."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.app import create_app
from api.deps import Runtime
from models import Case, Database, Place, Report
from models.group_commit import GroupCommit
from states.audit import chain as audit
from tests import dbs
from tests.conftest import Commune, hotline_report

pytestmark = pytest.mark.usefixtures("commune")


def _count_write_transactions(db: Database) -> list[int]:
    counter = [0]

    def on_begin(_conn: Any) -> None:
        counter[0] += 1

    event.listen(db.writer, "begin", on_begin)
    return counter


async def _post_together(runtime: Runtime, headers: dict[str, str],
                         bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://kipthoi.test") as client:
        return await asyncio.gather(*(client.post("/reports", json=b, headers=headers) for b in bodies))


def test_reports_sent_together_are_each_received_once_and_twins_replay(
        runtime: Runtime, commune: Commune, db: Database) -> None:
    from models.enums import Role

    begins = _count_write_transactions(db)
    bodies = [hotline_report(f"111-G-{i}", child={"full_name": f"Trẻ Nhóm {i}", "birth_date": f"2016-01-0{i + 1}",
                                                  "sex": "female"}) for i in range(4)]
    bodies.append(bodies[0])  # the hotline resends the first one while it is being written
    answers = asyncio.run(_post_together(runtime, commune.headers(Role.HOTLINE), bodies))

    assert [a.status_code for a in answers] == [201, 201, 201, 201, 200], [a.text for a in answers]
    assert answers[4].json() == answers[0].json()  # the first answer, unchanged
    assert len({a.json()["case_code"] for a in answers}) == 4
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 4
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 4
        assert audit.verify(s).ok
    if not dbs.IS_PG:
        # One write transaction (one lock, one durable commit) for the five. (On PostgreSQL
        # each report has its own, and reads share the engine, so there is nothing to count.)
        assert begins[0] == 1


def test_a_failing_write_is_rolled_back_alone_and_gets_its_own_error(db: Database) -> None:
    def add_place(code: str) -> Any:
        def write(session: Session) -> str:
            session.add(Place(code=code, name=f"Thôn {code}"))
            session.flush()
            return code
        return write

    async def together() -> list[Any]:
        group = GroupCommit(db)
        return await asyncio.gather(group.write(add_place("G-1")), group.write(add_place("DONG-AN")),
                                    group.write(add_place("G-2")), return_exceptions=True)

    begins = _count_write_transactions(db)
    first, second, third = asyncio.run(together())
    assert (first, third) == ("G-1", "G-2")
    assert isinstance(second, IntegrityError)  # DONG-AN exists already: the unique code
    assert begins[0] == 1
    with db.read() as s:
        codes = set(s.execute(select(Place.code)).scalars())
    assert {"G-1", "G-2", "DONG-AN"} <= codes


def test_a_batch_never_grows_past_its_bound(db: Database) -> None:
    begins = _count_write_transactions(db)
    seen: list[int] = []  # the transaction each write ran in

    async def many() -> None:
        group = GroupCommit(db, max_batch=3)

        def write(session: Session) -> None:
            session.connection()  # begins the transaction, if this is the batch's first write
            seen.append(begins[0])

        await asyncio.gather(*(group.write(write) for _ in range(7)))

    asyncio.run(many())
    assert seen == [1, 1, 1, 2, 2, 2, 3]

"""Statuses are enums on the row (models/types.EnumText): stored as plain values (the partial
indexes and every query compare strings), read back as the enum, and refused on the way in when
they are not one of its values — by the ORM, by Core updates and by the driver-cursor statements
alike. A typo would otherwise write a row that no query ever finds again."""

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import StatementError

from models import Case, Database, Deadline, OutboxMessage
from models.enums import CaseState, DeadlineStatus, OutboxStatus, Role
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report


@pytest.fixture
def case_id(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> int:
    with db.write() as s:
        report = StaffReport.model_validate(staff_report())
        submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy, report)
        return int(s.execute(text("SELECT id FROM case_file")).scalar_one())


def test_statuses_come_back_as_enums_and_are_stored_as_plain_values(db: Database, case_id: int) -> None:
    with db.read() as s:
        case = s.get_one(Case, case_id)
        deadline = s.execute(Deadline.__table__.select()).first()  # type: ignore[attr-defined]
        message = s.execute(text("SELECT status FROM outbox LIMIT 1")).scalar_one()
        stored = s.execute(text("SELECT state FROM case_file")).scalar_one()
    assert case.state is CaseState.RECEIVED and stored == "received" and type(stored) is str
    assert deadline is not None and deadline.status is DeadlineStatus.OPEN
    assert message == OutboxStatus.PENDING.value


@pytest.mark.parametrize("how", ["orm", "core"])
def test_a_status_outside_the_enum_is_refused_and_nothing_is_written(db: Database, case_id: int, how: str) -> None:
    with pytest.raises((StatementError, ValueError)), db.write() as s:
        if how == "orm":
            row = s.get_one(Deadline, 1)
            row.status = "opne"  # type: ignore[assignment]
            s.add(row)
            s.flush()
        else:
            s.execute(update(OutboxMessage).values(status="sendng"))
    with db.read() as s:
        assert s.execute(text("SELECT status FROM deadline WHERE id = 1")).scalar_one() == "open"
        assert set(s.execute(text("SELECT status FROM outbox")).scalars()) == {"pending"}

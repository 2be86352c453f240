"""The data each trigger takes. Types are checked here; whether the data is *enough* for a
step is the guards' business (`states/guards.py`), so fields a guard needs stay optional and a
missing one is reported by the guard with the step's own rule."""

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.enums import CaseType, ClosureReason, ReviewOutcome, RiskLevel, ServiceKind
from states.clock import LOCAL_TZ
from states.text import Text32, Text200, Text500, Text2000, Text5000


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("must include a timezone offset (e.g. +07:00)")
    if v is not None:
        # Stored in UTC and shown in Vietnam's zone: `0001-01-01T00:30+01:00` has neither form.
        try:
            v.astimezone(UTC), v.astimezone(LOCAL_TZ)
        except OverflowError:
            raise ValueError("is outside the range of date-times") from None
    return v


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmergencyActionData(Command):
    action_taken: Text2000 | None = Field(None, description="What was done to protect the child")
    who_was_called: Text500 | None = Field(None, description="Agencies/people called")
    done_at: AwareDatetime | None = None
    separated_from_carer: bool = False


class AssessData(Command):
    risk_level: RiskLevel | None = None
    emergency: bool | None = Field(None, description="Is emergency protection needed?")
    case_type: CaseType | None = None
    note: Text2000 | None = None
    emergency_action: EmergencyActionData | None = None


class PlanData(Command):
    goals: Text5000 | None = None
    measures: Text5000 | None = None


class DecisionData(Command):
    note: Text2000 | None = None


class ServiceData(Command):
    kind: ServiceKind | None = None
    agency_code: Text32 | None = None
    started_on: date | None = None
    note: Text2000 | None = None


class ReviewData(Command):
    findings: Text5000 | None = None
    risk_level: RiskLevel | None = None
    outcome: ReviewOutcome | None = None


class ReasonData(Command):
    reason: Text2000 | None = None


class CloseData(Command):
    reason: ClosureReason | None = None
    transferred_to: Text200 | None = Field(None, description="Receiving commune, when transferred")
    note: Text2000 | None = None

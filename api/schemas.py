"""Response models: what each endpoint promises to return (and OpenAPI documents)."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from states.cases.case_views import CaseSummary as CaseSummary  # re-exported: the API names it
from states.cases.case_views import CaseView
from states.kernel.clock import LOCAL_TZ
from states.kernel.text import Text5000

T = TypeVar("T", bound=BaseModel)

# Row ids are 32-bit integer columns. A larger id names no row, and one past 64 bits cannot even
# be bound by SQLite (it answered 500): it is refused as invalid input instead.
MAX_ID = 2**31 - 1


def _not_a_timestamp(value: Any) -> Any:
    """Pydantic also reads a number as a Unix timestamp (`?received_to=0.5` was 1970); the
    document promises an ISO 8601 date-time, so a number is refused as one."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    elif not isinstance(value, (int, float)):
        return value
    raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date-time with a time zone")


def _representable(value: datetime) -> datetime:
    """Stored and compared in UTC, shown in Vietnam's zone: `0001-01-01T00:30+01:00` has no UTC
    form (the query answered 500), so it is refused."""
    try:
        value.astimezone(UTC), value.astimezone(LOCAL_TZ)
    except OverflowError:
        raise PydanticCustomError("datetime_range", "Input is outside the range of date-times") from None
    return value


# A date-time in a query string: ISO 8601 with its offset, never a bare number, and one that
# exists in UTC and in Vietnam's zone.
Instant = Annotated[AwareDatetime, BeforeValidator(_not_a_timestamp), AfterValidator(_representable)]

# PostgreSQL text cannot hold a NUL character: a query comparing a column with one fails there
# (it answered 500). Free-text parameters refuse it, as `states.kernel.text`'s aliases do in bodies.
NO_NUL = r"^[^\x00]*$"


class TransitionRequest(BaseModel, Generic[T]):
    model_config = ConfigDict(extra="forbid")
    expected_version: int = Field(ge=1, description="The case version you last read")
    data: T


class ReportAccepted(BaseModel):
    case_code: str
    report_id: int
    tracking_code: str
    linked_to_existing_case: bool
    state: str
    received_at: datetime


class CitizenReceipt(BaseModel):
    tracking_code: str = Field(description="Keep this code to follow your report")


class PublicStatus(BaseModel):
    status: str
    label_vi: str
    label_en: str


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    page: int
    page_size: int


# The workflow's own typed view (states/cases/case_views.py): what is answered and what the access log
# records as read come from one model, so they cannot drift.
class CaseDetail(CaseView):
    """One case as your role may see it. A section your view does not show is an empty list
    named in `withheld`; a report field it does not show is absent and named in that report's
    `withheld`. Reading the private fields is recorded in the access log."""


class CaseChanged(BaseModel):
    code: str
    state: str
    version: int
    allowed_triggers: list[str]


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: int = Field(ge=1)
    official_id: int = Field(ge=1, le=MAX_ID)


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text5000


class NoteOut(BaseModel):
    id: int
    written_at: datetime


class EndServiceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ended_on: date


class PlaceOut(BaseModel):
    id: int
    code: str
    name: str


class AgencyOut(BaseModel):
    id: int
    code: str
    name_vi: str
    name_en: str
    kind: str


class OfficialOut(BaseModel):
    id: int
    full_name: str
    agency_code: str
    title: str
    phone: str
    language: str
    position: str
    active: bool


class ReferralRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_code: str = Field(min_length=1, max_length=32, pattern=NO_NUL)


class ReferralOut(BaseModel):
    id: int
    agency_id: int
    referred_at: datetime
    withdrawn_at: datetime | None


class HotlineReportStatus(BaseModel):
    hotline_ref: str
    case_code: str
    state: str
    status: str
    updated_at: datetime

"""What a report may carry, per channel (Mẫu 01).

`channel` tells the three kinds apart: the 111 hotline's transfer (a machine client that must
give its own reference and the time it received the call), staff entry of a phone, walk-in or
third-party report, and a citizen's online report (minimal, anonymous allowed)."""

from datetime import date
from typing import Annotated, Literal

import phonenumbers
from pydantic import AfterValidator, Field

from models.enums import AbuseForm, CaseType, Sex
from states.kernel.text import Text32, Text120, Text300, Text2000, Text5000, Text10000
from states.lifecycle.commands import AwareDatetime, Command


def _e164(value: str) -> str:
    try:
        parsed = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


Phone = Annotated[str, Field(max_length=20), AfterValidator(_e164)]
Forms = Annotated[list[AbuseForm], Field(min_length=1, max_length=len(AbuseForm))]


def _unique(forms: list[AbuseForm]) -> list[AbuseForm]:
    if len(set(forms)) != len(forms):
        raise ValueError("must not repeat a form of abuse")
    return forms


class ChildIn(Command):
    full_name: Text120 | None = None
    birth_date: date | None = None
    estimated_age: int | None = Field(None, ge=0, le=17)
    sex: Sex = Sex.UNKNOWN


class ParentIn(Command):
    full_name: Text120 | None = None
    age: int | None = Field(None, ge=10, le=120)
    occupation: Text120 | None = None


class ReporterIn(Command):
    """Given only if the reporter agrees to be identified; kept confidential."""

    full_name: Text120 | None = None
    phone: Phone | None = None
    address: Text300 | None = None
    relation: Text120 | None = Field(None, description="Relation to the child")


class _Mau01(Command):
    place_code: Text32 = Field(description="Code of the thôn/xóm where it happened")
    place_detail: Text300 | None = None
    narrative: Text10000
    abuse_forms: Annotated[Forms, AfterValidator(_unique)]
    case_type: CaseType | None = None
    child: ChildIn
    child_condition: Text2000 | None = None
    likely_consequence: Text2000 | None = None
    father: ParentIn | None = None
    mother: ParentIn | None = None
    family_circumstances: Text2000 | None = None
    current_carer: Text300 | None = None
    actions_taken: Text2000 | None = None
    reporter: ReporterIn | None = None
    school_code: Text32 | None = Field(None, description="The school concerned (school violence)")


class HotlineReport(_Mau01):
    channel: Literal["hotline_111"]
    hotline_ref: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
    received_at: AwareDatetime = Field(description="When the hotline received the call")
    receiving_officer: Text120 | None = None


class StaffReport(_Mau01):
    channel: Literal["phone", "in_person", "third_party"]
    received_at: AwareDatetime = Field(description="When the first receiver got the report")
    receiving_officer: Text120 | None = None


class CitizenReport(Command):
    channel: Literal["online"]
    place_code: Text32
    place_detail: Text300 | None = None
    narrative: Text5000
    abuse_forms: Annotated[list[AbuseForm], Field(max_length=len(AbuseForm)),
                           AfterValidator(_unique)] = []
    child: ChildIn = ChildIn()
    reporter: ReporterIn | None = None


AnyReport = Annotated[HotlineReport | StaffReport | CitizenReport, Field(discriminator="channel")]

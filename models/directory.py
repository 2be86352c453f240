"""The commune's places, agencies and officials: who can be assigned and who is told."""

from sqlmodel import Field, SQLModel


class Place(SQLModel, table=True):
    """A thôn/xóm of the commune. Reports must name a known one."""

    __tablename__ = "place"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)


class Agency(SQLModel, table=True):
    __tablename__ = "agency"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name_vi: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    kind: str = Field(max_length=32)


class Official(SQLModel, table=True):
    __tablename__ = "official"
    id: int | None = Field(default=None, primary_key=True)
    full_name: str = Field(max_length=120)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    title: str = Field(max_length=120)
    phone: str = Field(max_length=16, description="E.164")
    language: str = Field(default="vi", max_length=2)
    # Where the alert ladder and the routing find them: case_worker, head, chair, vice_chair,
    # province_contact, agency_contact (receives its agency's messages), sysadmin, or member.
    position: str = Field(default="member", max_length=20, index=True)
    active: bool = Field(default=True)

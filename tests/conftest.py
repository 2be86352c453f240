"""Shared fixtures: a fresh database per test, a frozen clock, a seeded commune, API clients.

Nothing here patches our own code: the app is built by the same factory `kipthoi serve` uses,
around a test database and a `FrozenClock`."""

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Runtime
from models import Database, crypto, open_database
from models.enums import AgencyKind, Role
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM, Actor
from states.kernel.clock import LOCAL_TZ, FrozenClock
from states.kernel.commune import CommunePolicy
from states.records import directory
from tests import dbs

# Processes the tests start (`kipthoi serve`, the CLI) make their development secrets file beside
# a SQLite database, or in the working directory for PostgreSQL: this run's own folder instead of
# the working tree. Tests that build a subprocess's environment pass it on (`SECRETS_FILE_ENV`).
SECRETS_FILE_ENV = {"KIPTHOI_SECURITY__SECRETS_FILE": os.environ.setdefault(
    "KIPTHOI_SECURITY__SECRETS_FILE", str(Path(tempfile.mkdtemp(prefix="kipthoi-test-")) / "kipthoi.secrets.json"))}

# Encryption at rest (models/crypto.py): tests read and write under this synthetic key. A test
# that changes the keyring gets it back for the next test from the autouse fixture below.
TEST_KEYRING = crypto.Keyring({"test1": hashlib.sha256(b"kipthoi test data key 1").digest()}, "test1")
crypto.configure(TEST_KEYRING)


@pytest.fixture(autouse=True)
def test_keyring() -> crypto.Keyring:
    crypto.configure(TEST_KEYRING)
    return TEST_KEYRING


# Monday 2 March 2026, 09:00 in Vietnam.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str | None]:
    if not dbs.IS_PG:
        yield None
        return
    schema = f"t_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    url = dbs.pg_create_schema(schema)
    yield url
    dbs.pg_drop_schema(schema)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if dbs.IS_PG:
        return None
    return dbs.sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def db(pg_schema_url: str | None, sqlite_template: Path | None, tmp_path: Path) -> Iterator[Database]:
    if pg_schema_url is not None:
        database = open_database(pg_schema_url)
        dbs.pg_reset(database)
    else:
        assert sqlite_template is not None
        database = dbs.sqlite_copy(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def policy() -> CommunePolicy:
    return CommunePolicy(code_prefix="NH", match_secret=b"test-secret")


PLACES = [("DONG-AN", "Thôn Đông An"), ("TAY-BINH", "Thôn Tây Bình")]
AGENCIES = [("VHXH", AgencyKind.CULTURE_SOCIAL), ("TYT", AgencyKind.HEALTH_STATION),
            ("CA", AgencyKind.POLICE), ("UBND", AgencyKind.LEADERSHIP)]
ROLE_AGENCY = {Role.CASE_WORKER: "VHXH", Role.HEAD: "VHXH", Role.CHAIR: "UBND",
               Role.AGENCY_OFFICIAL: "CA"}
# Where each role's official sits on the alert ladder and in the routing table.
ROLE_POSITION = {Role.CASE_WORKER: "case_worker", Role.HEAD: "head", Role.CHAIR: "chair",
                 Role.AGENCY_OFFICIAL: "agency_contact"}


class Commune:
    """The seeded test commune: an actor and an API key per role, official ids by role."""

    def __init__(self) -> None:
        self.actors: dict[Role, Actor] = {}
        self.keys: dict[Role, str] = {}
        self.officials: dict[Role, int] = {}

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def commune(db: Database, clock: FrozenClock) -> Commune:
    out = Commune()
    with db.write() as s:
        for code, name in PLACES:
            directory.create_place(s, clock, SYSTEM, directory.PlaceIn(code=code, name=name))
        for code, kind in AGENCIES:
            directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(
                code=code, name_vi=f"Cơ quan {code}", name_en=f"Agency {code}", kind=kind))
        for n, role in enumerate(Role):
            official_id = None
            if role in ROLE_AGENCY:
                official = directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
                    full_name=f"Cán bộ Thử {n}", agency_code=ROLE_AGENCY[role], title="Cán bộ",
                    phone=f"+8490000{n:04d}", position=ROLE_POSITION[role]))
                official_id = official.id
                out.officials[role] = official.id or 0
            user, key = create_user(s, clock, SYSTEM, UserIn(
                username=f"u-{role.value.replace('_', '-')}", display_name=f"Người dùng {n}",
                role=role, official_id=official_id))
            out.actors[role] = Actor(ref=f"user:{user.id}", role=role, official_id=official_id)
            out.keys[role] = key
    return out


@pytest.fixture
def runtime(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as c:
        yield c


def staff_report(**overrides: Any) -> dict[str, Any]:
    """A complete staff-entered phone report (Mẫu 01) about a synthetic child."""
    body: dict[str, Any] = {
        "channel": "phone",
        "received_at": (T0 - timedelta(hours=1)).isoformat(),
        "place_code": "DONG-AN",
        "narrative": "Hàng xóm nghe thấy trẻ bị đánh nhiều lần (dữ liệu giả lập).",
        "abuse_forms": ["violence"],
        "case_type": "abused",
        "child": {"full_name": "Nguyễn Văn Thử", "birth_date": "2016-05-01", "sex": "male"},
        "reporter": {"full_name": "Người Báo Tin", "phone": "0900000999", "relation": "hàng xóm"},
    }
    body.update(overrides)
    return body


def hotline_report(ref: str = "111-2026-0001", **overrides: Any) -> dict[str, Any]:
    body = staff_report(channel="hotline_111", hotline_ref=ref)
    body.pop("reporter")
    body.update(overrides)
    return body

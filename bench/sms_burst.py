"""How many SMS a burst of anonymous online reports sends (issue 9, item 6).

Sends `--reports` (100) anonymous online reports about violence, each about a different child,
from one client address, spread over 1, 2 and 4 API worker processes — here, that many apps on
one database, each with its own memory as processes have — with the production rate limits and
SMS settings and a clock that does not move, so the burst is instantaneous. Then runs the
dispatcher once (which sends the digests) and counts what reached the SMS provider.

    .venv/bin/python bench/sms_burst.py [--reports 100] [--db postgresql+psycopg://…]

The same script run against an older tree (`PYTHONPATH=<old tree>`) gives the "before" figure."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _shared import pg_admin, with_search_path  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import models  # noqa: E402,F401  (all tables registered)
from api.app import create_app  # noqa: E402
from api.deps import Runtime  # noqa: E402
from flows.jobs import Dispatcher  # noqa: E402
from kipthoi.settings import Settings  # noqa: E402
from kipthoi.wiring import build_rate_limits  # noqa: E402
from models import Case, Database, crypto, open_database  # noqa: E402
from models.enums import AgencyKind  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from notifications.config import NotifyConfig  # noqa: E402
from states.identity.actors import SYSTEM  # noqa: E402
from states.kernel.clock import FrozenClock  # noqa: E402
from states.kernel.commune import CommunePolicy  # noqa: E402
from states.records import directory  # noqa: E402

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Vietnam


class CountingSms:
    """Stands in for Twilio: counts what would have been sent, and to whom."""

    name = "counting"

    def __init__(self) -> None:
        self.to: Counter[str] = Counter()

    def send(self, to: str, body: str, *, validity_seconds: int | None, status_callback: str | None) -> str:
        self.to[to] += 1
        return f"SM{sum(self.to.values()):032d}"


def fresh_db(url: str | None, folder: Path, schema: str) -> Database:
    if url is None:
        db = open_database(f"sqlite:///{folder / f'{schema}.db'}")
    else:  # a schema of its own, dropped afterwards
        pg_admin(url, f'CREATE SCHEMA "{schema}"')
        db = open_database(with_search_path(url, schema))
    upgrade(db.writer)
    clock = FrozenClock(T0)
    with db.write() as s:
        directory.create_place(s, clock, SYSTEM, directory.PlaceIn(code="DONG-AN", name="Thôn Đông An"))
        for code, kind in (("VHXH", AgencyKind.CULTURE_SOCIAL), ("CA", AgencyKind.POLICE),
                           ("UBND", AgencyKind.LEADERSHIP), ("TYT", AgencyKind.HEALTH_STATION)):
            directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(
                code=code, name_vi=f"Cơ quan {code}", name_en=f"Agency {code}", kind=kind))
        for n, (agency, position) in enumerate((("VHXH", "case_worker"), ("VHXH", "head"),
                                                ("UBND", "chair"), ("CA", "agency_contact"))):
            directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
                full_name=f"Cán bộ Thử {n}", agency_code=agency, title="Cán bộ",
                phone=f"+8490000{n:04d}", position=position))
    return db


def report(n: int) -> dict[str, object]:
    return {"channel": "online", "place_code": "DONG-AN", "abuse_forms": ["violence"],
            "narrative": f"Trẻ bị đánh nhiều lần (dữ liệu giả lập) {n}.",
            "child": {"full_name": f"Trẻ Thử Số {n}", "estimated_age": 9}}


def burst(db: Database, workers: int, reports: int) -> tuple[int, int, int, int, int]:
    settings = Settings()
    clock = FrozenClock(T0)
    policy = CommunePolicy(code_prefix="NH", match_secret=b"bench", notify=NotifyConfig())
    runtime = Runtime(db=db, clock=clock, policy=policy, rate_limits=build_rate_limits(settings))
    clients = [TestClient(create_app(runtime), client=("203.0.113.7", 50000)) for _ in range(workers)]
    answers = Counter(clients[n % workers].post("/reports", json=report(n)).status_code for n in range(reports))
    sms = CountingSms()
    Dispatcher(db=db, clock=clock, policy=policy, sms=sms).run()
    with db.read() as s:
        cases = s.execute(select(func.count()).select_from(Case)).scalar_one()
    return answers[201], answers[429], cases, sum(sms.to.values()), max(sms.to.values(), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--db", help="a PostgreSQL URL (the run uses schemas of its own); default SQLite")
    args = parser.parse_args()
    crypto.configure(crypto.Keyring({"bench": hashlib.sha256(b"bench data key").digest()}, "bench"))
    print(f"{args.reports} anonymous online reports from one address, production limits and SMS settings")
    print(f"{'workers':>7} {'accepted':>8} {'refused':>7} {'cases':>5} {'SMS sent':>8} {'max per phone':>13}")
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2, 4):
            schema = f"bench_sms_burst_{os.getpid()}_{workers}"
            db = fresh_db(args.db, Path(folder), schema)
            try:
                accepted, refused, cases, sent, most = burst(db, workers, args.reports)
            finally:
                db.dispose()
                if args.db:
                    pg_admin(args.db, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            print(f"{workers:>7} {accepted:>8} {refused:>7} {cases:>5} {sent:>8} {most:>13}")


if __name__ == "__main__":
    main()

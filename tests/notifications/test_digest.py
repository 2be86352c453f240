"""Officials' phones do not ring in bulk: anonymous online reports are told in one digest per
official per interval, no phone gets more than the ceiling of non-urgent SMS an hour (the rest
wait for the digest), and emergencies and overdue alerts ring regardless. Sent through the real
`twilio` client to the fake Twilio server on the wire."""

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from flows.jobs import Dispatcher
from kipthoi.settings import Settings
from models import Database, Official, OutboxMessage
from models.enums import Role
from notifications.digest import run_digests
from notifications.outbox import enqueue_sms
from states.identity.actors import PUBLIC
from states.intake import opening as intake
from states.intake.report_data import CitizenReport, StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report
from tests.fakes.twilio_server import FakeTwilio, provider_for


def dispatcher(db: Database, clock: FrozenClock, policy: CommunePolicy, fake: FakeTwilio) -> Dispatcher:
    return Dispatcher(db=db, clock=clock, policy=policy, sms=provider_for(fake))


def sent(fake: FakeTwilio) -> Counter[str]:
    return Counter(r.form["To"] for r in fake.requests)


def bodies(fake: FakeTwilio) -> list[str]:
    return [r.form["Body"] for r in fake.requests]


def anonymous_report(n: int) -> CitizenReport:
    return CitizenReport.model_validate({
        "channel": "online", "place_code": "DONG-AN", "abuse_forms": ["violence"],
        "narrative": f"Trẻ bị đánh (dữ liệu giả lập) {n}.",
        # A name the flood makes up: it does not make the report less anonymous.
        "reporter": {"full_name": "Người Gửi Thử"},
        "child": {"full_name": f"Trẻ Thử Số {n}", "estimated_age": 9}})


def submit(db: Database, clock: FrozenClock, policy: CommunePolicy, *reports: CitizenReport | StaffReport,
           actor: object = PUBLIC) -> None:
    for report in reports:
        with db.write() as s:
            intake.submit_report(s, clock, actor, policy, report)  # type: ignore[arg-type]


def statuses(db: Database) -> Counter[str]:
    with db.read() as s:
        return Counter(s.execute(select(col(OutboxMessage.status))
                                 .where(col(OutboxMessage.channel) == "sms")).scalars())


def test_a_burst_of_anonymous_reports_rings_each_official_once(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    submit(db, clock, policy, *[anonymous_report(n) for n in range(30)])
    assert statuses(db)["pending"] == 0  # nothing to send one by one
    dispatcher(db, clock, policy, fake).run()
    per_phone = sent(fake)
    assert per_phone and max(per_phone.values()) == 1, per_phone
    head = commune.officials[Role.HEAD]
    assert bodies(fake).count("[kipthoi] 30 báo cáo trực tuyến mới. Đăng nhập kipthoi để xem.") == len(per_phone)
    for body in bodies(fake):
        assert "Trẻ" not in body and "NH-" not in body  # no child, not even a case code
    assert statuses(db)["pending"] == 0 and statuses(db)["held"] == 0
    with db.read() as s:  # the head's held rows are closed by their digest
        assert set(s.execute(select(col(OutboxMessage.status)).where(
            col(OutboxMessage.official_id) == head, col(OutboxMessage.kind) != "digest")).scalars()) == {"digested"}


def test_a_digest_goes_at_most_once_per_interval_and_in_the_officials_language(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    with db.write() as s:
        s.execute(update(Official).where(col(Official.id) == commune.officials[Role.HEAD]).values(language="en"))
    run = dispatcher(db, clock, policy, fake).run
    submit(db, clock, policy, anonymous_report(0))
    run()
    first = sum(sent(fake).values())
    assert first >= 2  # a quiet commune hears of a lone report at once
    assert "[kipthoi] 1 new online reports. Log in to kipthoi to read them." in bodies(fake)
    clock.advance(timedelta(minutes=10))
    submit(db, clock, policy, *[anonymous_report(n) for n in range(1, 6)])
    run()
    clock.advance(timedelta(minutes=19))
    run()
    assert sum(sent(fake).values()) == first  # still inside the interval: nothing more
    clock.advance(timedelta(minutes=1))
    run()
    assert sum(sent(fake).values()) == 2 * first
    assert "[kipthoi] 5 báo cáo trực tuyến mới. Đăng nhập kipthoi để xem." in bodies(fake)[first:]
    assert max(sent(fake).values()) == 2


def test_the_ceiling_holds_ordinary_messages_but_never_urgent_ones(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    policy = replace(policy, notify=replace(policy.notify, sms_per_official_per_hour=3))
    worker = commune.officials[Role.CASE_WORKER]
    with db.write() as s:
        official = s.get_one(Official, worker)
        for n in range(5):
            enqueue_sms(s, policy.notify, dedupe_key=f"r{n}", official=official, template="reminder",
                        now=clock.now(), code=f"NH-2026-00000{n}", what="Đánh giá", due="17:00", link="x")
        for n in range(2):  # an overdue alert, an emergency: the law's clock is running
            enqueue_sms(s, policy.notify, dedupe_key=f"u{n}", official=official, template="overdue",
                        now=clock.now(), urgent=True, code=f"NH-2026-00001{n}", what="Đánh giá",
                        due="17:00", link="x")
    assert statuses(db) == {"pending": 5, "held": 2}
    run = dispatcher(db, clock, policy, fake).run
    run()
    assert sent(fake)[official.phone] == 3 + 2 + 1  # three, the two urgent ones, one digest
    assert "[kipthoi] 2 tin nhắn khác chưa gửi. Đăng nhập kipthoi để xem." in bodies(fake)
    clock.advance(timedelta(minutes=59))  # the hour still counts what was sent: held again
    with db.write() as s:
        enqueue_sms(s, policy.notify, dedupe_key="r9", official=s.get_one(Official, worker),
                    template="reminder", now=clock.now(), code="NH-2026-000009", what="Đánh giá",
                    due="17:00", link="x")
    assert statuses(db)["held"] == 1
    clock.advance(timedelta(minutes=2))  # an hour on: the ceiling has room again
    with db.write() as s:
        enqueue_sms(s, policy.notify, dedupe_key="r10", official=s.get_one(Official, worker),
                    template="reminder", now=clock.now(), code="NH-2026-000010", what="Đánh giá",
                    due="17:00", link="x")
    assert statuses(db)["held"] == 1 and statuses(db)["pending"] == 1


def test_signed_in_staff_reports_ring_at_once_up_to_the_ceiling(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    policy = replace(policy, notify=replace(policy.notify, sms_per_official_per_hour=4))
    operator = commune.actors[Role.INTAKE_OPERATOR]
    reports = [StaffReport.model_validate(staff_report(child={"full_name": f"Trẻ Thử {n}", "estimated_age": 7}))
               for n in range(6)]
    submit(db, clock, policy, *reports, actor=operator)
    dispatcher(db, clock, policy, fake).run()
    per_phone = sent(fake)
    assert per_phone and max(per_phone.values()) == 4 + 1, per_phone  # the ceiling, then a digest
    assert any(b.startswith("[kipthoi] 2 tin nhắn khác") for b in bodies(fake))


def test_two_dispatchers_at_once_send_one_digest(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    submit(db, clock, policy, *[anonymous_report(n) for n in range(3)])
    barrier = threading.Barrier(4)
    made: list[int] = []

    def digest() -> None:
        barrier.wait()
        made.append(run_digests(db, clock.now(), policy.notify))

    threads = [threading.Thread(target=digest) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as s:
        digests = Counter(s.execute(select(col(OutboxMessage.official_id))
                                    .where(col(OutboxMessage.kind) == "digest")).scalars())
    assert digests and set(digests.values()) == {1}, digests
    assert sum(made) == len(digests)


def test_the_ceiling_and_the_interval_are_settings() -> None:
    secret = {"secret": "s" * 40}
    settings = Settings.model_validate({"security": secret, "sms": {"per_official_per_hour": 3, "digest_minutes": 5}})
    notify = settings.commune_policy().notify
    assert (notify.sms_per_official_per_hour, notify.digest_interval) == (3, timedelta(minutes=5))
    defaults = Settings.model_validate({"security": secret}).commune_policy().notify
    assert (defaults.sms_per_official_per_hour, defaults.digest_interval) == (10, timedelta(minutes=30))

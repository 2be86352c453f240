"""Sending the outbox through the real `twilio` client, against a fake Twilio REST server on the
wire, and status webhooks to a local 111 endpoint: retries with backoff, permanent failures,
dead letters, expiry, leases, and two dispatchers at once."""

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select

from flows.jobs import Dispatcher
from models import AuditEvent, Database, Official, OutboxMessage
from models.enums import Language, Position, RiskLevel, Role
from notifications.dispatch import RetryPolicy, claim, dispatch_once
from notifications.outbox import enqueue_sms
from notifications.providers import TwilioConfig, TwilioProvider, WebhookSender
from states.identity.actors import SYSTEM
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.commands import AssessData, EmergencyActionData
from states.records import directory
from tests.conftest import Commune, hotline_report
from tests.fakes.twilio_server import FakeTwilio
from tests.payloads import FACTORS

SENDER = "+15005550006"
CALLBACK = "https://kipthoi.example/webhooks/twilio/status"
FAST = RetryPolicy(max_attempts=3, base=timedelta(seconds=30), cap=timedelta(minutes=5),
                   lease=timedelta(minutes=2))


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio(timeout_sleep=2.0).start()
    yield server
    server.stop()


def provider(fake: FakeTwilio, token: str | None = None, timeout: float = 10.0) -> TwilioProvider:
    return TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=token or fake.auth_token,
                                       from_number=SENDER, base_url=fake.base_url, timeout_seconds=timeout))


def dispatcher(db: Database, clock: FrozenClock, policy: CommunePolicy, fake: FakeTwilio,
               retry: RetryPolicy = FAST, **kw: Any) -> Dispatcher:
    kw.setdefault("sms", provider(fake))
    return Dispatcher(db=db, clock=clock, policy=policy, retry=retry, status_callback=CALLBACK, **kw)


def enqueue(db: Database, clock: FrozenClock, policy: CommunePolicy, official_id: int, key: str,
            expires_at: datetime | None = None) -> int:
    with db.write() as s:
        official = s.get(Official, official_id)
        assert official is not None
        assert enqueue_sms(s, policy.notify, dedupe_key=key, official=official, template="new_report",
                           now=clock.now(), expires_at=expires_at, code=f"NH-2026-{key}",
                           due="17:00 02/03", link="https://kipthoi.example/c/x")
        row_id = s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).scalar_one()
        assert row_id is not None
        return row_id


def rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        out = list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return out


def row(db: Database, row_id: int) -> OutboxMessage:
    return next(r for r in rows(db) if r.id == row_id)


def audit_events(db: Database, action: str) -> list[dict[str, Any]]:
    with db.read() as s:
        return [json.loads(a) for a in s.execute(
            select(AuditEvent.after).where(AuditEvent.action == action).order_by(AuditEvent.seq)).scalars()]


def test_a_message_is_sent_with_twilio_parameters(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                  commune: Commune, fake: FakeTwilio) -> None:
    worker = commune.officials[Role.CASE_WORKER]
    msg = enqueue(db, clock, policy, worker, "one")
    clock.advance(timedelta(hours=1))  # the validity left shrinks while a message waits
    report = dispatcher(db, clock, policy, fake).run()
    assert (report.claimed, report.sent) == (1, 1)
    [req] = fake.requests
    sent = row(db, msg)
    assert req.account_sid == fake.account_sid
    assert req.form == {"To": sent.recipient, "From": SENDER, "Body": sent.body,
                        "ValidityPeriod": str(3 * 3600), "StatusCallback": CALLBACK}
    assert sent.recipient == "+84900000001"
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at == clock.now()
    assert sent.provider_id and sent.provider_id.startswith("SM") and len(sent.provider_id) == 34
    assert dispatcher(db, clock, policy, fake).run().claimed == 0
    assert len(fake.requests) == 1
    enqueue(db, clock, policy, worker, "long", expires_at=clock.now() + timedelta(hours=20))
    dispatcher(db, clock, policy, fake).run()
    assert fake.requests[-1].form["ValidityPeriod"] == "36000"  # Twilio's maximum: 10 hours


@pytest.mark.parametrize("answer", ["500", "429", "30003", "timeout"])
def test_transient_errors_are_retried_after_backoff(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                    commune: Commune, fake: FakeTwilio, answer: str) -> None:
    msg = enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], "t")
    fake.script([answer, answer])
    # A client timeout well under the fake's stall (2 s), well over an ordinary answer.
    d = dispatcher(db, clock, policy, fake, sms=provider(fake, timeout=0.6))
    for attempt, ceiling in ((1, FAST.base), (2, FAST.base * 2)):  # full jitter in [ceiling/2, ceiling]
        report = d.run()
        assert report.retried == 1 and report.sent == 0
        pending = row(db, msg)
        assert (pending.status, pending.attempts) == ("pending", attempt)
        assert pending.last_error == {"timeout": "ReadTimeout", "30003": "twilio 30003"}.get(
            answer, f"twilio 20{answer}")  # Twilio's own code for an HTTP error: 20500, 20429...
        wait = pending.next_attempt_at - clock.now()
        assert ceiling / 2 <= wait <= ceiling
        clock.advance(wait - timedelta(seconds=1))
        assert d.run().claimed == 0  # not before next_attempt_at
        assert len(fake.requests) == attempt
        clock.advance(timedelta(seconds=1))
    assert d.run().sent == 1
    assert len(fake.requests) == 3 and row(db, msg).status == "sent"
    assert len({r.form["Body"] for r in fake.requests}) == 1


@pytest.mark.parametrize("answer", ["21211", "21614"])
def test_permanent_error_fails_at_once_and_tells_the_head(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio,
        answer: str) -> None:
    worker = commune.officials[Role.CASE_WORKER]
    msg = enqueue(db, clock, policy, worker, "p")
    fake.script([answer])
    d = dispatcher(db, clock, policy, fake)
    assert d.run().failed == 1
    failed = row(db, msg)
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, f"twilio {answer}")
    [alert] = [r for r in rows(db) if r.id != msg]
    assert alert.official_id == commune.officials[Role.HEAD] and alert.status == "pending"
    assert alert.body == f"[kipthoi] Không gửi được tin nhắn tới cán bộ số {worker} (twilio {answer}). " \
                         "Kiểm tra số điện thoại."
    assert audit_events(db, "notification.unreachable") == [
        {"who": worker, "reason": f"twilio {answer}", "recipients": [commune.officials[Role.HEAD]]}]
    assert d.run().sent == 1  # the head's SMS goes out; the failed one is never retried
    assert [r.form["To"] for r in fake.requests] == [failed.recipient, alert.recipient]
    clock.advance(timedelta(days=1))
    assert d.run().claimed == 0


def test_wrong_credentials_fail_permanently(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                            commune: Commune, fake: FakeTwilio) -> None:
    msg = enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], "cred")
    d = dispatcher(db, clock, policy, fake, sms=provider(fake, token="not-the-token"))
    assert d.run().failed == 1
    assert (row(db, msg).status, row(db, msg).last_error) == ("failed", "twilio 20003")
    [req] = fake.requests
    assert req.authorization == "Basic " + base64.b64encode(f"{fake.account_sid}:not-the-token".encode()).decode()


def _sysadmin(db: Database, clock: FrozenClock) -> int:
    with db.write() as s:
        official = directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
            full_name="Quản Trị Viên", agency_code="UBND", title="Quản trị", phone="+84900007777",
            position=Position.SYSADMIN, language=Language.EN))
        assert official.id is not None
        return official.id


@pytest.mark.parametrize("failure", ["permanent", "transient"])
def test_alerts_about_failed_alerts_do_not_cascade(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                   commune: Commune, fake: FakeTwilio, failure: str) -> None:
    """Every message fails (bad credentials, the head's own number invalid, Twilio down for
    hours): the head (or the administrator) is told once; the failure of *that* message raises
    no further message, or the outbox grows by one row per failure for ever."""
    _sysadmin(db, clock)
    enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], "c")
    if failure == "permanent":
        d = dispatcher(db, clock, policy, fake, sms=provider(fake, token="not-the-token"))
    else:
        fake.script(["500"] * 100)
        d = dispatcher(db, clock, policy, fake)
    for _ in range(4 * FAST.max_attempts):
        d.run()
        clock.advance(FAST.cap)
    final = rows(db)
    # Refused credentials are our configuration, not the official's phone: no SMS about it
    # (it would be refused too), one audit event for the administrator to find.
    assert len(final) == (1 if failure == "permanent" else 2)
    assert {r.status for r in final} == ({"failed"} if failure == "permanent" else {"dead"})
    assert len(fake.requests) == (1 if failure == "permanent" else 2 * FAST.max_attempts)
    action = "notification.provider_refused" if failure == "permanent" else "notification.dead_letter"
    assert len(audit_events(db, action)) == 1


def test_retries_exhausted_dead_letter_to_sysadmin(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                   commune: Commune, fake: FakeTwilio) -> None:
    admin = _sysadmin(db, clock)
    msg = enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], "d")
    fake.script(["500"] * FAST.max_attempts)
    d = dispatcher(db, clock, policy, fake)
    for _ in range(FAST.max_attempts - 1):
        assert d.run().retried == 1
        clock.advance(FAST.cap)
    assert d.run().dead == 1
    dead = row(db, msg)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", FAST.max_attempts, "twilio 20500")
    [letter] = [r for r in rows(db) if r.id != msg]
    assert letter.official_id == admin and letter.recipient == "+84900007777"
    assert letter.body == f"[kipthoi] Message #{msg} could not be sent after {FAST.max_attempts} attempts."
    assert audit_events(db, "notification.dead_letter") == [
        {"message": msg, "attempts": FAST.max_attempts, "recipients": [admin]}]
    assert d.run().sent == 1
    assert fake.requests[-1].form["To"] == "+84900007777"
    assert len(fake.requests) == FAST.max_attempts + 1


def test_an_expired_message_is_never_sent(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                          commune: Commune, fake: FakeTwilio) -> None:
    worker = commune.officials[Role.CASE_WORKER]
    retried = enqueue(db, clock, policy, worker, "retried", expires_at=clock.now() + timedelta(seconds=40))
    short = enqueue(db, clock, policy, worker, "short", expires_at=clock.now() + timedelta(minutes=10))
    fake.script(["503"])  # the first row fails once; its backoff ends after its expiry
    d = dispatcher(db, clock, policy, fake, retry=replace(FAST, base=timedelta(minutes=2)))
    d.run()
    assert [row(db, short).status, row(db, retried).status] == ["sent", "pending"]
    clock.advance(timedelta(minutes=2))
    report = d.run()
    assert report.expired == 1 and report.sent == 0
    assert (row(db, retried).status, row(db, retried).provider_id) == ("expired", None)
    assert len(fake.requests) == 2
    gone = enqueue(db, clock, policy, worker, "gone", expires_at=clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))
    assert d.run().expired == 1
    assert row(db, gone).status == "expired" and len(fake.requests) == 2


def test_a_row_whose_lease_ran_out_is_claimed_again(db: Database, clock: FrozenClock,
                                                    policy: CommunePolicy, commune: Commune,
                                                    fake: FakeTwilio) -> None:
    msg = enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], "lease")
    [lost] = claim(db, clock.now(), 10, FAST)  # a dispatcher claims the row, then dies
    assert lost.id == msg and row(db, msg).status == "sending"
    d = dispatcher(db, clock, policy, fake)
    clock.advance(FAST.lease - timedelta(seconds=1))
    assert d.run().claimed == 0 and fake.requests == []
    clock.advance(timedelta(seconds=1))
    assert d.run().sent == 1
    assert (row(db, msg).status, row(db, msg).attempts) == ("sent", 2)
    assert len(fake.requests) == 1


def test_two_dispatchers_at_once_send_each_message_exactly_once(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    batch = 3
    officials = list(commune.officials.values())
    ids = [enqueue(db, clock, policy, officials[i % len(officials)], f"m{i:02d}") for i in range(40)]
    barrier = threading.Barrier(2, timeout=30)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        d = Dispatcher(db=db, clock=clock, policy=policy, sms=provider(fake), retry=FAST, batch=batch)
        barrier.wait()
        try:
            results[i] = d.run(max_rounds=1000)
        except BaseException as exc:  # noqa: BLE001 - checked below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(r.sent for r in results) == 40 and sum(r.claimed for r in results) == 40
    bodies = [r.form["Body"] for r in fake.requests]
    assert len(bodies) == 40 and len(set(bodies)) == 40
    assert {r.status for r in rows(db)} == {"sent"} and {r.attempts for r in rows(db)} == {1}
    assert sorted(r.id for r in rows(db)) == sorted(ids)


@dataclass
class Hotline:
    """The 111 hotline's status endpoint: answers from a script, records what it received."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/status"

    def start(self) -> "Hotline":
        hotline = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hotline.received.append((dict(self.headers), body))
                self.send_response(hotline.answers.pop(0) if hotline.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self


@pytest.fixture
def hotline() -> Iterator[Hotline]:
    server = Hotline().start()
    yield server
    assert server.server is not None
    server.server.shutdown()
    server.server.server_close()


def _hotline_case(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> str:
    report = TypeAdapter(AnyReport).validate_python(hotline_report("111-2026-0777"))
    with db.write() as s:
        return intake.submit_report(s, clock, commune.actors[Role.HOTLINE], policy,
                                    report).response["case_code"]


def _webhooks(db: Database) -> list[OutboxMessage]:
    return [r for r in rows(db) if r.channel == "webhook"]


def test_hotline_status_webhook_delivered_and_retried_on_5xx(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio,
        hotline: Hotline) -> None:
    policy = replace(policy, notify=replace(policy.notify, hotline_status_url=hotline.url))
    opened_at = clock.now()
    code = _hotline_case(db, clock, policy, commune)
    hotline.answers = [503]
    d = dispatcher(db, clock, policy, fake, webhook=WebhookSender(timeout_seconds=2, token="hotline-key"))
    report = d.run()
    assert report.retried == 1 and len(hotline.received) == 1
    [hook] = _webhooks(db)
    assert (hook.status, hook.last_error) == ("pending", "http 503")
    clock.advance(hook.next_attempt_at - clock.now())
    assert d.run().sent == 1
    assert row(db, hook.id or 0).status == "sent" and len(hotline.received) == 2
    headers, body = hotline.received[-1]
    assert headers["Authorization"] == "Bearer hotline-key"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload == {"hotline_ref": "111-2026-0777", "case_code": code, "state": "received",
                       "event": "case.opened", "at": opened_at.isoformat()}
    text = body.decode()
    for secret in ("Nguyễn Văn Thử", "Nguyen Van Thu", "2016-05-01", "DONG-AN", "Đông An", "đánh"):
        assert secret not in text and json.dumps(secret)[1:-1] not in text

    worker = commune.actors[Role.CASE_WORKER]
    with db.write() as s:  # a state change sends another status; a step that keeps the state does not
        workflow.advance(s, clock, worker, code, "assess", AssessData.model_validate(
            {"risk_level": RiskLevel.LOW, "factors": FACTORS["low"], "emergency": False}),
                         expected_version=1, policy=policy)
    with db.write() as s:
        workflow.advance(s, clock, worker, code, "record_emergency", EmergencyActionData(
            action_taken="Đưa trẻ tới nhà văn hoá thôn", who_was_called="Công an xã", done_at=clock.now()),
            expected_version=2, policy=policy)
    assert d.run().sent == 1
    assert [json.loads(b)["state"] for _, b in hotline.received] == ["received", "received", "assessed"]
    assert len(_webhooks(db)) == 2


def test_hotline_status_webhook_4xx_fails_without_retry(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio,
        hotline: Hotline) -> None:
    policy = replace(policy, notify=replace(policy.notify, hotline_status_url=hotline.url))
    _hotline_case(db, clock, policy, commune)
    hotline.answers = [400]
    d = dispatcher(db, clock, policy, fake)
    sms_rows = len([r for r in rows(db) if r.channel == "sms"])
    assert d.run().failed == 1
    [hook] = _webhooks(db)
    assert (hook.status, hook.last_error) == ("failed", "http 400")
    clock.advance(timedelta(hours=1))
    d.run()
    assert len(hotline.received) == 1
    assert len([r for r in rows(db) if r.channel == "sms"]) == sms_rows  # no one to tell by SMS
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("notification.%"))).scalar_one() == 0  # type: ignore[attr-defined]


def test_a_dispatcher_hands_back_what_it_cannot_send_within_its_lease(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    """Past the lease another dispatcher may claim the same rows: sending them then would send
    them twice, so a slow dispatcher stops and hands the rest back instead."""
    for n in range(3):
        enqueue(db, clock, policy, commune.officials[Role.CASE_WORKER], f"lease-{n}")
    slow = (FAST.lease - FAST.send_budget) / 2  # the first send fits in the lease, the second would not

    def ticking() -> datetime:  # each reading of the clock costs `slow`: sends are slow
        now = clock.now()
        clock.advance(slow)
        return now

    report = dispatch_once(db, ticking, provider(fake), policy.notify, retry=FAST, batch=10)
    assert (report.claimed, report.sent) == (3, 1)
    assert sorted(r.status for r in rows(db)) == ["pending", "pending", "sent"]
    assert {r.attempts for r in rows(db) if r.status == "pending"} == {0}
    assert len(fake.requests) == 1

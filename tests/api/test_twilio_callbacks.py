"""Twilio's delivery status callbacks over HTTP, signed as Twilio signs them
(`RequestValidator(token).compute_signature(url, params)`): refused unless the signature is
right and a token is configured; deduplicated; only ever forward; a number that cannot receive
tells the head. Escalation never waits for a receipt."""

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from api.app import create_app
from api.deps import Runtime
from flows.jobs import Dispatcher, run_sweep
from models import Alert, AuditEvent, Database, DeliveryReceipt, Official, OutboxMessage
from models.enums import Role
from notifications.outbox import enqueue_sms
from notifications.providers import ConsoleProvider
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report

TOKEN = "callback-test-auth-token"
PATH = "/webhooks/twilio/status"


def make_client(db: Database, clock: FrozenClock, policy: CommunePolicy, token: str | None) -> TestClient:
    return TestClient(create_app(Runtime(db=db, clock=clock, policy=policy, twilio_auth_token=token)),
                      raise_server_exceptions=False)


@pytest.fixture
def twilio_client(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Iterator[TestClient]:
    with make_client(db, clock, policy, TOKEN) as c:
        yield c


def url(policy: CommunePolicy) -> str:
    return policy.notify.public_url + PATH


def params(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    out = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
           "AccountSid": "AC" + "0" * 32, "From": "+15005550006", "To": "+84900000001",
           "ApiVersion": "2010-04-01"}
    if error is not None:
        out["ErrorCode"] = error
    return out


def post(client: TestClient, policy: CommunePolicy, form: dict[str, str], *, token: str = TOKEN,
         signed_url: str | None = None, signed_form: dict[str, str] | None = None) -> Any:
    signature = RequestValidator(token).compute_signature(signed_url or url(policy), signed_form or form)
    return client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})


def sent_message(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> OutboxMessage:
    """A real report, its messages sent: the worker's new-report SMS and its provider id."""
    report = TypeAdapter(AnyReport).validate_python(staff_report())
    with db.write() as s:
        intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy, report)
    Dispatcher(db=db, clock=clock, policy=policy, sms=ConsoleProvider()).run()
    msg = outbox(db, OutboxMessage.official_id == commune.officials[Role.CASE_WORKER])[0]
    assert msg.status == "sent" and msg.provider_id and msg.delivery_status is None
    return msg


def outbox(db: Database, *where: Any) -> list[OutboxMessage]:
    with db.read() as s:
        rows = list(s.execute(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return rows


def delivery(db: Database, msg: OutboxMessage) -> str | None:
    return outbox(db, OutboxMessage.id == msg.id)[0].delivery_status


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def unreachable_events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as s:
        return [(actor, json.loads(after)) for actor, after in s.execute(
            select(AuditEvent.actor, AuditEvent.after)
            .where(AuditEvent.action == "notification.unreachable").order_by(AuditEvent.seq))]


def test_good_signature_updates_delivery_status(twilio_client: TestClient, db: Database, clock: FrozenClock,
                                                policy: CommunePolicy, commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    r = post(twilio_client, policy, params(msg.provider_id or "", "sent"))
    assert r.status_code == 204 and r.content == b""
    assert delivery(db, msg) == "sent"
    r = post(twilio_client, policy, params(msg.provider_id or "", "delivered"))
    assert r.status_code == 204
    assert delivery(db, msg) == "delivered"
    assert count(db, DeliveryReceipt, DeliveryReceipt.provider_id == msg.provider_id) == 2


def test_forged_or_unsigned_callbacks_are_refused(twilio_client: TestClient, db: Database,
                                                 clock: FrozenClock, policy: CommunePolicy,
                                                 commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    sid = msg.provider_id or ""
    form = params(sid, "failed", "30005")
    attempts = {
        "someone else's token": post(twilio_client, policy, form, token="someone-elses-token"),
        "another URL": post(twilio_client, policy, form, signed_url="http://testserver" + PATH),
        "signed as delivered, sent as failed": post(twilio_client, policy, form,
                                                    signed_form=params(sid, "delivered")),
        "garbage": twilio_client.post(PATH, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}),
        "empty header": twilio_client.post(PATH, data=form, headers={"X-Twilio-Signature": ""}),
        "no header": twilio_client.post(PATH, data=form),
    }
    for name, r in attempts.items():
        assert r.status_code == 403 and r.json()["code"] == "bad_signature", name
    assert delivery(db, msg) is None
    assert count(db, DeliveryReceipt) == 0 and unreachable_events(db) == []
    assert post(twilio_client, policy, form).status_code == 204  # the same callback, signed right


def test_no_token_configured_refuses_even_a_valid_signature(db: Database, clock: FrozenClock,
                                                            policy: CommunePolicy, commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    form = params(msg.provider_id or "", "delivered")
    for token in (None, ""):
        with make_client(db, clock, policy, token) as client:
            for signer in (TOKEN, ""):
                r = post(client, policy, form, token=signer)
                assert r.status_code == 403, (token, signer)
    assert delivery(db, msg) is None and count(db, DeliveryReceipt) == 0


def test_duplicate_callback_changes_nothing(twilio_client: TestClient, db: Database, clock: FrozenClock,
                                            policy: CommunePolicy, commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    form = params(msg.provider_id or "", "failed", "30005")
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        assert post(twilio_client, policy, form).status_code == 204
    assert delivery(db, msg) == "failed"
    assert count(db, DeliveryReceipt) == 1
    assert len(unreachable_events(db)) == 1  # one alert, one audit event, not three
    assert len(outbox(db, OutboxMessage.dedupe_key.like("unreachable-cb:%"))) == 1  # type: ignore[attr-defined]


def test_status_never_moves_backwards(twilio_client: TestClient, db: Database, clock: FrozenClock,
                                      policy: CommunePolicy, commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    sid = msg.provider_id or ""
    for status in ("delivered", "sent", "queued", "sending"):  # callbacks arrive out of order
        assert post(twilio_client, policy, params(sid, status)).status_code == 204
        assert delivery(db, msg) == "delivered"
    assert count(db, DeliveryReceipt) == 4


def test_failed_with_unreachable_number_alerts_the_head(twilio_client: TestClient, db: Database,
                                                        clock: FrozenClock, policy: CommunePolicy,
                                                        commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    worker, head = commune.officials[Role.CASE_WORKER], commune.officials[Role.HEAD]
    assert post(twilio_client, policy, params(msg.provider_id or "", "failed", "30005")).status_code == 204
    assert delivery(db, msg) == "failed"
    [alert] = outbox(db, OutboxMessage.dedupe_key.like("unreachable-cb:%"))  # type: ignore[attr-defined]
    assert (alert.official_id, alert.status, alert.case_id) == (head, "pending", None)
    assert alert.body == f"[kipthoi] Không gửi được tin nhắn tới cán bộ số {worker} (30005). " \
                        "Kiểm tra số điện thoại."
    assert unreachable_events(db) == [("system:twilio-callback",
                                       {"official": worker, "error_code": "30005", "recipients": [head]})]

    # The head's alert goes out; if the head's own number cannot receive either, nothing more is raised.
    Dispatcher(db=db, clock=clock, policy=policy, sms=ConsoleProvider()).run()
    sent = outbox(db, OutboxMessage.id == alert.id)[0]
    assert sent.status == "sent" and sent.provider_id
    assert post(twilio_client, policy, params(sent.provider_id, "undelivered", "30005")).status_code == 204
    assert delivery(db, sent) == "undelivered"
    assert len(unreachable_events(db)) == 1
    assert len(outbox(db, OutboxMessage.dedupe_key.like("unreachable-cb:%"))) == 1  # type: ignore[attr-defined]


def test_which_failures_alert_the_head(twilio_client: TestClient, db: Database, clock: FrozenClock,
                                       policy: CommunePolicy, commune: Commune) -> None:
    cases = [("undelivered", "30006", True),  # landline or unreachable carrier: permanent
             ("failed", "21610", True),  # unsubscribed recipient
             ("undelivered", "30003", False),  # handset off: transient, nobody is told
             ("failed", "30008", False),  # unknown error: transient
             ("failed", None, False),
             ("delivered", "30005", False)]  # an error code on a delivered message is no failure
    worker = commune.officials[Role.CASE_WORKER]
    with db.write() as s:
        official = s.get(Official, worker)
        assert official is not None
        for i in range(len(cases)):
            enqueue_sms(s, policy.notify, dedupe_key=f"test:{i}", official=official, template="reminder",
                        now=clock.now(), code=f"NH-2026-00000{i}", what="x", due="09:00 03/03", link="l")
    Dispatcher(db=db, clock=clock, policy=policy, sms=ConsoleProvider()).run()
    messages = outbox(db, OutboxMessage.dedupe_key.like("test:%"))  # type: ignore[attr-defined]
    alerted = 0
    for msg, (status, error, alerts) in zip(messages, cases, strict=True):
        assert post(twilio_client, policy, params(msg.provider_id or "", status, error)).status_code == 204
        assert delivery(db, msg) == status
        alerted += alerts
        assert len(unreachable_events(db)) == alerted, (status, error)
        assert len(outbox(db, OutboxMessage.dedupe_key.like("unreachable-cb:%"))) == alerted  # type: ignore[attr-defined]


def test_unknown_sid_and_missing_fields(twilio_client: TestClient, db: Database, clock: FrozenClock,
                                        policy: CommunePolicy, commune: Commune) -> None:
    msg = sent_message(db, clock, policy, commune)
    assert post(twilio_client, policy, params("SM" + "f" * 32, "failed", "30005")).status_code == 204
    assert unreachable_events(db) == [] and delivery(db, msg) is None
    form = params(msg.provider_id or "", "delivered")
    del form["MessageSid"]
    r = post(twilio_client, policy, form)
    assert r.status_code == 422 and r.json()["field"] == "MessageSid"
    assert delivery(db, msg) is None


def test_escalation_does_not_depend_on_receipts(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                commune: Commune) -> None:
    """No callback ever arrives (Vietnamese networks often send no delivery receipt): the
    initial assessment's ladder still climbs worker -> head -> chair on time."""
    sent_message(db, clock, policy, commune)
    dispatcher = Dispatcher(db=db, clock=clock, policy=policy, sms=ConsoleProvider())
    ladder: list[tuple[float, str, str]] = []
    start = clock.now()
    for _ in range(20):  # T0+1h .. T0+20h, hour by hour; the limit is T0+11h (received T0-1h)
        clock.advance(timedelta(hours=1))
        run_sweep(db, clock, policy)
        dispatcher.run()
        with db.read() as s:
            for kind, level, raised in s.execute(select(Alert.kind, Alert.level, Alert.raised_at)
                                                 .order_by(Alert.stage)):
                hours = (raised - start) / timedelta(hours=1)
                if (hours, kind, level) not in ladder:
                    ladder.append((hours, kind, level))
    assert ladder == [(5, "reminder", "worker"), (10, "reminder", "worker"), (11, "overdue", "worker"),
                      (13, "escalation", "head"), (15, "escalation", "chair"),
                      (17, "escalation", "province")]
    alerts = outbox(db, OutboxMessage.dedupe_key.like("alert:%"))  # type: ignore[attr-defined]
    assert {a.official_id for a in alerts} == {commune.officials[r] for r in (Role.CASE_WORKER, Role.HEAD,
                                                                             Role.CHAIR)}
    assert {(a.status, a.delivery_status) for a in alerts} == {("sent", None)}
    assert count(db, DeliveryReceipt) == 0

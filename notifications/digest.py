"""Held messages, told to each official in one SMS at most once per interval.

Anyone can file an online report, and every report used to ring the worker's and the head's
phones (80 reports in 1.7 s sent 120 SMS). Messages caused by anonymous online reports, and
non-urgent messages past an official's hourly ceiling, are therefore stored `held`
(notifications/outbox.py); here each official who has some gets one digest — "3 báo cáo trực
tuyến mới; 2 tin nhắn khác chưa gửi. Đăng nhập kipthoi để xem." — and the held rows become
`digested`. Counts only: no case code, nothing about a child. The first digest of a quiet
period goes out at once (the next dispatch run), so a lone genuine report is not kept waiting;
only a flood waits for the interval.

It runs at the start of every dispatch run (`flows.jobs.Dispatcher.run`), which the embedded
scheduler and the Prefect flow both call, so a digest leaves in the run that made it.

"Once per interval" is a row of `rate_bucket` (`digest:<official id>`, `updated_at` the last
digest's time) claimed by one conditional upsert: two dispatchers at once send one digest
(PostgreSQL holds the row's lock until the claiming transaction ends, and the other's `WHERE`
then sees the new time; SQLite has one writer)."""

import logging
from datetime import datetime

from sqlalchemy import String, bindparam, select, text, update
from sqlmodel import Session, col

from models import Database, Official, OutboxMessage
from models.types import UTCDateTime
from notifications.config import NotifyConfig
from notifications.outbox import DIGEST, HELD_ONLINE, enqueue_sms
from notifications.templates import digest_summary

log = logging.getLogger(__name__)

_CLAIM = text(
    "INSERT INTO rate_bucket (key, tokens, updated_at) VALUES (:key, 0.0, :now) "
    "ON CONFLICT (key) DO UPDATE SET updated_at = :now WHERE rate_bucket.updated_at <= :cutoff "
    "RETURNING key"
).bindparams(bindparam("key", type_=String()), bindparam("now", type_=UTCDateTime()),
             bindparam("cutoff", type_=UTCDateTime()))


def run_digests(db: Database, now: datetime, config: NotifyConfig) -> int:
    """One transaction per official, so one that fails holds back nobody else's digest; and
    never raises, so that a failure here never holds back sending what is urgent."""
    try:
        with db.read() as session:
            officials = list(session.execute(
                select(col(OutboxMessage.official_id)).distinct()
                .where(col(OutboxMessage.status) == "held", col(OutboxMessage.official_id).is_not(None))).scalars())
    except Exception:
        log.exception("held messages could not be read; digests are retried next run")
        return 0
    sent = 0
    for official_id in officials:
        try:
            with db.write() as session:
                sent += digest_for(session, config, official_id, now)
        except Exception:  # the next dispatch run tries again; sending must go on
            log.exception("digest for official %d failed; it is retried next run", official_id)
    if sent:
        log.info("digest: %d sent", sent)
    return sent


def digest_for(session: Session, config: NotifyConfig, official_id: int, now: datetime) -> int:
    """Enqueue this official's digest if the interval allows and something is held; 1 if so."""
    claimed = session.execute(_CLAIM, {"key": f"digest:{official_id}", "now": now,
                                       "cutoff": now - config.digest_interval}).first()
    if claimed is None:
        return 0
    held = session.execute(
        select(col(OutboxMessage.id), col(OutboxMessage.case_id), col(OutboxMessage.payload))
        .where(col(OutboxMessage.official_id) == official_id, col(OutboxMessage.status) == "held")).all()
    if not held:
        session.rollback()  # nothing to tell: the interval is not spent
        return 0
    last = max(row[0] for row in held)
    reports = len({row[1] for row in held if (row[2] or {}).get("held") == HELD_ONLINE})
    others = sum(1 for row in held if (row[2] or {}).get("held") != HELD_ONLINE)
    official = session.get(Official, official_id)
    written = 0
    if official is not None and official.active:
        written = int(enqueue_sms(session, config, dedupe_key=f"digest:{official_id}:{last}", official=official,
                                  template=DIGEST, now=now,
                                  what=digest_summary(official.language, reports=reports, others=others)))
    # An official no longer active hears nothing; their held rows are closed all the same.
    session.execute(update(OutboxMessage)
                    .where(col(OutboxMessage.official_id) == official_id, col(OutboxMessage.status) == "held",
                           col(OutboxMessage.id) <= last)
                    .values(status="digested"))
    return written

"""Key rotation and key status for the encrypted columns and the blind indexes.

`rotate` brings every stored value under the active data key: values under an older key are
decrypted and encrypted again, plaintext left from before encryption is encrypted. In the same
pass it recomputes every blind index not made with the current index key (the key id prefix of
the stored index says which key made it), so changing `KIPTHOI_CRYPTO__INDEX_KEY` needs nothing
more than a rotate. It works in batches, each its own transaction; a row is rewritten only if it
still holds what was read, so it is safe alongside the running service, safe to interrupt and to
run again (a second run finds nothing to do). Each run leaves one audit event with its counts.

Until a rotation has finished, searches and report matching miss the rows whose index is still
under the old index key (a missed match opens a second case, which the matching rule already
prefers to a false one).

The encrypted columns are found from the table definitions (their column type), so a column
that becomes encrypted later is rotated without a change here.
"""

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Table, Text, and_, literal, not_, or_, select, type_coerce, update
from sqlmodel import Session, SQLModel, col

from models import Child, Database, Place, Reporter
from models.blobs import BlobStore, DatabaseStore
from models.crypto import PREFIX, Encrypted, Keyring, key_id_of
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity.actors import Actor
from states.intake.matching import blind_index, child_keys, index_key_id, phone_index
from states.kernel.clock import Clock
from states.records import evidence

log = logging.getLogger(__name__)

PLAINTEXT = "plaintext"
STALE_INDEX = "stale index"
EVIDENCE = "evidence files"  # the attachments' sealed bytes (states/records/evidence.py)
_CHILD: Table = Child.__table__  # type: ignore[attr-defined]
_REPORTER: Table = Reporter.__table__  # type: ignore[attr-defined]


def encrypted_columns() -> dict[Table, list[Column[Any]]]:
    out: dict[Table, list[Column[Any]]] = {}
    for table in SQLModel.metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, Encrypted)]
        if cols:
            out[table] = cols
    return out


def _type(column: Column[Any]) -> Encrypted[Any]:
    return cast(Encrypted[Any], column.type)


def _raw(column: Column[Any]) -> Any:
    """The stored text, bypassing the column type's decryption."""
    return type_coerce(column, Text)


def _index_stale(table: Table, index_id: str) -> Any:
    """Rows whose blind index is missing or made with another index key."""
    if table is _CHILD:
        source, index = _CHILD.c.full_name, _CHILD.c.name_index
    elif table is _REPORTER:
        source, index = _REPORTER.c.phone, _REPORTER.c.phone_index
    else:
        return None
    return and_(_raw(source).is_not(None),
                or_(index.is_(None), not_(index.startswith(f"{index_id}.", autoescape=True))))


@dataclass
class RotationReport:
    active_key_id: str
    index_key_id: str
    reencrypted: Counter[str] = field(default_factory=Counter)  # values moved off older keys
    from_plaintext: Counter[str] = field(default_factory=Counter)  # plaintext now encrypted
    reindexed: Counter[str] = field(default_factory=Counter)  # rows whose indexes were redone
    skipped: int = 0  # rows changed by someone else meanwhile (already under the active key)
    complete: bool = False

    def as_event(self) -> dict[str, Any]:
        return {"active_key_id": self.active_key_id, "index_key_id": self.index_key_id,
                "reencrypted": dict(self.reencrypted), "from_plaintext": dict(self.from_plaintext),
                "reindexed": dict(self.reindexed), "skipped": self.skipped, "complete": self.complete}


def rotate(db: Database, clock: Clock, actor: Actor, keyring: Keyring, index_key: bytes,
           batch: int = 500, evidence_store: BlobStore | None = None) -> RotationReport:
    """Re-encrypt under the active key and recompute stale blind indexes; see the module. The
    evidence attachments' bytes are sealed again too, in `evidence_store` (default: the
    database's)."""
    authorize(actor, "keys.rotate")
    report = RotationReport(keyring.active_key_id, index_key_id(index_key))
    try:
        resealed = evidence.reseal_all(db, keyring, evidence_store or DatabaseStore())
        if resealed:
            report.reencrypted[EVIDENCE] = resealed
        for table, cols in encrypted_columns().items():
            _rotate_table(db, table, cols, keyring, index_key, batch, report)
            name = table.name
            if report.reencrypted[name] or report.from_plaintext[name] or report.reindexed[name]:
                # One line per table done: counts only, no value and no key.
                log.info("key rotation: %s re-encrypted %d, from plaintext %d, reindexed %d (active key %s)",
                         name, report.reencrypted[name], report.from_plaintext[name], report.reindexed[name],
                         report.active_key_id)
        report.complete = True
    finally:
        with db.write() as session:
            audit.record(session, at=clock.now(), actor=actor, action="keys.rotated", case_id=None,
                         after=report.as_event())
        log.info("key rotation %s: active key %s, index key %s, %d rows changed meanwhile",
                 "complete" if report.complete else "stopped", report.active_key_id, report.index_key_id,
                 report.skipped)
    return report


def _rotate_table(db: Database, table: Table, cols: list[Column[Any]], keyring: Keyring,
                  index_key: bytes, batch: int, report: RotationReport) -> None:
    active = f"{PREFIX}{keyring.active_key_id}."
    needs = [and_(_raw(c).is_not(None), not_(_raw(c).startswith(active, autoescape=True))) for c in cols]
    stale = _index_stale(table, report.index_key_id)
    if stale is not None:
        needs.append(stale)
    pk = table.c.id
    extra: list[Any] = []
    query = select(pk, *(_raw(c).label(c.name) for c in cols))
    if table is _CHILD:
        place = Place.__table__  # type: ignore[attr-defined]
        query = query.add_columns(col(Place.code).label("place_code")).select_from(
            table.outerjoin(place, place.c.id == _CHILD.c.place_id))
        extra = [_CHILD.c.name_index]
    elif table is _REPORTER:
        extra = [_REPORTER.c.phone_index]
    query = query.add_columns(*extra).where(or_(*needs))
    last = 0
    while True:
        with db.write() as session:
            rows = session.execute(query.where(pk > last).order_by(pk).limit(batch)).mappings().all()
            if not rows:
                return
            for row in rows:
                _rotate_row(session, table, cols, row, keyring, index_key, report)
            last = rows[-1]["id"]


def _plain(keyring: Keyring, column: Column[Any], stored: str) -> bytes:
    if key_id_of(stored) is None:
        return stored.encode()
    plain = keyring.decrypt(stored, _type(column).context)
    assert plain is not None
    return plain


def _rotate_row(session: Session, table: Table, cols: list[Column[Any]], row: Any,
                keyring: Keyring, index_key: bytes, report: RotationReport) -> None:
    values: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    moved: list[tuple[Counter[str], str]] = []
    for c in cols:
        stored = row[c.name]
        if stored is None:
            plain[c.name] = None
            continue
        text = _plain(keyring, c, stored)
        plain[c.name] = _type(c).decode(text.decode())
        kid = key_id_of(stored)
        if kid != keyring.active_key_id:
            values[c.name] = literal(keyring.encrypt(text, _type(c).context), Text)
            moved.append((report.from_plaintext if kid is None else report.reencrypted, table.name))
    index_id = report.index_key_id
    if table is _CHILD and plain["full_name"] and not (row["name_index"] or "").startswith(f"{index_id}."):
        keys = child_keys(index_key, plain["full_name"], plain["birth_date"], row["place_code"] or "")
        assert keys is not None
        values.update(name_index=keys.by_name, birth_key=keys.by_birth, place_key=keys.by_place)
    elif table is _REPORTER and plain["phone"] and not (row["phone_index"] or "").startswith(f"{index_id}."):
        phone = plain["phone"]
        values["phone_index"] = phone_index(index_key, phone) or blind_index(index_key, f"phone|{phone.strip()}")
    if not values:
        return
    unchanged = [(_raw(c) == literal(row[c.name], Text)) if row[c.name] is not None else _raw(c).is_(None)
                 for c in cols]
    done = session.execute(update(table).where(table.c.id == row["id"], *unchanged).values(values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        report.skipped += 1
        return
    for counter, name in moved:
        counter[name] += 1
    if any(k in values for k in ("name_index", "phone_index")):
        report.reindexed[table.name] += 1


def _pages(session: Session, table: Table, cols: list[Any], size: int = 2000) -> Iterator[Any]:
    last = 0
    while True:
        rows = session.execute(select(table.c.id, *cols).where(table.c.id > last)
                               .order_by(table.c.id).limit(size)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def status(session: Session, actor: Actor, index_key: bytes) -> dict[str, Counter[str]]:
    """Per table: how many stored values are under each key id (or still plaintext), and how
    many rows have a blind index not made with the current index key."""
    authorize(actor, "keys.status")
    index_id = index_key_id(index_key)
    out: dict[str, Counter[str]] = {}
    for table, cols in encrypted_columns().items():
        counts: Counter[str] = Counter()
        stale = _index_stale(table, index_id)
        flag = [stale.label("stale")] if stale is not None else []
        for row in _pages(session, table, [*(_raw(c) for c in cols), *flag]):
            values = row[1:1 + len(cols)]
            for stored in values:
                if stored is not None:
                    counts[key_id_of(stored) or PLAINTEXT] += 1
            if flag and row[-1]:
                counts[STALE_INDEX] += 1
        out[table.name] = counts
    sealed = evidence.sealed_keys(session)
    if sealed:
        out[EVIDENCE] = sealed
    return out


__all__ = ["PLAINTEXT", "STALE_INDEX", "RotationReport", "encrypted_columns", "rotate", "status"]

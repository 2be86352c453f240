"""Latency of the desk's busiest pages (a case worker's and the head's home page, the worklist)
as the commune's history grows.

For each size N in --cases this builds a SQLite file in a temp dir with the real migrations,
then seeds it with bulk Core inserts (`session.execute(insert(Table), rows)`, no use case, no
ORM unit of work; encrypted columns go through the models' column types under a throwaway
keyring):

- 5 places, 5 agencies, 5 officials (two case workers, the head, the chair, a police contact)
  and an account for each person (a cheap argon2 hash, as tests/web/conftest.py uses);
- N cases, each with its child, one report, 1-2 abuse forms, spread over the last 3 years.
  Cases of the last 60 days are mostly open (received, assessed, intervened, supported);
  older ones are nearly all closed (about 93% of the cases in all);
- deadline rows as the engine leaves them after each step (states/deadlines/policy.toml):
  `initial_assessment` open (received) or met; `plan_submission`, `plan_approval`,
  `periodic_review` open, met or cancelled as the case went on; `emergency_protection` and the
  chair's `emergency_decision` met for emergencies; overdue open limits carry their raised
  alert stage, half acknowledged;
- the Nghị định 56 records of the cases that got that far: the four risk factors of each
  assessment and review (the case's level derived from them), the chair's emergency decision,
  the detailed assessment and its meeting (Mẫu 03) before each plan, plans (submitted or
  approved, with numbered decisions) with 1-3 measures, consent before the services, services
  that each carry out a measure, and reviews (the last one proposing closure on some supported
  cases);
- assignees: the benchmarked case worker holds --mine cases (default 300; a few open), the
  other case worker and the head the rest; most received cases and some early-closed ones
  are unassigned (a case worker sees their own and the unassigned ones).

SQLite gets no ANALYZE (the service never runs it). Then the real app (`api.app.create_app` +
`web.install`) is served by uvicorn in a thread of this process on a free 127.0.0.1 port; one
httpx client per person logs in through the login form (CSRF token from the page, cookie
session) and, one request at a time, after --warmup requests per page, times --requests GETs
of each page (wall time, request sent to body read):

  worker /                        the case worker's home page
  worker /desk/cases              the worker's worklist, page 1 (25 cases)
  worker /desk/cases?page=40      page 40
  worker /desk/cases?state=received
  head /                          the head's home page
  head /desk/cases/{code}         one supported case's page: its full record (reports, ratings,
                                  Mẫu 03, plan measures, services, reviews, consent, deadlines,
                                  timeline), each read on the access log
  head /desk/cases/{code}/print   the same case's whole file as its printable forms

(before each page it waits up to --quiet-wait seconds for the rest of the host to calm down)
and prints, per size and page: p50, p95 and max in ms (nearest rank) and the page's HTML size
in KB. --explain also prints, for each page, the SQL statements one request runs on the
database, each timed alone (best of 3) with SQLite's EXPLAIN QUERY PLAN.

    .venv/bin/python bench/desk.py                            # 10 000 and 100 000 cases
    .venv/bin/python bench/desk.py --cases 10000 --requests 50 --explain
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _shared import HOST
from _shared import free_port as _free_port
from intake import _host_cpu, wait_quiet
from sqlalchemy import event, insert, text

import models  # noqa: F401  (all tables registered)
from models import (
    Agency,
    Case,
    CaseAbuseForm,
    CaseCounter,
    Child,
    Consent,
    Database,
    Deadline,
    DetailedAssessment,
    EmergencyDecision,
    Official,
    Place,
    Plan,
    PlanMeasure,
    Report,
    Review,
    RiskRating,
    Service,
    User,
    crypto,
    open_database,
)
from models.enums import (
    AbuseForm,
    CaseState,
    ClosureReason,
    DeadlineStatus,
    MeasureKind,
    PlanStatus,
    RatingSource,
    ReviewOutcome,
    RiskLevel,
    Role,
)
from states.kernel.clock import LOCAL_TZ
from states.lifecycle.effects import DECISION_PREFIX

PASSWORD = "bàn-làm-việc-đo-tải-2026"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CHUNK = 20_000
SPAN_DAYS = 3 * 365
RECENT_DAYS = 60
PLACES = [("DONG-AN", "Thôn Đông An"), ("TAY-BINH", "Thôn Tây Bình"), ("NAM-HOA", "Thôn Nam Hoà"),
          ("BAC-SON", "Xóm Bắc Sơn"), ("TRUNG-THANH", "Xóm Trung Thành")]
AGENCIES = [("VHXH", "culture_social"), ("UBND", "leadership"), ("CA", "police"), ("TYT", "health_station"),
            ("SYT", "province_health")]
# (username, name, agency, position, role): the first is the benchmarked case worker.
PEOPLE = [("canbo1", "Lê Thị Mẫu", "VHXH", "case_worker", Role.CASE_WORKER),
          ("canbo2", "Trần Văn Đo", "VHXH", "case_worker", Role.CASE_WORKER),
          ("truongphong", "Phạm Văn Thử", "VHXH", "head", Role.HEAD),
          ("chutich", "Đỗ Minh Giả", "UBND", "chair", Role.CHAIR),
          ("congan", "Vũ Hữu Ví", "CA", "agency_contact", Role.AGENCY_OFFICIAL)]
FORMS = [f.value for f in AbuseForm]
LEVELS = [level.value for level in (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)]  # in order
KINDS = [k.value for k in MeasureKind]
# State weights of recent cases and of older ones.
RECENT = {"received": 15, "assessed": 20, "intervened": 15, "supported": 20, "closed": 30}
OLDER = {"supported": 2, "intervened": 1, "closed": 97}


# --------------------------------------------------------------------------- seeding


@dataclass
class Rows:
    """What one chunk of cases puts in each table."""

    child: list[dict[str, Any]] = field(default_factory=list)
    case: list[dict[str, Any]] = field(default_factory=list)
    form: list[dict[str, Any]] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    deadline: list[dict[str, Any]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    measure: list[dict[str, Any]] = field(default_factory=list)
    service: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    rating: list[dict[str, Any]] = field(default_factory=list)
    detail: list[dict[str, Any]] = field(default_factory=list)
    decision: list[dict[str, Any]] = field(default_factory=list)
    consent: list[dict[str, Any]] = field(default_factory=list)

    def write(self, db: Database) -> None:
        with db.write() as s:
            for table, rows in ((Child, self.child), (Case, self.case), (CaseAbuseForm, self.form),
                                (Report, self.report), (Deadline, self.deadline), (Plan, self.plan),
                                (PlanMeasure, self.measure), (Service, self.service), (Review, self.review),
                                (RiskRating, self.rating), (DetailedAssessment, self.detail),
                                (EmergencyDecision, self.decision), (Consent, self.consent)):
                if rows:
                    s.execute(insert(table), rows)


def _blind(rng: random.Random) -> str:
    return "i1." + hashlib.sha256(rng.randbytes(16)).hexdigest()


class Seeder:
    def __init__(self, n: int, mine: int, now: datetime, seed: int) -> None:
        self.n, self.now, self.rng = n, now, random.Random(seed)
        self.mine_target = mine
        self.deadline_id = self.plan_id = self.review_id = self.service_id = self.measure_id = 0
        self.rating_id = self.detail_id = self.decision_id = self.consent_id = 0
        self.decisions: dict[int, int] = {}  # Mẫu 05 decisions numbered per year
        self.counts: dict[str, int] = {}
        self.mine_open = self.mine_total = self.unassigned_open = 0

    # the directory and the accounts ----------------------------------------------------------

    def people(self, db: Database) -> dict[str, int]:
        from states.identity.passwords import HashCost, Passwords

        cheap = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
        officials: dict[str, int] = {}
        with db.write() as s:
            s.execute(insert(Place), [{"id": i + 1, "code": c, "name": n} for i, (c, n) in enumerate(PLACES)])
            s.execute(insert(Agency), [{"id": i + 1, "code": c, "name_vi": f"Cơ quan {c}",
                                        "name_en": f"Agency {c}", "kind": k} for i, (c, k) in enumerate(AGENCIES)])
            agency_ids = {c: i + 1 for i, (c, _) in enumerate(AGENCIES)}
            for i, (username, name, agency, position, role) in enumerate(PEOPLE):
                s.execute(insert(Official).values(
                    id=i + 1, full_name=name, agency_id=agency_ids[agency], title="Cán bộ",
                    phone=f"+849000001{i:02d}", position=position))
                s.execute(insert(User).values(
                    id=i + 1, username=username, display_name=name, role=role.value, official_id=i + 1,
                    password_hash=cheap.hash(PASSWORD), password_changed_at=self.now))
                officials[username] = i + 1
        return officials

    # the cases -------------------------------------------------------------------------------

    def cases(self, db: Database, officials: dict[str, int]) -> None:
        worker, other, head = officials["canbo1"], officials["canbo2"], officials["truongphong"]
        # Assigned cases go to the benchmarked worker with the probability that gives about
        # `mine` of them; the rest to the other worker (2/3) and the head (1/3).
        p_mine = min(1.0, self.mine_target / max(1, 0.95 * self.n))
        years: dict[int, int] = {}
        rows = Rows()
        for i in range(self.n):
            age = timedelta(days=SPAN_DAYS) * (1 - (i + self.rng.random()) / self.n)
            received = self.now - age
            weights = RECENT if age.days < RECENT_DAYS else OLDER
            state = self.rng.choices(list(weights), list(weights.values()))[0]
            if state in ("intervened", "supported") and age.days < 12:
                state = "assessed"  # too young to have an approved plan
            if state == "received" and self.rng.random() < 0.6 or state == "closed" and self.rng.random() < 0.05:
                assignee = None
            elif self.rng.random() < p_mine:
                assignee = worker
            else:
                assignee = other if self.rng.random() < 2 / 3 else head
            self.counts[state] = self.counts.get(state, 0) + 1
            if assignee == worker:
                self.mine_total += 1
                self.mine_open += state != "closed"
            if assignee is None and state != "closed":
                self.unassigned_open += 1
            year = received.astimezone(UTC).year
            years[year] = years.get(year, 0) + 1
            self._case(rows, i + 1, f"NH-{year}-{years[year]:06d}", received, state, assignee)
            if len(rows.case) >= CHUNK:
                rows.write(db)
                rows = Rows()
        rows.write(db)
        with db.write() as s:
            s.execute(insert(CaseCounter), [{"prefix": "NH", "year": y, "last_number": k} for y, k in years.items()])
            if self.decisions:  # the next approval through the app takes the next number
                s.execute(insert(CaseCounter), [{"prefix": DECISION_PREFIX, "year": y, "last_number": k}
                                                for y, k in self.decisions.items()])

    def _deadline(self, rows: Rows, case_id: int, kind: str, start: datetime, limit: timedelta,
                  status: DeadlineStatus, closed: datetime | None = None, n_reminders: int = 2) -> None:
        self.deadline_id += 1
        due = start + limit
        row: dict[str, Any] = {"id": self.deadline_id, "case_id": case_id, "kind": kind, "status": status,
                               "opened_at": start, "starts_at": start, "due_at": due, "closed_at": None,
                               "stage": 0, "next_alert_at": None, "acknowledged_at": None,
                               "acknowledged_by": None}
        if status != DeadlineStatus.OPEN:
            row["closed_at"] = closed or min(due, self.now)
            row["stage"] = self.rng.randint(0, n_reminders)
        elif due <= self.now:  # overdue: the reminders and the overdue alert were raised
            row["stage"] = n_reminders + 1
            row["next_alert_at"] = self.now + timedelta(hours=self.rng.randint(1, 24))
            if self.rng.random() < 0.5:
                row["acknowledged_at"], row["acknowledged_by"] = due + timedelta(hours=1), "user:1"
        else:
            passed = (self.now - start) / limit
            row["stage"] = 0 if passed < 0.5 else 1
            row["next_alert_at"] = start + limit * (0.5 if passed < 0.5 else 0.9)
        rows.deadline.append(row)

    def _plan(self, rows: Rows, case_id: int, at: datetime, status: PlanStatus,
              decided: datetime | None = None) -> list[int]:
        """A plan with 1-3 measures (Mẫu 04); approved at `decided`, with its decision's number
        (Mẫu 05). The ids of its measures, by number."""
        self.plan_id += 1
        number = year = None
        if status == PlanStatus.APPROVED:
            decided = decided or at + timedelta(days=1)
            year = decided.astimezone(LOCAL_TZ).year
            number = self.decisions[year] = self.decisions.get(year, 0) + 1
        rows.plan.append({"id": self.plan_id, "case_id": case_id, "status": status,
                          "goals": f"Mục tiêu của kế hoạch {self.plan_id} (giả lập).", "measures": None,
                          "submitted_at": at, "submitted_by": "user:1",
                          "decided_at": decided if status == PlanStatus.APPROVED else None,
                          "decided_by": "user:4" if status == PlanStatus.APPROVED else None,
                          "decision_note": None, "decision_no": number, "decision_year": year})
        ids = []
        for n in range(1, self.rng.randint(1, 3) + 1):
            self.measure_id += 1
            ids.append(self.measure_id)
            by_agency = self.rng.random() < 0.6
            starts = at.astimezone(LOCAL_TZ).date() + timedelta(days=self.rng.randint(1, 7))
            rows.measure.append({"id": self.measure_id, "plan_id": self.plan_id, "case_id": case_id, "number": n,
                                 "kind": self.rng.choice(KINDS),
                                 "description": f"Biện pháp {n} của kế hoạch {self.plan_id} (giả lập).",
                                 "agency_id": self.rng.choice((3, 4)) if by_agency else None,
                                 "responsible": None if by_agency else "Công chức VH-XH (giả lập)",
                                 "starts_on": starts, "ends_on": starts + timedelta(days=self.rng.randint(30, 120))})
        return ids

    def _rate(self, rows: Rows, case_id: int, at: datetime, source: RatingSource,
              source_id: int | None = None) -> str:
        """The four factors as one record rated them; the level they give (the highest)."""
        factors = {name: self.rng.choice(LEVELS)
                   for name in ("severity", "abuser_access", "safety_obstacles", "self_protection")}
        level = max(factors.values(), key=LEVELS.index)
        self.rating_id += 1
        rows.rating.append({"id": self.rating_id, "case_id": case_id, "source": source, "source_id": source_id,
                            "rated_at": at, "rated_by": "user:1", **factors, "derived_level": level,
                            "stated_level": None})
        return level

    def _detail(self, rows: Rows, case_id: int, at: datetime) -> None:
        """Mẫu 03 and the minutes of its meeting, held two hours before it was recorded."""
        self.detail_id += 1
        rows.detail.append({"id": self.detail_id, "case_id": case_id, "recorded_at": at, "recorded_by": "user:1",
                            "information": f"Thông tin chi tiết về trẻ {case_id} (giả lập).",
                            "needs": "Trẻ cần được chăm sóc y tế và hỗ trợ tâm lý (giả lập).",
                            "meeting_at": at - timedelta(hours=2),
                            "attendees": "Công chức VH-XH, Trạm Y tế, Công an xã (giả lập)",
                            "agreed": "Thống nhất lập kế hoạch hỗ trợ (giả lập)."})

    def _consent(self, rows: Rows, case_id: int, at: datetime) -> None:
        self.consent_id += 1
        rows.consent.append({"id": self.consent_id, "case_id": case_id, "recorded_at": at, "recorded_by": "user:1",
                             "child_answer": "given", "carer_answer": "given",
                             "carer_name": "Người chăm sóc giả lập", "legal_ground": None, "note": None})

    def _case(self, rows: Rows, cid: int, code: str, received: datetime, state: str, assignee: int | None) -> None:
        rng, now = self.rng, self.now
        H, D = timedelta(hours=1), timedelta(days=1)
        place = rng.randint(1, len(PLACES))
        rows.child.append({"id": cid, "full_name": f"Trẻ Giả Lập {cid}", "birth_date": None,
                           "estimated_age": rng.randint(1, 17), "sex": rng.choice(("male", "female")),
                           "place_id": place, "birth_key": _blind(rng), "place_key": _blind(rng),
                           "name_index": _blind(rng)})
        forms = rng.sample(FORMS, 1 if rng.random() < 0.7 else 2)
        rows.form += [{"case_id": cid, "form": f} for f in forms]
        rows.report.append({"id": cid, "case_id": cid, "channel": rng.choice(("hotline_111", "phone", "online")),
                            "received_at": received, "recorded_at": received + timedelta(minutes=20),
                            "place_id": place, "place_detail": None,
                            "narrative": f"Nội dung báo cáo giả lập số {cid}: trẻ có dấu hiệu bị bạo lực.",
                            "abuse_forms": forms, "case_type": "abused", "child_condition": None,
                            "likely_consequence": None, "parents": {}, "family_circumstances": None,
                            "current_carer": None, "actions_taken": None, "receiving_officer": None,
                            "hotline_ref": f"111-B-{cid}", "school_agency_id": None, "reporter_id": None,
                            "tracking_code": f"TB{cid:010d}", "submitted_by": "user:9"})
        assessed = received + H * rng.uniform(1, 11)
        emergency = None if state == "received" else rng.random() < 0.1
        # How far the case went, and (closed) from where it was closed.
        path = state
        if state == "closed":
            young = now - received < timedelta(days=45)
            path = rng.choices(("received", "assessed", "supported"), (15, 25, 0 if young else 60))[0]
        version, updated = 1, received + timedelta(minutes=20)
        risk: str | None = None  # the case's level: from the latest rating of the four factors
        init = "initial_assessment"
        if path == "received":
            if state == "received":
                self._deadline(rows, cid, init, received, 12 * H, DeadlineStatus.OPEN)
            else:
                updated = received + D * rng.uniform(0.1, 2)
                self._deadline(rows, cid, init, received, 12 * H, DeadlineStatus.CANCELLED, updated)
                version += 1
        else:
            self._deadline(rows, cid, init, received, 12 * H, DeadlineStatus.MET, assessed)
            version, updated = version + 1, assessed
            risk = self._rate(rows, cid, assessed, RatingSource.INITIAL)
            if emergency:
                self._deadline(rows, cid, "emergency_protection", received, 12 * H, DeadlineStatus.MET,
                               assessed + H)
                decided = assessed + H * rng.uniform(0.2, 0.9)  # the chair, within the 12 hours mostly
                self._deadline(rows, cid, "emergency_decision", received, 12 * H, DeadlineStatus.MET, decided)
                self.decision_id += 1
                rows.decision.append({"id": self.decision_id, "case_id": cid, "decided_at": decided,
                                      "decided_by": "user:4", "recorded_at": decided,
                                      "measures": "Đưa trẻ đến nơi an toàn (giả lập).", "separation": False,
                                      "alternative_care": None})
                version += 2
        submitted = assessed + D * rng.uniform(1, 6)
        detailed = assessed + (submitted - assessed) * rng.uniform(0.3, 0.9)  # Mẫu 03, before the plan
        has_detail = path in ("intervened", "supported") or (
            path == "assessed" and state != "closed" and detailed < now and rng.random() < 0.6)
        if has_detail:
            self._detail(rows, cid, detailed)
            version, updated = version + 1, max(updated, detailed)
        if path == "assessed":
            if state == "closed":
                updated = assessed + D * rng.uniform(1, 5)
                self._deadline(rows, cid, "plan_submission", received, 7 * D, DeadlineStatus.CANCELLED, updated)
                version += 1
            elif submitted < now and has_detail and rng.random() < 0.6:  # drafted from the Mẫu 03, waiting
                self._deadline(rows, cid, "plan_submission", received, 7 * D, DeadlineStatus.MET, submitted)
                self._deadline(rows, cid, "plan_approval", submitted, 3 * D, DeadlineStatus.OPEN, n_reminders=1)
                self._plan(rows, cid, submitted, PlanStatus.SUBMITTED)
                version, updated = version + 1, submitted
            else:
                self._deadline(rows, cid, "plan_submission", received, 7 * D, DeadlineStatus.OPEN)
        if path in ("intervened", "supported"):
            approved = submitted + D * rng.uniform(0.5, 2)
            self._deadline(rows, cid, "plan_submission", received, 7 * D, DeadlineStatus.MET, submitted)
            self._deadline(rows, cid, "plan_approval", submitted, 3 * D, DeadlineStatus.MET, approved,
                           n_reminders=1)
            measures = self._plan(rows, cid, submitted, PlanStatus.APPROVED, approved)
            version, updated = version + 2, approved
            review_start = approved
            if path == "supported":
                started = min(approved + D * rng.uniform(1, 5), now)
                self._consent(rows, cid, started - H)  # a service refers the case: consent first
                version += 1
                for _ in range(rng.randint(1, 2)):
                    self.service_id += 1
                    rows.service.append({"id": self.service_id, "case_id": cid,
                                         "kind": rng.choice(("medical", "psychological", "education")),
                                         "agency_id": rng.choice((3, 4)), "started_on": started.date(),
                                         "ended_on": None, "note": "Dịch vụ hỗ trợ (giả lập).",
                                         "measure_id": rng.choice(measures)})
                    version += 1
                closing = state == "closed"
                k = rng.randint(1, 3) if closing else rng.randint(0, 3)
                last_close = closing or rng.random() < 0.2
                for r in range(k):
                    at = review_start + D * rng.uniform(20, 30)
                    if at >= now:
                        break
                    self._deadline(rows, cid, "periodic_review", review_start, 30 * D, DeadlineStatus.MET, at,
                                   n_reminders=1)
                    self.review_id += 1
                    outcome = ReviewOutcome.CLOSE if r == k - 1 and last_close else ReviewOutcome.CONTINUE
                    risk = self._rate(rows, cid, at, RatingSource.REVIEW, self.review_id)  # Mẫu 06
                    rows.review.append({"id": self.review_id, "case_id": cid, "reviewed_at": at,
                                        "findings": "Trẻ đã ổn định hơn (giả lập).",
                                        "risk_level": risk, "outcome": outcome, "reviewed_by": "user:1"})
                    version, updated, review_start = version + 1, at, at
            if state == "closed":
                updated = review_start + D * rng.uniform(1, 5)
                self._deadline(rows, cid, "periodic_review", review_start, 30 * D, DeadlineStatus.CANCELLED,
                               updated, n_reminders=1)
                version += 1
            else:
                self._deadline(rows, cid, "periodic_review", review_start, 30 * D, DeadlineStatus.OPEN,
                               n_reminders=1)
        updated = min(updated, now)
        closed = state == "closed"
        reason = (ClosureReason.NO_LONGER_AT_RISK if path == "supported" else ClosureReason.NOT_SUBSTANTIATED)
        rows.case.append({
            "id": cid, "code": code, "state": CaseState(state), "child_id": cid, "place_id": place,
            "case_type": "abused", "risk_level": risk,
            "emergency": emergency, "assignee_id": assignee, "received_at": received,
            "opened_at": received + timedelta(minutes=20), "updated_at": updated,
            "closed_at": updated if closed else None, "reopened_at": None,
            "closure_reason": reason.value if closed else None, "transferred_to": None, "previous_case_id": None,
            "flags": [], "version": version, "anonymised_at": None})


def build(folder: Path, n: int, mine: int, seed: int) -> tuple[Database, Seeder, float]:
    from models.migrate import upgrade

    t0 = time.perf_counter()
    db = open_database(f"sqlite:///{folder / 'desk.db'}")
    upgrade(db.writer)
    seeder = Seeder(n, mine, datetime.now(UTC).replace(microsecond=0), seed)
    officials = seeder.people(db)
    seeder.cases(db, officials)
    return db, seeder, time.perf_counter() - t0


# --------------------------------------------------------------------------- serving and measuring


class Served:
    """The real app (API + desk) under uvicorn, in a thread of this process."""

    def __init__(self, db: Database) -> None:
        import uvicorn

        from api.app import create_app
        from api.deps import Runtime
        from states.identity.login import AuthConfig
        from states.identity.passwords import HashCost, Passwords
        from states.kernel.clock import SystemClock
        from states.kernel.commune import CommunePolicy
        from web import install

        policy = CommunePolicy(code_prefix="NH", match_secret=b"bench-match-key")
        runtime = Runtime(db=db, clock=SystemClock(), policy=policy,
                          auth=AuthConfig(passwords=Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))))
        app = create_app(runtime)
        install(app)
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def log_in(url: str, username: str) -> Any:
    import httpx

    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    page = client.get("/login")
    found = CSRF.search(page.text)
    if found is None:
        raise RuntimeError(f"no CSRF token on the login page ({page.status_code})")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/",
                                    "csrf": found.group(1)})
    if r.status_code != 303:
        raise RuntimeError(f"login of {username} answered {r.status_code}: {r.text[:300]}")
    return client


@dataclass
class Cell:
    cases: int
    who: str
    path: str
    latencies: list[float] = field(default_factory=list)  # seconds
    cpu: list[float] = field(default_factory=list)  # seconds of this process's CPU per request
    host_busy: float = 0.0  # fraction of all cores busy during the cell (0..1)
    size: int = 0  # bytes of the last body
    errors: list[str] = field(default_factory=list)

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return float("nan")
        return xs[max(0, min(len(xs) - 1, math.ceil(p * len(xs)) - 1))] * 1000  # nearest rank


PAGES = [("worker", "/"), ("worker", "/desk/cases"), ("worker", "/desk/cases?page=40"),
         ("worker", "/desk/cases?state=received"), ("head", "/")]


def measure(client: Any, cell: Cell, warmup: int, requests: int) -> Cell:
    busy0, total0 = _host_cpu()
    for k in range(warmup + requests):
        c0, t0 = time.process_time(), time.perf_counter()
        r = client.get(cell.path)
        body = r.content
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        if r.status_code != 200:
            if len(cell.errors) < 3:
                cell.errors.append(f"{r.status_code}: {body[:300]!r}")
            continue
        cell.size = len(body)
        if k >= warmup:
            cell.latencies.append(dt)
            cell.cpu.append(cpu)
    busy1, total1 = _host_cpu()
    cell.host_busy = (busy1 - busy0) / max(1, total1 - total0)
    return cell


# --------------------------------------------------------------------------- --explain


@dataclass
class Traced:
    statements: list[str] = field(default_factory=list)
    on: bool = False


def trace_reader(db: Database) -> Traced:
    """SQLite's own trace on the read engine: every statement as run, its values in place."""
    traced = Traced()

    def trace(sql: str) -> None:
        if traced.on:
            traced.statements.append(sql)

    @event.listens_for(db.reader, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(trace)

    db.reader.dispose()  # connections made from now on are traced
    return traced


def explain(db: Database, traced: Traced, client: Any, who: str, path: str) -> None:
    traced.statements.clear()
    traced.on = True
    client.get(path)
    traced.on = False
    print(f"\n{who} GET {path}: {len(traced.statements)} statements on the read engine")
    with db.reader.connect() as conn:
        for sql in traced.statements:
            if sql.split(None, 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                continue
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                conn.exec_driver_sql(sql).fetchall()
                best = min(best, time.perf_counter() - t0)
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).fetchall()
            flat = " ".join(sql.split())
            print(f"  {1000 * best:7.2f} ms  {flat[:400]}{' …' if len(flat) > 400 else ''}")
            for row in plan:
                print(f"              {row[-1]}")


# --------------------------------------------------------------------------- main


def fmt_row(values: tuple[Any, ...]) -> str:
    widths = (8, 32, 8, 8, 8, 8, 8, 8, 8)
    return "  ".join(str(v).ljust(w) if i == 1 else str(v).rjust(w)
                     for i, (v, w) in enumerate(zip(values, widths, strict=True)))


def print_table(cells: list[Cell]) -> None:
    print()
    print(fmt_row(("cases", "page", "requests", "p50 ms", "p95 ms", "max ms", "cpu ms", "host", "HTML KB")))
    print(fmt_row(tuple("-" * w for w in (8, 32, 8, 8, 8, 8, 8, 8, 8))))
    for c in cells:
        print(fmt_row((c.cases, f"{c.who} {c.path}", len(c.latencies), f"{c.pct(0.5):.1f}", f"{c.pct(0.95):.1f}",
                       f"{max(c.latencies, default=float('nan')) * 1000:.1f}",
                       f"{1000 * statistics.median(c.cpu) if c.cpu else float('nan'):.1f}",
                       f"{100 * c.host_busy:.0f}%", f"{c.size / 1024:.1f}")))
    print("\nOne client, one request at a time; wall time from sending the request to reading the whole "
          "body (uvicorn and httpx in this process). Nearest-rank percentiles. cpu ms: median CPU time of this "
          "process per request (server and client: steadier than wall time on a shared machine). host: all cores' "
          f"busy share during the cell, this process included ({os.cpu_count()} cores = 100%).")
    for c in cells:
        for e in c.errors:
            print(f"  [{c.cases} {c.who} {c.path}] {e}")


def run_size(n: int, args: argparse.Namespace) -> list[Cell]:
    folder = Path(tempfile.mkdtemp(prefix=f"kipthoi-bench-desk-{n}-"))
    db: Database | None = None
    try:
        print(f"{n} cases: seeding {folder / 'desk.db'} ...", file=sys.stderr, flush=True)
        db, seeder, took = build(folder, n, args.mine, args.seed)
        with db.read() as s:
            deadlines = s.execute(text("SELECT status, count(*) FROM deadline GROUP BY status")).all()
        size_mb = (folder / "desk.db").stat().st_size / 2**20
        print(f"  seeded in {took:.1f} s ({size_mb:.0f} MB): states {dict(sorted(seeder.counts.items()))}; "
              f"deadlines {dict(deadlines)}; the worker's cases {seeder.mine_total} "
              f"({seeder.mine_open} open), open unassigned {seeder.unassigned_open}",
              file=sys.stderr, flush=True)
        traced = trace_reader(db) if args.explain else None
        cells = []
        with Served(db) as served:
            clients = {"worker": log_in(served.url, "canbo1"), "head": log_in(served.url, "truongphong")}
            with db.read() as s:
                rich = s.execute(text("SELECT code FROM case_file WHERE state = 'supported' ORDER BY id LIMIT 1")
                                 ).scalar_one()
            pages = [*PAGES, ("head", f"/desk/cases/{rich}"), ("head", f"/desk/cases/{rich}/print")]
            try:
                for who, path in pages:
                    if args.quiet_wait > 0:
                        wait_quiet(args.quiet_wait)
                    cell = measure(clients[who], Cell(n, who, path), args.warmup, args.requests)
                    cells.append(cell)
                    print(f"  ... {who} {path}: p50 {cell.pct(0.5):.1f} ms, p95 {cell.pct(0.95):.1f} ms, "
                          f"{cell.size / 1024:.1f} KB", file=sys.stderr, flush=True)
                if traced is not None:
                    for who, path in pages:
                        explain(db, traced, clients[who], who, path)
            finally:
                for c in clients.values():
                    c.close()
        return cells
    finally:
        if db is not None:
            db.dispose()
        if args.keep:
            print(f"  kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000],
                   help="database sizes, comma separated (default 10000,100000)")
    p.add_argument("--requests", type=int, default=100, help="timed requests per page (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed requests per page first (default 10)")
    p.add_argument("--mine", type=int, default=300, help="cases assigned to the benchmarked worker (default 300)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the data (default 1)")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each page, wait up to this many seconds for other jobs on the host to "
                        "quiet down (under 25%% of all cores), as bench/intake.py does; 0 to skip (default 30)")
    p.add_argument("--explain", action="store_true",
                   help="print each page's SQL statements, timed alone, with EXPLAIN QUERY PLAN")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (the SQLite file)")
    args = p.parse_args(argv)
    if args.requests <= 0 or args.warmup < 0 or any(n <= 0 for n in args.cases):
        p.error("--cases and --requests must be positive")
    logging.disable(logging.INFO)
    # A throwaway data key: the seeded values are encrypted as the service stores them.
    crypto.configure(crypto.Keyring({"bench1": secrets.token_bytes(32)}, "bench1"))
    cells: list[Cell] = []
    for n in args.cases:
        cells += run_size(n, args)
    print_table(cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`kipthoi demo`: a synthetic commune, so a new user sees a living system at once.

Every name, phone number and place here is invented. Reports are filed and moved through the
lifecycle by the same use-case functions the API calls, so the audit trail is real."""

import secrets
from datetime import date, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Database, Place, Report
from models.enums import (
    AgencyKind,
    ClosureReason,
    ConsentAnswer,
    LegalGround,
    MeasureKind,
    ReviewOutcome,
    RiskLevel,
    Role,
    ServiceKind,
)
from states.cases import referrals
from states.identity.accounts import KEY_PREFIX, UserIn, create_user
from states.identity.actors import PUBLIC, SYSTEM, Actor
from states.identity.passwords import Passwords
from states.intake import opening as intake
from states.intake.report_data import CitizenReport, HotlineReport, StaffReport
from states.kernel.clock import FrozenClock, SystemClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.commands import (
    AssessData,
    CloseData,
    ConsentData,
    DecisionData,
    DetailData,
    EmergencyActionData,
    EmergencyDecisionData,
    MeasureData,
    PlanData,
    ReviewData,
    RiskFactors,
    ServiceData,
)
from states.records import directory

PLACES = [("DONG-AN", "Thôn Đông An"), ("TAY-BINH", "Thôn Tây Bình"), ("NAM-HOA", "Thôn Nam Hoà"),
          ("BAC-SON", "Xóm Bắc Sơn"), ("TRUNG-THANH", "Xóm Trung Thành")]
AGENCIES = [
    ("VHXH", "Phòng Văn hoá - Xã hội", "Culture and Social Affairs Office", AgencyKind.CULTURE_SOCIAL),
    ("VP", "Văn phòng HĐND và UBND xã", "Office of the People's Council and Committee", AgencyKind.OFFICE),
    ("KT", "Phòng Kinh tế", "Economic Office", AgencyKind.ECONOMY),
    ("TYT", "Trạm Y tế xã", "Commune Health Station", AgencyKind.HEALTH_STATION),
    ("CA", "Công an xã", "Commune Police", AgencyKind.POLICE),
    ("THCS-DA", "Trường THCS Đông An", "Dong An Lower Secondary School", AgencyKind.SCHOOL),
    ("MTTQ", "Ủy ban MTTQ Việt Nam xã", "Commune Fatherland Front", AgencyKind.FRONT),
    ("UBND", "Lãnh đạo UBND xã", "Commune People's Committee leadership", AgencyKind.LEADERSHIP),
    ("SYT", "Sở Y tế tỉnh", "Provincial Department of Health", AgencyKind.PROVINCE_HEALTH),
]
OFFICIALS = [  # (name, agency, title, phone, position, role of their account)
    ("Lê Thị Mẫu", "VHXH", "Công chức Văn hoá - Xã hội", "+84900000101", "case_worker", Role.CASE_WORKER),
    ("Phạm Văn Thử", "VHXH", "Trưởng phòng Văn hoá - Xã hội", "+84900000102", "head", Role.HEAD),
    ("Đỗ Minh Giả", "UBND", "Chủ tịch UBND xã", "+84900000103", "chair", Role.CHAIR),
    ("Vũ Hữu Ví", "CA", "Trưởng Công an xã", "+84900000104", "agency_contact", Role.AGENCY_OFFICIAL),
    ("Hoàng Thu Dụ", "TYT", "Trạm trưởng Trạm Y tế", "+84900000105", "agency_contact", None),
    ("Ngô Thanh Mô", "THCS-DA", "Hiệu trưởng", "+84900000106", "agency_contact", None),
    ("Bùi Quang Phỏng", "SYT", "Chuyên viên Phòng Bảo trợ xã hội và Trẻ em", "+84900000107",
     "province_contact", None),
    ("Trịnh Văn Máy", "VP", "Quản trị hệ thống", "+84900000108", "sysadmin", None),
]
OTHER_ROLES = [("tiepnhan", "Cán bộ tiếp nhận (mẫu)", Role.INTAKE_OPERATOR),
               ("kiemtoan", "Kiểm toán viên (mẫu)", Role.AUDITOR),
               ("quantri", "Quản trị hệ thống (mẫu)", Role.ADMIN),
               ("tongdai111", "Tổng đài 111 (tích hợp)", Role.HOTLINE)]
CHILDREN = ["Nguyễn Văn Minh", "Trần Thị Lan", "Lê Hoàng Nam", "Phạm Thu Hà", "Vũ Đức Anh",
            "Đặng Ngọc Mai", "Bùi Gia Huy", "Đỗ Khánh Linh", "Hồ Tuấn Kiệt", "Ngô Bảo Châu",
            "Dương Minh Thư", "Lý Hải Đăng"]
FORMS = [["violence"], ["neglect"], ["sexual_abuse"], ["school_violence", "violence"], ["abandonment"],
         ["online_risk"], ["violence"], ["exploitation"], ["injury"], ["neglect", "violence"],
         ["drowning"], ["trafficking"]]
# How far along each demo case goes: 0 received … 5 closed after support, -1 closed early.
PROGRESS = [0, 0, 1, 1, 2, 3, 4, 5, -1, 0, 1, 3]


def _password(username: str) -> str:
    while True:  # 16 random characters; the policy refuses one that contains the username
        password = secrets.token_urlsafe(12)
        if username not in password.lower():
            return password


def seed(db: Database, policy: CommunePolicy, passwords: Passwords | None = None) -> str:
    with db.read() as session:
        if session.execute(select(Place)).first() is not None:
            return "kipthoi demo: the database already has data; nothing seeded."
    clock = SystemClock()
    logins: list[tuple[str, str, str]] = []  # (role, username, password or API key)
    actors: dict[Role, Actor] = {}

    def account(s: Session, username: str, display: str, role: Role, official_id: int | None = None) -> None:
        # People log in with a password; the hotline, a machine client, gets an API key.
        password = None if role == Role.HOTLINE else _password(username)
        user, key = create_user(s, clock, SYSTEM, UserIn(
            username=username, display_name=display, role=role, official_id=official_id,
            password=SecretStr(password) if password else None), passwords)
        logins.append((role.value, username, key or password or ""))
        actors[role] = Actor(ref=f"user:{user.id}", role=role, official_id=official_id)

    with db.write() as s:
        for code, name in PLACES:
            directory.create_place(s, clock, SYSTEM, directory.PlaceIn(code=code, name=name))
        for code, vi, en, kind in AGENCIES:
            directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(code=code, name_vi=vi, name_en=en, kind=kind))
        for i, (name, agency, title, phone, position, role) in enumerate(OFFICIALS):
            official = directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
                full_name=name, agency_code=agency, title=title, phone=phone, position=position))
            if role is not None:
                account(s, f"{role.value.replace('_', '')}{i}", name, role, official.id)
        for username, display, role in OTHER_ROLES:
            account(s, username, display, role)
    for i, child in enumerate(CHILDREN):
        _file_and_move(db, policy, actors, i, child)
    return _how_to_log_in(policy.notify.public_url, logins)


def _how_to_log_in(url: str, logins: list[tuple[str, str, str]]) -> str:
    people = [(r, u, p) for r, u, p in logins if not p.startswith(KEY_PREFIX)]
    machines = [(r, u, k) for r, u, k in logins if k.startswith(KEY_PREFIX)]
    lines = ["kipthoi demo: a synthetic commune is ready (all names and numbers are invented).",
             "Accounts that log in with a password (role, username, password; shown once):"]
    lines += [f"  {role:16} {username:16} {password}" for role, username, password in people]
    lines += [f"The desk (web pages): open {url}/ in a browser and log in with one of them.",
              f"Citizens report at {url}/bao-cao and look their code up at {url}/tra-cuu.",
              "The JSON API: log in (OAuth2 password flow), then send 'Authorization: Bearer <access_token>':"]
    lines += [f"  curl -s {url}/auth/token -d grant_type=password -d username={username} "
              f"--data-urlencode 'password={password}'" for _, username, password in people]
    lines += ["The 111 hotline's API key (send as 'Authorization: Bearer <key>'):"]
    lines += [f"  {role:16} {username:16} {key}" for role, username, key in machines]
    return "\n".join(lines)


def _file_and_move(db: Database, policy: CommunePolicy, actors: dict[Role, Actor], i: int, child: str) -> None:
    now = SystemClock().now()
    received = now - timedelta(days=40 - 3 * i, hours=i)
    clock = FrozenClock(received + timedelta(minutes=20))
    place = PLACES[i % len(PLACES)][0]
    common: dict[str, Any] = {
        "place_code": place, "narrative": f"Nội dung báo cáo mẫu số {i + 1} (dữ liệu giả lập).",
        "abuse_forms": FORMS[i], "child": {"full_name": child, "estimated_age": 6 + i % 10,
                                           "sex": "male" if i % 2 == 0 else "female"}}
    if i % 3 == 0:
        report: Any = HotlineReport(channel="hotline_111", hotline_ref=f"111-DEMO-{i + 1:04d}",
                                    received_at=received, **common)
        actor = actors[Role.HOTLINE]
    elif i % 3 == 1:
        report = StaffReport(channel="phone", received_at=received, **common)
        actor = actors[Role.INTAKE_OPERATOR]
    else:
        report = CitizenReport(channel="online", place_code=place, narrative=common["narrative"],
                               abuse_forms=FORMS[i], child=common["child"])
        actor = PUBLIC
    result = intake.receive_now(db, clock, actor, policy, report)
    with db.read() as s:
        code = s.execute(select(col(Case.code)).join(Report, col(Report.case_id) == col(Case.id)).where(
            col(Report.tracking_code) == result.response["tracking_code"])).scalar_one()
    crime = PROGRESS[i] >= 1 and bool(set(FORMS[i]) & {"violence", "sexual_abuse", "trafficking"})
    steps = _steps(PROGRESS[i], received, i, crime)
    worker, chair = actors[Role.CASE_WORKER], actors[Role.CHAIR]
    head = actors[Role.HEAD]
    version = 1
    with db.write() as s:
        version = workflow.assign(s, clock, head, code, worker.official_id or 0, version).version
    for trigger, data, who in steps:
        clock.advance(timedelta(hours=6))
        with db.write() as s:
            version = workflow.advance(s, clock, {"w": worker, "c": chair, "h": head}[who], code,
                                       trigger, data, version, policy).version
    if crime:
        # Crimes go to the police: the demo's police account then has cases to read.
        clock.advance(timedelta(hours=1))
        with db.write() as s:
            referrals.refer(s, clock, worker, code, "CA", policy)


def _factors(level: RiskLevel) -> RiskFactors:
    return RiskFactors(severity=level, abuser_access=level, safety_obstacles=RiskLevel.MEDIUM,
                       self_protection=level)


def _steps(progress: int, received: Any, i: int, crime: bool) -> list[tuple[str, Any, str]]:
    emergency = i % 4 == 2
    assess = AssessData(factors=_factors(RiskLevel.HIGH if emergency else RiskLevel.MEDIUM), emergency=emergency,
                        emergency_action=EmergencyActionData(
                            action_taken="Đưa trẻ đến Trạm Y tế sơ cứu; tách khỏi người gây hại.",
                            who_was_called="Công an xã; Trạm Y tế xã", done_at=received + timedelta(hours=3),
                            separated_from_carer=True) if emergency else None)
    steps: list[tuple[str, Any, str]] = []
    if progress == -1:
        # The head proposes closing without intervention; the chair decides (the default setting).
        unfounded = CloseData(reason=ClosureReason.NOT_SUBSTANTIATED, note="Xác minh không có cơ sở.")
        return [("propose_closure", unfounded, "h"), ("close", unfounded, "c")]
    if progress >= 1:
        steps.append(("assess", assess, "w"))
        if emergency:
            steps.append(("decide_emergency", EmergencyDecisionData(
                measures="Đưa trẻ đến Trạm Y tế; tạm thời cách ly trẻ khỏi người gây hại.",
                decided_at=received + timedelta(hours=2), separation=True,
                alternative_care="Nhà người thân (giả lập)"), "c"))
        if crime:  # the police are given the case under criminal procedure (Luật Trẻ em Art. 21)
            steps.append(("record_consent", ConsentData(legal_ground=LegalGround.CRIMINAL_PROCEDURE), "w"))
    if progress >= 2:
        start = received.date() + timedelta(days=3)
        steps.append(("detail_assess", DetailData(
            information="Đã gặp trẻ, gia đình và nhà trường; xác minh thông tin ban đầu.",
            needs="Trẻ cần hỗ trợ tâm lý và được theo dõi an toàn tại nhà.",
            meeting_at=received + timedelta(hours=10), attendees="Công chức VH-XH; Trạm Y tế xã; Công an xã",
            agreed="Thống nhất lập kế hoạch hỗ trợ tâm lý và thăm gia đình hằng tuần."), "w"))
        steps.append(("submit_plan", PlanData(goals="Bảo đảm an toàn cho trẻ.", measures=[
            MeasureData(kind=MeasureKind.MEDICAL_PSYCHOLOGICAL, description="Hỗ trợ tâm lý cho trẻ.",
                        agency_code="TYT", starts_on=start, ends_on=start + timedelta(days=60)),
            MeasureData(kind=MeasureKind.CARER_COUNSELLING, description="Tư vấn gia đình; thăm hằng tuần.",
                        responsible="Công chức Văn hoá - Xã hội", starts_on=start,
                        ends_on=start + timedelta(days=90))]), "w"))
    if progress >= 3:
        steps.append(("approve_plan", DecisionData(note="Đồng ý."), "c"))
    if progress >= 4:
        if not crime:
            steps.append(("record_consent", ConsentData(child_answer=ConsentAnswer.GIVEN,
                                                        carer_answer=ConsentAnswer.GIVEN,
                                                        carer_name="Người chăm sóc (giả lập)"), "w"))
        steps.append(("start_service", ServiceData(kind=ServiceKind.PSYCHOLOGICAL, agency_code="TYT",
                                                   started_on=date.today() - timedelta(days=5), measure_no=1), "w"))
    if progress >= 5:
        steps.append(("review", ReviewData(findings="Trẻ đã ổn định.", factors=_factors(RiskLevel.LOW),
                                           outcome=ReviewOutcome.CLOSE), "w"))
        steps.append(("close", CloseData(reason=ClosureReason.NO_LONGER_AT_RISK), "c"))
    return steps

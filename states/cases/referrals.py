"""Referring a case to an agency, and withdrawing the referral.

A referral is what lets an agency official read a case (states/access/scope.py): the police for an
investigation, the health station for treatment, a school for a child's schooling. Starting a
service with an agency refers the case to it. Withdrawing ends the agency's access at once but
keeps the row, so the record of who could see the case stays.
"""

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from models import Agency, Case, Consent, Referral
from models.enums import CaseState, ConsentAnswer, Event
from states.audit import chain as audit
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import InvalidInput, NotFound
from states.lifecycle import events
from states.lifecycle.case_rows import case_to_change


def active_referral(session: Session, case_id: int | None, agency_id: int | None) -> Referral | None:
    return session.execute(
        select(Referral).where(col(Referral.case_id) == case_id, col(Referral.agency_id) == agency_id,
                               col(Referral.withdrawn_at).is_(None))
    ).scalars().first()


def consent_in_force(session: Session, case: Case) -> Consent | None:
    """The latest consent record since the case was received or reopened."""
    return session.execute(
        select(Consent).where(col(Consent.case_id) == case.id,
                              col(Consent.recorded_at) >= case.current_since)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id).desc()).limit(1)
    ).scalars().first()


def require_consent(session: Session, case: Case, now: datetime) -> None:
    """A referral discloses the child's private data to an agency (Nghị định 56/2017 Art. 33),
    which needs the consent of the parent or carer and of a child of 7 or more (Luật Trẻ em
    Art. 6(11), 21), or a legal ground (the child's safety in an emergency, criminal procedure).
    Refused, with the reason, when the record in force gives neither."""
    # Imported here: the lifecycle's effects reach this module (starting a service refers).
    from states.lifecycle.workflow import child_under_7

    consent = consent_in_force(session, case)
    if consent is not None and consent.legal_ground:
        return
    if consent is None:
        raise InvalidInput("consent", "consent_or_legal_ground_required",
                           "Chưa ghi nhận sự đồng ý chia sẻ thông tin của trẻ và cha, mẹ, người chăm sóc, "
                           "hoặc căn cứ pháp lý để chia sẻ: hãy ghi nhận trước khi chuyển cơ quan.",
                           "No consent to share the child's data (child and parent or carer), nor a legal "
                           "ground, is recorded: record it before referring the case.")
    refused = consent.carer_answer != ConsentAnswer.GIVEN or (
        consent.child_answer != ConsentAnswer.GIVEN and child_under_7(session, case, now) is not True)
    if refused:
        raise InvalidInput("consent", "consent_refused",
                           "Trẻ hoặc cha, mẹ, người chăm sóc không đồng ý chia sẻ thông tin, và không có căn cứ "
                           "pháp lý để chia sẻ: không thể chuyển cơ quan.",
                           "The child or the parent or carer did not consent to sharing, and no legal ground "
                           "is recorded: the case cannot be referred.")


def ensure_referral(session: Session, case: Case, agency: Agency, actor: Actor,
                    now: datetime) -> Referral | None:
    """Refer the case to the agency unless it already is; the new referral, or None. A new
    referral needs consent or a legal ground."""
    if active_referral(session, case.id, agency.id) is not None:
        return None
    require_consent(session, case, now)
    referral = Referral(case_id=case.id, agency_id=agency.id, referred_at=now,  # type: ignore[arg-type]
                        referred_by=actor.ref)
    session.add(referral)
    session.flush()
    return referral


def refer(session: Session, clock: Clock, actor: Actor, code: str, agency_code: str,
          policy: CommunePolicy) -> Referral:
    """Refer the case; the agency's contact gets an SMS (no personal data: the case code)."""
    case = case_to_change(session, actor, code, "case.refer")
    if case.state == CaseState.CLOSED:
        raise InvalidInput("code", "case_open", "Vụ việc đã đóng, không chuyển gửi được.",
                           "The case is closed; it cannot be referred.")
    agency = session.execute(select(Agency).where(col(Agency.code) == agency_code)).scalar_one_or_none()
    if agency is None:
        raise InvalidInput("agency_code", "known_agency", f"Không có cơ quan mã '{agency_code}'.",
                           f"No agency with code '{agency_code}'.")
    now = clock.now()
    referral = ensure_referral(session, case, agency, actor, now)
    if referral is None:
        raise InvalidInput("agency_code", "not_already_referred",
                           "Vụ việc đã được chuyển cho cơ quan này.",
                           "The case is already referred to this agency.")
    event = audit.record(session, at=now, actor=actor, action=Event.CASE_REFERRED, case_id=case.id,
                         after={"referral_id": referral.id, "agency": agency.code})
    events.publish(session, policy, case, Event.CASE_REFERRED, event.seq, now,
                   referred_agency_id=agency.id)
    return referral


def withdraw(session: Session, clock: Clock, actor: Actor, code: str, referral_id: int) -> Referral:
    case = case_to_change(session, actor, code, "case.refer")
    referral = session.get(Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise NotFound("referral", str(referral_id))
    if referral.withdrawn_at is not None:
        raise InvalidInput("referral_id", "not_already_withdrawn", "Đã rút chuyển gửi này.",
                           "This referral was already withdrawn.")
    now = clock.now()
    referral.withdrawn_at, referral.withdrawn_by = now, actor.ref
    session.add(referral)
    session.flush()
    audit.record(session, at=now, actor=actor, action="case.referral_withdrawn", case_id=case.id,
                 after={"referral_id": referral.id})
    return referral

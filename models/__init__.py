"""Tables and the engine/session factory. No business rules live here."""

from models.access import ApiKey, AuthSession, LoginThrottle, RefreshToken, User
from models.audit import AuditEvent, AuditHead
from models.blobs import EvidenceBlob
from models.cases import (
    Case,
    CaseAbuseForm,
    CaseCounter,
    Child,
    IdempotencyRecord,
    Report,
    Reporter,
)
from models.db import Database, open_database
from models.deadlines import Alert, Deadline
from models.directory import Agency, Official, Place
from models.evidence import Attachment, AttachmentKind
from models.outbox import DeliveryReceipt, Dispatcher, OutboxMessage, RateBucket
from models.records import Consent, DetailedAssessment, EmergencyDecision, PlanMeasure, RiskRating
from models.referrals import Referral
from models.work import EmergencyAction, Note, Plan, Review, Service

__all__ = [
    "Alert",
    "Deadline",
    "DeliveryReceipt",
    "Dispatcher",
    "OutboxMessage",
    "Agency",
    "ApiKey",
    "Attachment",
    "AttachmentKind",
    "AuditEvent",
    "AuditHead",
    "AuthSession",
    "Case",
    "CaseAbuseForm",
    "CaseCounter",
    "Child",
    "Database",
    "EmergencyAction",
    "EvidenceBlob",
    "IdempotencyRecord",
    "Note",
    "LoginThrottle",
    "Official",
    "Place",
    "RateBucket",
    "Plan",
    "Referral",
    "Report",
    "RefreshToken",
    "Reporter",
    "Review",
    "Service",
    "User",
    "Consent",
    "DetailedAssessment",
    "EmergencyDecision",
    "PlanMeasure",
    "RiskRating",
    "open_database",
]

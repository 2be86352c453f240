"""Tables and the engine/session factory. No business rules live here."""

from models.access import ApiKey, User
from models.audit import AuditEvent, AuditHead
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
from models.outbox import DeliveryReceipt, OutboxMessage
from models.directory import Agency, Official, Place
from models.work import EmergencyAction, Note, Plan, Review, Service

__all__ = [
    "Alert",
    "Deadline",
    "DeliveryReceipt",
    "OutboxMessage",
    "Agency",
    "ApiKey",
    "AuditEvent",
    "AuditHead",
    "Case",
    "CaseAbuseForm",
    "CaseCounter",
    "Child",
    "Database",
    "EmergencyAction",
    "IdempotencyRecord",
    "Note",
    "Official",
    "Place",
    "Plan",
    "Report",
    "Reporter",
    "Review",
    "Service",
    "User",
    "open_database",
]

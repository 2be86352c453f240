"""Every trigger of the case lifecycle, each in one entry: what a person reads (Vietnamese and
English), the input it takes, the steps it may take (from which states, to which, with which
guards, by which roles), what it does to the case file, which free-text field is kept as a
note, and which events it may raise for the legal limits.

Everything else is made from this table: the `transitions` machine and `allowed_triggers`
(states/lifecycle/machine.py), the permission check (states/access/permissions.py), the API's trigger
endpoints and their OpenAPI text (api/routers/cases.py), the lifecycle diagram — and the
desk's action forms next. Adding a step is adding data here."""

from dataclasses import dataclass

from pydantic import BaseModel

from models.enums import CaseState as S
from models.enums import Event, PlanStatus, Role, Trigger
from states.lifecycle import effects
from states.lifecycle import guards as g
from states.lifecycle.commands import (
    AssessData,
    CloseData,
    ConsentData,
    DecisionData,
    DetailData,
    EmergencyActionData,
    EmergencyDecisionData,
    EndSeparationData,
    ExtendSeparationData,
    PlanData,
    ReasonData,
    ReviewData,
    ServiceData,
)
from states.lifecycle.effects import Effect

WORKERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR})
LEADERS = frozenset({Role.HEAD, Role.CHAIR})
CHAIR = frozenset({Role.CHAIR})
PROPOSERS = frozenset({Role.CASE_WORKER, Role.HEAD})
OPEN = (S.RECEIVED, S.ASSESSED, S.INTERVENED, S.SUPPORTED)

# Who decides an early closure, by the commune's setting `early_closure_by`
# (KIPTHOI_COMMUNE__EARLY_CLOSURE_BY): the law has the chair decide (Nghị định 56/2017 Art. 30),
# the default; a commune may delegate it to the head.
EARLY_CLOSURE_BY: tuple[tuple[str, frozenset[Role]], ...] = (("chair", CHAIR), ("head", LEADERS))


@dataclass(frozen=True)
class Step:
    """One way a trigger may go: from these states to `dest`, if its guards hold, by these
    roles. A trigger with different rules in different states (closing) has several."""

    trigger: str
    source: tuple[S, ...]
    dest: S | None  # None: the case stays where it is (an internal transition)
    guards: tuple[g.Guard, ...]
    roles: frozenset[Role]
    label_vi: str
    label_en: str
    # A step whose roles are the commune's choice: the setting (a field of CommunePolicy) and
    # the roles for each of its values. `roles` is then the default value's roles.
    roles_setting: tuple[str, tuple[tuple[str, frozenset[Role]], ...]] | None = None

    def roles_for(self, policy: object | None) -> frozenset[Role]:
        """The roles that may take this step under `policy` (a CommunePolicy; None: the
        defaults, i.e. the law's)."""
        if self.roles_setting is None or policy is None:
            return self.roles
        name, by_value = self.roles_setting
        return dict(by_value)[getattr(policy, name)]

    @property
    def all_roles(self) -> frozenset[Role]:
        """Every role that may take this step under some setting."""
        if self.roles_setting is None:
            return self.roles
        return self.roles.union(*(roles for _, roles in self.roles_setting[1]))


@dataclass(frozen=True)
class TriggerSpec:
    trigger: Trigger
    label_vi: str
    label_en: str
    input: type[BaseModel]
    effect: Effect
    steps: tuple[Step, ...]
    # (field of `input`, the label it is kept under): free text with no column of its own is
    # kept as a note on the case (encrypted, shown with the file), never dropped, never put in
    # the audit event.
    note: tuple[str, str] | None = None
    # Events beyond the trigger itself that it may raise for the deadlines (states/deadlines/policy.toml).
    emits: frozenset[str] = frozenset()


RoleSetting = tuple[str, tuple[tuple[str, frozenset[Role]], ...]]
RawStep = (tuple[tuple[S, ...], S | None, tuple[g.Guard, ...], frozenset[Role]]
           | tuple[tuple[S, ...], S | None, tuple[g.Guard, ...], frozenset[Role], RoleSetting])


def _spec(trigger: Trigger, label_vi: str, label_en: str, input: type[BaseModel], effect: Effect,
          steps: list[RawStep], note: tuple[str, str] | None = None, emits: frozenset[str] = frozenset(),
          step_labels: list[tuple[str, str]] | None = None) -> TriggerSpec:
    labels = step_labels or [(label_vi, label_en)] * len(steps)
    return TriggerSpec(trigger, label_vi, label_en, input, effect, tuple(
        Step(trigger.value, raw[0], raw[1], raw[2], raw[3], vi, en, raw[4] if len(raw) > 4 else None)
        for raw, (vi, en) in zip(steps, labels, strict=True)), note, emits)


SPECS: dict[Trigger, TriggerSpec] = {spec.trigger: spec for spec in (
    _spec(Trigger.ASSESS, "Đánh giá ban đầu (Mẫu 02)", "Initial assessment (Form 02)", AssessData,
          effects.assess,
          [((S.RECEIVED,), S.ASSESSED,
            (*g.factors_rated, g.emergency_decided, g.emergency_action_complete_if_given,
             g.special_groups_if_special), WORKERS)],
          note=("note", "Ghi chú đánh giá"),
          emits=frozenset({Trigger.RECORD_EMERGENCY, Event.EMERGENCY_DECIDED, Event.SEPARATED_FROM_CARER,
                           Event.EMERGENCY_FOUND})),
    _spec(Trigger.DECIDE_EMERGENCY, "Quyết định bảo vệ khẩn cấp (Chủ tịch)", "Emergency protection decision "
          "(the chair)", EmergencyDecisionData, effects.decide_emergency,
          [((S.RECEIVED, S.ASSESSED), None, (g.decision_measures_given, g.decided_at_given), CHAIR)],
          emits=frozenset({Event.SEPARATED_FROM_CARER})),
    _spec(Trigger.RECORD_EMERGENCY, "Ghi nhận bảo vệ khẩn cấp", "Record emergency protection",
          EmergencyActionData, effects.record_emergency,
          [((S.RECEIVED, S.ASSESSED), None, (g.action_taken_given, g.who_was_called_given, g.done_at_given),
            WORKERS)],
          emits=frozenset({Event.SEPARATED_FROM_CARER})),
    _spec(Trigger.DETAIL_ASSESS, "Đánh giá chi tiết, họp về nhu cầu của trẻ (Mẫu 03)",
          "Detailed assessment and meeting on the child's needs (Form 03)", DetailData, effects.detail_assess,
          [((S.ASSESSED,), None,
            (g.detail_information_given, g.detail_needs_given, g.meeting_at_given, g.attendees_given,
             g.agreed_given, g.factors_complete_if_given), WORKERS)]),
    _spec(Trigger.SUBMIT_PLAN, "Trình kế hoạch (Mẫu 04)", "Submit the plan (Form 04)", PlanData,
          effects.submit_plan,
          [((S.ASSESSED,), None, (g.plan_goals_given, g.measures_given, g.measures_complete,
                                  g.detailed_assessment_done, g.no_plan_pending), WORKERS)]),
    _spec(Trigger.RETURN_PLAN, "Trả lại kế hoạch", "Return the plan", ReasonData,
          effects.decide_plan(PlanStatus.RETURNED),
          [((S.ASSESSED,), None, (g.plan_submitted, g.reason_given), CHAIR)]),
    _spec(Trigger.APPROVE_PLAN, "Phê duyệt kế hoạch (Mẫu 05)", "Approve the plan (Form 05)", DecisionData,
          effects.decide_plan(PlanStatus.APPROVED),
          [((S.ASSESSED,), S.INTERVENED, (g.plan_submitted,), CHAIR)]),
    _spec(Trigger.START_SERVICE, "Bắt đầu dịch vụ hỗ trợ", "Start a support service", ServiceData,
          effects.start_service,
          [((S.INTERVENED, S.SUPPORTED), S.SUPPORTED,
            (g.service_kind_given, g.service_agency_given, g.service_start_given, g.measure_named_if_planned),
            WORKERS)]),
    _spec(Trigger.RECORD_CONSENT, "Ghi nhận sự đồng ý chia sẻ thông tin", "Record consent to share the child's "
          "data", ConsentData, effects.record_consent,
          [(OPEN, None, (g.consent_or_ground,), WORKERS)]),
    _spec(Trigger.REVIEW, "Rà soát, đánh giá (Mẫu 06)", "Review (Form 06)", ReviewData, effects.review,
          [((S.INTERVENED, S.SUPPORTED), None,
            (g.review_findings_given, *g.factors_rated, g.review_outcome_given), WORKERS)]),
    _spec(Trigger.REPLAN, "Lập lại kế hoạch", "Plan again", ReasonData, effects.state_only,
          [((S.SUPPORTED,), S.ASSESSED, (g.reason_given,), WORKERS)],
          note=("reason", "Lý do lập lại kế hoạch")),
    _spec(Trigger.CLOSE, "Đóng vụ việc", "Close the case", CloseData, effects.close,
          [((S.RECEIVED, S.ASSESSED), S.CLOSED, (g.early_closure_reason,), CHAIR,
            ("early_closure_by", EARLY_CLOSURE_BY)),
           ((S.INTERVENED, S.SUPPORTED), S.CLOSED, (g.final_closure_reason, g.closing_review_if_safe), CHAIR)],
          note=("note", "Ghi chú khi đóng vụ việc"),
          step_labels=[("Đóng vụ việc không can thiệp", "Close without intervention"),
                       ("Đóng vụ việc (Chủ tịch quyết định)", "Close the case (the chair decides)")]),
    _spec(Trigger.PROPOSE_CLOSURE, "Đề xuất đóng vụ việc không can thiệp", "Propose closing without intervention",
          CloseData, effects.propose_closure,
          [((S.RECEIVED, S.ASSESSED), None, (g.early_closure_reason,), PROPOSERS)],
          note=("note", "Ghi chú đề xuất đóng vụ việc")),
    _spec(Trigger.EXTEND_SEPARATION, "Gia hạn tách trẻ tạm thời", "Extend the temporary separation",
          ExtendSeparationData, effects.extend_separation,
          [(OPEN, None, (g.child_separated, g.reason_given, g.extension_end_given, g.extension_ends_later),
            CHAIR)],
          note=("reason", "Lý do gia hạn tách trẻ")),
    _spec(Trigger.END_SEPARATION, "Kết thúc tách trẻ tạm thời", "End the temporary separation",
          EndSeparationData, effects.end_separation,
          [(OPEN, None, (g.child_separated, g.separation_outcome_given, g.separation_end_given), CHAIR)],
          note=("note", "Ghi chú kết thúc tách trẻ")),
    _spec(Trigger.REOPEN, "Mở lại vụ việc", "Reopen the case", ReasonData, effects.reopen,
          [((S.CLOSED,), S.RECEIVED, (g.reason_given,), LEADERS)],
          note=("reason", "Lý do mở lại")),
)}

STEPS: tuple[Step, ...] = tuple(step for spec in SPECS.values() for step in spec.steps)
# Each trigger's input model, by name (what the API's bodies and the tests validate against).
INPUTS: dict[str, type[BaseModel]] = {trigger.value: spec.input for trigger, spec in SPECS.items()}

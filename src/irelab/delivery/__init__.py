"""ECG-synchronised pulse delivery: the pre-arm checklist, the gate, the generator simulator, the
log, the run loop and the procedure record read from the log."""

from irelab.delivery.checklist import (
    CheckItem,
    Checklist,
    Confirmation,
    TofEntry,
    arming_refusal,
    checklist_from_mapping,
    load_checklist,
    prompt_checklist,
)
from irelab.delivery.gate import GateConfig, GateDecision, PulseGate, SkipReason
from irelab.delivery.generator import (
    GENERATOR_TRANSITIONS,
    CurrentModel,
    DeliveryPlan,
    GeneratorConfig,
    GeneratorState,
    GeneratorStateMachine,
    IllegalTransitionError,
    PairProtocol,
    current_rise_factor,
    suggested_voltage_V,
)
from irelab.delivery.log import (
    DeliveryEvent,
    DeliveryLog,
    DeliverySummary,
    EventLog,
    EventType,
    PairDelivery,
    read_delivery_log,
    summarise_events,
)
from irelab.delivery.plan import delivery_plan, load_delivery_plan
from irelab.delivery.record import (
    CheckRecord,
    PairComparison,
    PauseRecord,
    ProcedureRecord,
    compare_with_plan,
    procedure_record,
)
from irelab.delivery.session import (
    DeliveryOutcome,
    DeliveryResult,
    run_synchronised,
    run_unsynchronised,
)
from irelab.delivery.synthetic import (
    SyntheticEcg,
    synthetic_ecg,
    synthetic_ventricular_fibrillation,
)

__all__ = [
    "GENERATOR_TRANSITIONS",
    "CheckItem",
    "CheckRecord",
    "Checklist",
    "Confirmation",
    "CurrentModel",
    "DeliveryEvent",
    "DeliveryLog",
    "DeliveryOutcome",
    "DeliveryPlan",
    "DeliveryResult",
    "DeliverySummary",
    "EventLog",
    "EventType",
    "GateConfig",
    "GateDecision",
    "GeneratorConfig",
    "GeneratorState",
    "GeneratorStateMachine",
    "IllegalTransitionError",
    "PairComparison",
    "PairDelivery",
    "PairProtocol",
    "PauseRecord",
    "ProcedureRecord",
    "PulseGate",
    "SkipReason",
    "SyntheticEcg",
    "TofEntry",
    "arming_refusal",
    "checklist_from_mapping",
    "compare_with_plan",
    "current_rise_factor",
    "delivery_plan",
    "load_checklist",
    "load_delivery_plan",
    "procedure_record",
    "prompt_checklist",
    "read_delivery_log",
    "run_synchronised",
    "run_unsynchronised",
    "suggested_voltage_V",
    "summarise_events",
    "synthetic_ecg",
    "synthetic_ventricular_fibrillation",
]

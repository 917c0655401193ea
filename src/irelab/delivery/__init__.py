"""ECG-synchronised pulse delivery: the gate, the generator simulator, the log, the run loop."""

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
    suggested_voltage_V,
)
from irelab.delivery.log import (
    DeliveryEvent,
    DeliverySummary,
    EventLog,
    EventType,
    read_event_log,
    summarise_events,
)
from irelab.delivery.plan import load_delivery_plan, parse_delivery_plan
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
    "CurrentModel",
    "DeliveryEvent",
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
    "PairProtocol",
    "PulseGate",
    "SkipReason",
    "SyntheticEcg",
    "load_delivery_plan",
    "parse_delivery_plan",
    "read_event_log",
    "run_synchronised",
    "run_unsynchronised",
    "suggested_voltage_V",
    "summarise_events",
    "synthetic_ecg",
    "synthetic_ventricular_fibrillation",
]

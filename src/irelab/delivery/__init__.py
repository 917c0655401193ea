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
from irelab.delivery.session import (
    DeliveryOutcome,
    DeliveryResult,
    run_synchronised,
    run_unsynchronised,
)
from irelab.delivery.synthetic import SyntheticEcg, synthetic_ecg

__all__ = [
    "GENERATOR_TRANSITIONS",
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
    "PairDelivery",
    "PairProtocol",
    "PulseGate",
    "SkipReason",
    "SyntheticEcg",
    "current_rise_factor",
    "delivery_plan",
    "load_delivery_plan",
    "read_delivery_log",
    "run_synchronised",
    "run_unsynchronised",
    "suggested_voltage_V",
    "summarise_events",
    "synthetic_ecg",
]

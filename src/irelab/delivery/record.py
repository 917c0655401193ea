"""The procedure as delivered, read from its log: the pre-arm checks, the pauses with their
reasons, the re-plan and the repositionings (:func:`procedure_record`), and what each pair got
against what the plan asked for (:func:`compare_with_plan`).

The record is recounted from the events alone, so a log read back
(:func:`irelab.delivery.read_delivery_log`) gives the same record as the run that wrote it; the
registry imports a procedure from it (anaesthesia, block, synchronisation, deviations).

A deviation is anything that departs from the plan as written: a re-plan for the probes as
placed, a pause (lost neuromuscular block or ECG quality), a pair aborted at the current limit,
a pulse not synchronised to the ECG, a run that ended early, and a log without pre-arm checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from irelab.case.model import PairKey
from irelab.delivery.checklist import BLOCK_LOST, CheckItem
from irelab.delivery.generator import CurrentModel, DeliveryPlan, GeneratorConfig
from irelab.delivery.log import DeliveryEvent, EventType

__all__ = ["CheckRecord", "PairComparison", "PauseRecord", "ProcedureRecord",
           "compare_with_plan", "procedure_record"]

@dataclass(frozen=True)
class CheckRecord:
    """A pre-arm check as logged."""

    item: str
    confirmed_by: str
    confirmed_at: str
    tof_count: int | None = None


@dataclass(frozen=True)
class PauseRecord:
    """The generator paused at ``t_s`` for ``reason``; ``resumed_s`` when it next left the
    paused state (None: it never did)."""

    t_s: float
    reason: str
    detail: str | None
    resumed_s: float | None

    @property
    def sentence(self) -> str:
        what = (self.detail or "neuromuscular block lost") if self.reason == BLOCK_LOST else \
            f"ECG {self.reason.replace('_', ' ')}" + (f" ({self.detail})" if self.detail else "")
        held = (f"delivery paused {self.resumed_s - self.t_s:.1f} s" if self.resumed_s
                is not None else "delivery not resumed")
        return f"{what} at {self.t_s:.1f} s; {held}"


@dataclass(frozen=True)
class ProcedureRecord:
    """What a delivery log says about the procedure around its pulses."""

    checks: tuple[CheckRecord, ...]
    pauses: tuple[PauseRecord, ...]
    replans: tuple[str, ...]
    repositions: tuple[str, ...]
    aborts: tuple[str, ...]
    unsynchronised_pulses: int
    synchronised: bool
    truncated: str | None
    """Why the run ended before the protocol was complete (None: it did not)."""

    def _check(self, item: CheckItem) -> CheckRecord | None:
        return next((c for c in self.checks if c.item == item), None)

    @property
    def general_anaesthesia(self) -> bool | None:
        """Confirmed before arming (None: the log has no pre-arm checks at all)."""
        if not self.checks:
            return None
        return self._check(CheckItem.GENERAL_ANAESTHESIA) is not None

    @property
    def neuromuscular_block(self) -> bool | None:
        """Confirmed before arming with a train-of-four count of 0 (None: no checks logged)."""
        if not self.checks:
            return None
        block = self._check(CheckItem.NEUROMUSCULAR_BLOCK)
        return block is not None and block.tof_count == 0

    @property
    def deviations(self) -> tuple[str, ...]:
        """Each departure from the plan, one sentence each, in log order by kind."""
        out = [f"re-planned: {text}" for text in self.replans]
        out += [p.sentence for p in self.pauses]
        out += [f"aborted: {text}" for text in self.aborts]
        if self.unsynchronised_pulses:
            out.append(f"{self.unsynchronised_pulses} pulses not synchronised to the ECG")
        if self.truncated:
            out.append(f"delivery ended early: {self.truncated}")
        if not self.checks:
            out.append("no pre-arm checks in the delivery log")
        return tuple(out)

    def to_json(self) -> dict:
        return {"checks": [{"item": c.item, "confirmed_by": c.confirmed_by,
                            "confirmed_at": c.confirmed_at, "tof_count": c.tof_count}
                           for c in self.checks],
                "pauses": [{"t_s": round(p.t_s, 3), "reason": p.reason, "detail": p.detail,
                            "resumed_s": None if p.resumed_s is None else round(p.resumed_s, 3)}
                           for p in self.pauses],
                "repositions": list(self.repositions),
                "general_anaesthesia": self.general_anaesthesia,
                "neuromuscular_block": self.neuromuscular_block,
                "synchronised": self.synchronised,
                "deviations": list(self.deviations)}


def procedure_record(events: Iterable[DeliveryEvent]) -> ProcedureRecord:
    """The :class:`ProcedureRecord` of a run's events (or of a log read back)."""
    checks, replans, repositions, aborts = [], [], [], []
    pauses: list[list] = []  # [t_s, reason, detail, resumed_s]
    beats = unsync = 0
    truncated = None
    for event in events:
        kind = event.event
        if kind == EventType.CHECK:
            checks.append(CheckRecord(str(event.item), str(event.confirmed_by),
                                      str(event.confirmed_at), event.tof_count))
        elif kind == EventType.PAUSE:
            pauses.append([event.t_ms / 1e3, str(event.reason), event.detail, None])
        elif kind == EventType.STATE and event.state != "paused":
            for pause in pauses:
                if pause[3] is None and event.t_ms / 1e3 >= pause[0]:
                    pause[3] = event.t_ms / 1e3
        elif kind == EventType.REPLAN:
            replans.append(str(event.detail))
        elif kind == EventType.REPOSITION:
            repositions.append(str(event.detail))
        elif kind == EventType.ABORT:
            if event.reason == "truncated":
                truncated = event.detail or "the ECG ended"
            else:
                aborts.append(str(event.detail or event.reason))
        elif kind == EventType.BEAT:
            beats += 1
        elif kind == EventType.PULSE:
            unsync += event.synchronised is False
    return ProcedureRecord(
        checks=tuple(checks), pauses=tuple(PauseRecord(*p) for p in pauses),
        replans=tuple(replans), repositions=tuple(repositions), aborts=tuple(aborts),
        unsynchronised_pulses=unsync, synchronised=beats > 0 and unsync == 0,
        truncated=truncated)


@dataclass(frozen=True)
class PairComparison:
    """One pair at one placement: planned against delivered."""

    key: PairKey
    label: str
    voltage_planned_V: float
    voltage_V: float | None
    """Delivered (None: no pulse)."""
    pulses_planned: int
    pulses: int
    test_pulses_planned: int
    test_pulses: int
    predicted_current_A: float
    first_current_A: float | None
    max_current_A: float | None
    test_rise: float | None
    """Current of the last test pulse over the first, minus 1 (None: fewer than two)."""
    energy_planned_J: float
    """Every planned pulse at the planned voltage with the generator's current model."""
    energy_J: float

    def to_json(self) -> dict:
        def r(x: float | None, n: int = 4) -> float | None:
            return None if x is None else round(x, n)

        return {"pair_index": self.key.pair, "placement": self.key.placement,
                "pair": self.label, "voltage_planned_V": self.voltage_planned_V,
                "voltage_V": self.voltage_V, "pulses_planned": self.pulses_planned,
                "pulses": self.pulses, "test_pulses_planned": self.test_pulses_planned,
                "test_pulses": self.test_pulses,
                "predicted_current_A": r(self.predicted_current_A),
                "first_current_A": r(self.first_current_A),
                "max_current_A": r(self.max_current_A), "test_rise": r(self.test_rise),
                "energy_planned_J": r(self.energy_planned_J, 6),
                "energy_J": r(self.energy_J, 6)}


def compare_with_plan(plan: DeliveryPlan, events: Iterable[DeliveryEvent],
                      config: GeneratorConfig | None = None) -> tuple[PairComparison, ...]:
    """Every pair of ``plan`` at every placement, in delivery order, with what the events
    delivered to it."""
    config = config or GeneratorConfig()
    pulses: dict[PairKey, list[DeliveryEvent]] = {}
    for event in events:
        if event.event == EventType.PULSE:
            pulses.setdefault(event.key, []).append(event)
    width_s = plan.pulse_width_us * 1e-6
    n_total = config.test_pulses + plan.pulses
    out = []
    for pair in plan.pairs:
        got = pulses.get(pair.key, [])
        tests = [e.current_A for e in got if e.phase == "test"]
        phases = Counter(e.phase for e in got)
        model = CurrentModel(pair.predicted_current_A, config.current_rise_fraction,
                             config.current_rise_pulses)
        planned_J = sum(pair.voltage_V * model.current_A(n) * width_s
                        for n in range(1, n_total + 1))
        out.append(PairComparison(
            key=pair.key, label=pair.label, voltage_planned_V=pair.voltage_V,
            voltage_V=got[0].voltage_V if got else None, pulses_planned=plan.pulses,
            pulses=phases["treatment"], test_pulses_planned=config.test_pulses,
            test_pulses=phases["test"], predicted_current_A=pair.predicted_current_A,
            first_current_A=got[0].current_A if got else None,
            max_current_A=max(e.current_A for e in got) if got else None,
            test_rise=tests[-1] / tests[0] - 1.0 if len(tests) >= 2 and tests[0] > 0 else None,
            energy_planned_J=planned_J, energy_J=sum(e.energy_J for e in got)))
    return tuple(out)

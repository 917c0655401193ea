"""A procedure record from an irelab plan (a case) and, when available, its delivery log.

The plan is read by :func:`irelab.case.load_case` and the log by
:func:`irelab.delivery.read_delivery_log` (their one reader each). The plan gives the probes and
the electrode pairs with their voltages and predicted currents; a plan with several placements
of the probe array (pullbacks, sideways moves) repeats its pairs at each, and each pair at each
placement (:class:`irelab.case.PairKey`) becomes its own record. The log gives what was
delivered to each: treatment pulses, peak current and energy, and whether every pulse was
ECG-synchronised. A log whose pulses name a pair or placement the plan does not have is refused
with an error naming the log's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from irelab.case import Case, PairKey, load_case
from irelab.delivery import DeliveryLog, EventType, read_delivery_log
from irelab.errors import InputError
from irelab.registry import schemas as s
from irelab.registry import service
from irelab.registry.models import Procedure, ProcedurePair
from irelab.registry.security import Actor

__all__ = ["PairRecord", "ProcedureSummary", "import_procedure", "summarise_delivery"]


@dataclass(frozen=True)
class PairRecord:
    """One electrode pair at one placement: planned voltage and current, and what the log says
    was delivered (None without a log)."""

    key: PairKey
    anode: str
    cathode: str
    voltage_V: float
    predicted_current_A: float | None = None
    delivered_pulses: int | None = None
    """Treatment pulses (test pulses are in the log, not counted here)."""
    max_current_A: float | None = None
    energy_J: float | None = None


@dataclass(frozen=True)
class ProcedureSummary:
    """The procedure fields a plan (and log) determine."""

    n_probes: int
    n_pairs: int
    pulses: int
    max_voltage_V: float
    max_current_A: float | None
    cardiac_sync: bool | None
    aborted: bool
    pairs: tuple[PairRecord, ...]
    """Every pair at every placement, in delivery order."""


def _check_log(case: Case, log: DeliveryLog) -> None:
    """Every pulse names a pair and placement of ``case`` (by number; its ``pair`` text agrees)."""
    protocol = case.protocol
    for i, event in enumerate(log.events):
        if event.event != EventType.PULSE:
            continue
        key = event.key
        where = log.where(i)
        if key.pair >= len(protocol.pairs):
            raise InputError(log.source, f"{where}.pair_index", f"a pair of the plan "
                             f"{case.source} (0-{len(protocol.pairs) - 1})", key.pair)
        if key.placement >= protocol.positions:
            raise InputError(log.source, f"{where}.placement", f"a placement of the plan "
                             f"{case.source} (0-{protocol.positions - 1})", key.placement)
        name = protocol.pairs[key.pair].name
        if event.pair is not None and event.pair != name:
            raise InputError(log.source, f"{where}.pair", f"{name}, pair {key.pair} of the plan "
                             f"{case.source}", event.pair)


def summarise_delivery(plan: str | Path | Case,
                       log: str | Path | DeliveryLog | None = None) -> ProcedureSummary:
    """The procedure summary of ``plan``, from the delivery ``log`` when one is given (else
    the planned dose)."""
    case = plan if isinstance(plan, Case) else load_case(plan)
    protocol = case.protocol
    if protocol is None or not protocol.pairs:
        raise InputError(case.source, "protocol.pairs", "a plan with at least one electrode pair")
    keys = list(protocol.keys())
    if log is None:
        pairs = tuple(PairRecord(k, p.anode, p.cathode, p.voltage_V, p.current_at(k.placement))
                      for k in keys for p in (protocol.pairs[k.pair],))
        currents = [r.predicted_current_A for r in pairs if r.predicted_current_A is not None]
        return ProcedureSummary(len(case.probes), len(protocol.pairs), protocol.pulses * len(keys),
                                max(p.voltage_V for p in protocol.pairs),
                                max(currents) if currents else None, None, False, pairs)
    log = log if isinstance(log, DeliveryLog) else read_delivery_log(log)
    _check_log(case, log)
    delivered = {p.key: p for p in log.summary().pairs}
    records = []
    for key in keys:
        pair, got = protocol.pairs[key.pair], delivered.get(key)
        records.append(PairRecord(
            key, pair.anode, pair.cathode, got.voltage_V if got else pair.voltage_V,
            pair.current_at(key.placement), got.pulses if got else 0,
            got.max_current_A if got else None, got.energy_J if got else 0.0))
    summary = log.summary()
    peaks = [r.max_current_A for r in records if r.max_current_A is not None]
    volts = [r.voltage_V for r in records if r.delivered_pulses]
    return ProcedureSummary(
        n_probes=len(case.probes), n_pairs=len(protocol.pairs),
        pulses=sum(r.delivered_pulses for r in records),
        max_voltage_V=max(volts, default=max(p.voltage_V for p in protocol.pairs)),
        max_current_A=max(peaks) if peaks else None, cardiac_sync=summary.synchronised,
        aborted=bool(summary.aborts), pairs=tuple(records))


def import_procedure(
    session: Session,
    actor: Actor,
    summary: ProcedureSummary,
    *,
    patient_id: int,
    date: Any,
    approach: str = "percutaneous",
    general_anaesthesia: bool = True,
    neuromuscular_block: bool = True,
    cardiac_sync: bool | None = None,
    notes: str | None = None,
) -> Procedure:
    """Add a procedure and its electrode pairs at every placement from ``summary`` (audited;
    flushed)."""
    if summary.pulses < 1:
        raise service.Invalid("pulses: the delivery log has no delivered pulse", "pulses")
    payload = s.ProcedureCreate(
        patient_id=patient_id,
        date=date,
        approach=approach,
        general_anaesthesia=general_anaesthesia,
        neuromuscular_block=neuromuscular_block,
        cardiac_sync=cardiac_sync if cardiac_sync is not None else bool(summary.cardiac_sync),
        n_probes=summary.n_probes,
        n_pairs=summary.n_pairs,
        pulses=summary.pulses,
        max_voltage_V=summary.max_voltage_V,
        max_current_A=summary.max_current_A,
        notes=notes,
    )
    procedure = service.create(session, actor, service.RESOURCES["procedures"], payload)
    for pair in summary.pairs:
        session.add(
            ProcedurePair(
                patient_id=procedure.patient_id,
                procedure_id=procedure.id,
                anode=pair.anode,
                cathode=pair.cathode,
                placement=pair.key.placement,
                voltage_V=pair.voltage_V,
                predicted_current_A=pair.predicted_current_A,
                delivered_pulses=pair.delivered_pulses,
                max_current_A=pair.max_current_A,
                energy_J=pair.energy_J,
            )
        )
    session.flush()
    return procedure

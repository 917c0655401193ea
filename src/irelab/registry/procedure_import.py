"""A procedure record from an irelab plan (a case) and, when available, its delivery log.

The plan is read by :func:`irelab.case.load_case` and the log by
:func:`irelab.delivery.read_delivery_log` (their one reader each). The plan gives the probes and
the electrode pairs with their voltages and predicted currents; a plan with several placements
of the probe array (pullbacks, sideways moves) repeats its pairs at each, and each pair at each
placement (:class:`irelab.case.PairKey`) becomes its own record. The log gives what was
delivered to each: treatment pulses, peak current and energy, and whether every pulse was
ECG-synchronised. A log whose pulses name a pair or placement the plan does not have is refused
with an error naming the log's line.

The log is also the procedure record (:func:`irelab.delivery.procedure_record`): general
anaesthesia and neuromuscular block are what its pre-arm checks confirmed (not the registry's
defaults), synchronisation what its pulses were, and the deviations (a re-plan for the probes as
placed, pauses for a lost block or ECG quality, aborted pairs, pairs not given every pulse, an
early end) go into the procedure's notes as readable sentences after the checks. Only a log
without any pre-arm check (written before checks were logged) leaves anaesthesia and block to
the registry defaults, and the notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from irelab.case import Case, PairKey, load_case
from irelab.delivery import (
    CheckItem,
    DeliveryLog,
    EventType,
    procedure_record,
    read_delivery_log,
)
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


_NOTES_MAX = 4000
"""The registry's free-text limit (``FreeText`` in :mod:`irelab.registry.schemas`)."""


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
    general_anaesthesia: bool | None = None
    """Confirmed by the log's pre-arm checks (None: no log, or a log without checks)."""
    neuromuscular_block: bool | None = None
    """Confirmed before arming with a train-of-four count of 0 (None as above)."""
    checks: tuple[str, ...] = ()
    """Each pre-arm check as logged, a sentence each."""
    deviations: tuple[str, ...] = ()
    """Each departure from the plan, a sentence each."""

    @property
    def notes(self) -> str | None:
        """The procedure's notes: the checks, then the deviations (None without a log)."""
        if not self.checks and not self.deviations:
            return None
        text = "Pre-arm checks: " + ("; ".join(self.checks) if self.checks else "none logged")
        text += ". Deviations: " + ("; ".join(self.deviations) if self.deviations else "none")
        text += "."
        return text if len(text) <= _NOTES_MAX else text[:_NOTES_MAX - 1] + "\u2026"



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
    record = procedure_record(log.events)
    peaks = [r.max_current_A for r in records if r.max_current_A is not None]
    volts = [r.voltage_V for r in records if r.delivered_pulses]
    short = [f"{r.anode}-{r.cathode} at placement {r.key.placement + 1}: {r.delivered_pulses} "
             f"of {protocol.pulses} treatment pulses" for r in records
             if r.delivered_pulses < protocol.pulses]
    return ProcedureSummary(
        n_probes=len(case.probes), n_pairs=len(protocol.pairs),
        pulses=sum(r.delivered_pulses for r in records),
        max_voltage_V=max(volts, default=max(p.voltage_V for p in protocol.pairs)),
        max_current_A=max(peaks) if peaks else None, cardiac_sync=summary.synchronised,
        aborted=bool(summary.aborts), pairs=tuple(records),
        general_anaesthesia=record.general_anaesthesia,
        neuromuscular_block=record.neuromuscular_block,
        checks=tuple(f"{CheckItem(c.item).label} confirmed by {c.confirmed_by} at "
                     f"{c.confirmed_at}" + ("" if c.tof_count is None else
                                            f" (train-of-four count {c.tof_count})")
                     for c in record.checks),
        deviations=record.deviations + tuple(short))


def import_procedure(
    session: Session,
    actor: Actor,
    summary: ProcedureSummary,
    *,
    patient_id: int,
    date: Any,
    approach: str = "percutaneous",
    general_anaesthesia: bool | None = None,
    neuromuscular_block: bool | None = None,
    cardiac_sync: bool | None = None,
    notes: str | None = None,
) -> Procedure:
    """Add a procedure and its electrode pairs at every placement from ``summary`` (audited;
    flushed). Anaesthesia, block, synchronisation and notes not given come from the summary
    (the delivery log); anaesthesia and block fall back to the registry default (yes) only when
    the log has no pre-arm checks."""
    if summary.pulses < 1:
        raise service.Invalid("pulses: the delivery log has no delivered pulse", "pulses")
    payload = s.ProcedureCreate(
        patient_id=patient_id,
        date=date,
        approach=approach,
        general_anaesthesia=_first(general_anaesthesia, summary.general_anaesthesia, True),
        neuromuscular_block=_first(neuromuscular_block, summary.neuromuscular_block, True),
        cardiac_sync=cardiac_sync if cardiac_sync is not None else bool(summary.cardiac_sync),
        n_probes=summary.n_probes,
        n_pairs=summary.n_pairs,
        pulses=summary.pulses,
        max_voltage_V=summary.max_voltage_V,
        max_current_A=summary.max_current_A,
        notes=notes if notes is not None else summary.notes,
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


def _first(*values: bool | None) -> bool:
    """The first value that is not None."""
    return next(v for v in values if v is not None)

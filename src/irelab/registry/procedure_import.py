"""A procedure record from an irelab plan (case file) and, when available, its delivery log.

The plan gives the probes and the electrode pairs (``protocol.pairs``: anode, cathode,
``voltage_V`` and optionally ``predicted_current_A``) and the planned pulses per pair. The delivery
log (JSON lines, one event per line, ``type`` one of beat / pulse / skip / state / abort, with
``t_ms``, ``pair``, ``voltage_V``, ``current_A``, ``energy_J``) gives what was delivered: pulses,
peak current and energy per pair, and whether pulses were ECG-synchronised. The log is parsed
defensively: blank lines and unknown event types are skipped, a pair may be named by its index in
the plan, "P1-P2", [anode, cathode] or {anode, cathode}; anything unreadable is an InputError
naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from irelab.errors import InputError
from irelab.registry import schemas as s
from irelab.registry import service
from irelab.registry.models import Procedure, ProcedurePair
from irelab.registry.security import Actor

EVENT_TYPES = frozenset({"beat", "pulse", "skip", "state", "abort"})


@dataclass(frozen=True)
class PairSummary:
    """One electrode pair: planned voltage/current, and what the log says was delivered."""

    anode: str
    cathode: str
    voltage_V: float  # noqa: N815
    predicted_current_A: float | None = None  # noqa: N815
    delivered_pulses: int | None = None
    max_current_A: float | None = None  # noqa: N815
    energy_J: float | None = None  # noqa: N815


@dataclass(frozen=True)
class DeliverySummary:
    """The procedure fields a plan (and log) determine."""

    n_probes: int
    pulses: int
    max_voltage_V: float  # noqa: N815
    max_current_A: float | None  # noqa: N815
    cardiac_sync: bool | None
    aborted: bool
    pairs: tuple[PairSummary, ...]


def _plan_mapping(path: Path) -> Mapping[str, Any]:
    try:
        from irelab.case import load_case
    except ModuleNotFoundError:
        load_case = None
    if load_case is not None:
        return load_case(path).to_mapping()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(str(path), "", "a readable YAML plan", str(exc)) from exc
    if not isinstance(data, Mapping):
        raise InputError(str(path), "", "a YAML mapping with probes and protocol")
    return data


def _number(source: str, key: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(source, key, "a number", value)
    return float(value)


def read_plan(path: str | Path) -> tuple[int, int, tuple[PairSummary, ...]]:
    """(number of probes, planned pulses per pair, pairs) of a plan/case file."""
    path = Path(path)
    plan = _plan_mapping(path)
    source = str(path)
    probes = plan.get("probes")
    if not isinstance(probes, list) or not probes:
        raise InputError(source, "probes", "a non-empty list of probes")
    protocol = plan.get("protocol")
    if not isinstance(protocol, Mapping):
        raise InputError(source, "protocol", "a mapping with pulses and pairs")
    pairs_in = protocol.get("pairs")
    if not isinstance(pairs_in, list) or not pairs_in:
        raise InputError(source, "protocol.pairs", "a non-empty list of electrode pairs")
    pairs = []
    for i, pair in enumerate(pairs_in):
        key = f"protocol.pairs[{i}]"
        if not isinstance(pair, Mapping) or "anode" not in pair or "cathode" not in pair:
            raise InputError(source, key, "a mapping with anode, cathode and voltage_V")
        pairs.append(
            PairSummary(
                str(pair["anode"]),
                str(pair["cathode"]),
                _number(source, f"{key}.voltage_V", pair.get("voltage_V")),
                _number(
                    source,
                    f"{key}.predicted_current_A",
                    pair.get("predicted_current_A"),
                    optional=True,
                ),
            )
        )
    pulses = protocol.get("pulses", 0)
    if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 1:
        raise InputError(source, "protocol.pulses", "a positive whole number of pulses", pulses)
    return len(probes), pulses, tuple(pairs)


def _pair_index(source: str, key: str, raw: Any, pairs: tuple[PairSummary, ...]) -> int:
    names = [(p.anode, p.cathode) for p in pairs]
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(pairs):
        return raw
    if isinstance(raw, str):
        for sep in ("-", ">", "/", ":"):
            if sep in raw:
                raw = raw.split(sep, 1)
                break
    if isinstance(raw, Mapping):
        raw = [raw.get("anode"), raw.get("cathode")]
    if isinstance(raw, list | tuple) and len(raw) == 2:
        wanted = (str(raw[0]).strip(), str(raw[1]).strip())
        if wanted in names:
            return names.index(wanted)
    raise InputError(source, f"{key}.pair", "a pair of the plan (index or 'ANODE-CATHODE')", raw)


def read_delivery_log(path: str | Path, pairs: tuple[PairSummary, ...]) -> DeliverySummary:
    """Delivered pulses, peak currents and energy per pair from a JSON-lines delivery log."""
    path = Path(path)
    source = str(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(source, "", "a readable delivery log (JSON lines)", str(exc)) from exc
    count = [0] * len(pairs)
    peak: list[float | None] = [None] * len(pairs)
    energy = [0.0] * len(pairs)
    volts: list[float] = []
    beats = 0
    unsynchronised = aborted = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key = f"line {number}"
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(source, key, "one JSON object per line", line[:60]) from exc
        if not isinstance(event, Mapping):
            raise InputError(source, key, "a JSON object", line[:60])
        kind = event.get("type")
        if kind == "beat":
            beats += 1
        elif kind == "abort":
            aborted = True
        elif kind == "pulse":
            i = _pair_index(source, key, event.get("pair"), pairs)
            count[i] += 1
            current = _number(source, f"{key}.current_A", event.get("current_A"), optional=True)
            if current is not None:
                peak[i] = max(peak[i] or 0.0, current)
            joules = _number(source, f"{key}.energy_J", event.get("energy_J"), optional=True)
            energy[i] += joules or 0.0
            volt = _number(source, f"{key}.voltage_V", event.get("voltage_V"), optional=True)
            volts.append(volt if volt is not None else pairs[i].voltage_V)
            if event.get("synchronised", event.get("synchronized", True)) is False:
                unsynchronised = True
    delivered = tuple(
        PairSummary(
            p.anode, p.cathode, p.voltage_V, p.predicted_current_A, count[i], peak[i], energy[i]
        )
        for i, p in enumerate(pairs)
    )
    currents = [c for c in peak if c is not None]
    return DeliverySummary(
        n_probes=0,
        pulses=sum(count),
        max_voltage_V=max(volts, default=0.0),
        max_current_A=max(currents) if currents else None,
        cardiac_sync=beats > 0 and not unsynchronised,
        aborted=aborted,
        pairs=delivered,
    )


def summarise_delivery(plan: str | Path, log: str | Path | None = None) -> DeliverySummary:
    """The procedure summary of ``plan``, from the delivery ``log`` when one is given."""
    n_probes, pulses_per_pair, pairs = read_plan(plan)
    if log is None:
        currents = [p.predicted_current_A for p in pairs if p.predicted_current_A is not None]
        return DeliverySummary(
            n_probes,
            pulses_per_pair * len(pairs),
            max(p.voltage_V for p in pairs),
            max(currents) if currents else None,
            None,
            False,
            pairs,
        )
    delivered = read_delivery_log(log, pairs)
    return DeliverySummary(
        n_probes,
        delivered.pulses,
        delivered.max_voltage_V,
        delivered.max_current_A,
        delivered.cardiac_sync,
        delivered.aborted,
        delivered.pairs,
    )


def import_procedure(
    session: Session,
    actor: Actor,
    summary: DeliverySummary,
    *,
    patient_id: int,
    date: Any,
    approach: str = "percutaneous",
    general_anaesthesia: bool = True,
    neuromuscular_block: bool = True,
    cardiac_sync: bool | None = None,
    notes: str | None = None,
) -> Procedure:
    """Add a procedure and its electrode pairs from ``summary`` (audited; flushed)."""
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
        n_pairs=len(summary.pairs),
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
                voltage_V=pair.voltage_V,
                predicted_current_A=pair.predicted_current_A,
                delivered_pulses=pair.delivered_pulses,
                max_current_A=pair.max_current_A,
                energy_J=pair.energy_J,
            )
        )
    session.flush()
    return procedure

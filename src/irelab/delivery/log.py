"""The delivery log: one JSON object per line per event; its one writer and its one reader.

Every line carries the same keys (null where not applicable) so that a reader never guesses:

- ``t_ms``: ms from the start of the stream (the generator arms at 0); ``event``: the record
  kind (:class:`EventType`: ``beat``, ``pulse``, ``skip``, ``state``, ``abort``, ``quality``,
  and for the procedure around the pulses ``check``, ``tof``, ``pause``, ``replan``,
  ``reposition``);
- ``pair_index`` and ``placement``: which pair of the plan's ``protocol.pairs`` (from 0) at which
  placement of the probe array (from 0; see :class:`irelab.case.PairKey`), and ``pair``:
  ``ANODE-CATHODE`` for people (programs use the two numbers);
- ``voltage_V``, ``current_A``, ``energy_J`` (V x I x pulse width), ``beat_sample`` (estimated
  R-peak sample), ``reason`` (skip reason, quality reason, or why a state changed / the run
  stopped), ``phase`` (``test`` or ``treatment`` for pulses), ``synchronised`` (pulses),
  ``state`` (the new state, for ``state`` events) and ``detail`` (a sentence);
- ``item`` (a pre-arm check, :class:`irelab.delivery.CheckItem`), ``confirmed_by`` and
  ``confirmed_at`` (who confirmed it or entered a count, and the wall-clock time, ISO 8601),
  ``tof_count`` (a train-of-four count, 0-4).

The procedure events: ``check``, one per pre-arm item confirmed, at t = 0 (``item``,
``confirmed_by``, ``confirmed_at``; the block with its ``tof_count``); ``tof``, a
train-of-four count entered during delivery; ``pause``, the generator paused, ``reason``
``neuromuscular_block`` (a count above 0) or the quality flag's reason; ``replan``, one per
change of a plan re-planned for the probes as placed (``reason``: voltage, pair or
reposition; ``pair`` names the pair or probe; ``voltage_V`` a pair's new voltage) at t = 0;
``reposition``, the probe array moved to its next placement (``pair_index`` and
``placement``: the first pair there).

:class:`EventLog` writes it (each line with one ``write``, flushed, so a crash leaves only
whole lines); :func:`read_delivery_log` reads it back into the same typed events and refuses
anything else with one error naming the file and line. The summary (:class:`DeliverySummary`)
is recounted from the events, per pair at each placement; the registry imports it from there.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from irelab.case.model import PairKey
from irelab.delivery.checklist import MAX_TOF, CheckItem
from irelab.errors import InputError

__all__ = ["DeliveryEvent", "DeliveryLog", "DeliverySummary", "EventLog", "EventType",
           "PairDelivery", "read_delivery_log", "summarise_events"]


class EventType(StrEnum):
    """Kinds of log events."""

    BEAT = "beat"
    PULSE = "pulse"
    SKIP = "skip"
    STATE = "state"
    ABORT = "abort"
    QUALITY = "quality"
    CHECK = "check"
    """A pre-arm check confirmed."""
    TOF = "tof"
    """A train-of-four count entered during delivery."""
    PAUSE = "pause"
    """The generator paused (why: ``reason``)."""
    REPLAN = "replan"
    """A change of the plan for the probes as placed."""
    REPOSITION = "reposition"
    """The probe array moved to its next placement."""


PHASES = ("test", "treatment")


@dataclass(frozen=True)
class DeliveryEvent:
    """One log line (see the module docstring for the keys)."""

    t_ms: float
    event: EventType
    pair: str | None = None
    voltage_V: float | None = None
    current_A: float | None = None
    energy_J: float | None = None
    beat_sample: int | None = None
    reason: str | None = None
    phase: str | None = None
    synchronised: bool | None = None
    state: str | None = None
    detail: str | None = None
    key: PairKey | None = None
    """The pair and placement (written as ``pair_index`` and ``placement``)."""
    item: str | None = None
    confirmed_by: str | None = None
    confirmed_at: str | None = None
    """Wall-clock time, ISO 8601."""
    tof_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this event (the log-line contract)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "key"}
        out["event"] = str(self.event)
        out["t_ms"] = round(self.t_ms, 3)
        out["pair_index"] = None if self.key is None else self.key.pair
        out["placement"] = None if self.key is None else self.key.placement
        return out


@dataclass(frozen=True)
class PairDelivery:
    """What was delivered to one pair at one placement."""

    key: PairKey
    pair: str
    voltage_V: float
    pulses: int
    """Treatment pulses."""
    test_pulses: int
    max_current_A: float
    energy_J: float
    """Energy of every pulse, test pulses included."""
    aborted: bool = False

    @property
    def label(self) -> str:
        """``ANODE-CATHODE``, with ``@k`` (k from 1) at a placement after the first."""
        return f"{self.pair}@{self.key.placement + 1}" if self.key.placement else self.pair


@dataclass(frozen=True)
class DeliverySummary:
    """What a run delivered, recountable from its log (:func:`summarise_events`)."""

    pulses_per_pair: dict[str, int]
    test_pulses_per_pair: dict[str, int]
    skips_by_reason: dict[str, int]
    beats: int
    total_energy_J: float
    procedure_time_s: float
    aborts: tuple[str, ...] = ()
    unsynchronised_pulses: int = 0
    pairs: tuple[PairDelivery, ...] = field(default_factory=tuple)
    """Per pair and placement, in delivery order."""
    pauses_by_reason: dict[str, int] = field(default_factory=dict)
    """Times the generator paused, by reason (``pause`` events)."""

    @property
    def synchronised(self) -> bool:
        """Beats were seen and every pulse was synchronised to one."""
        return self.beats > 0 and self.unsynchronised_pulses == 0

    def to_json(self) -> dict[str, Any]:
        """The ``summary`` part of ``irelab deliver --json``."""
        out = asdict(self)
        out["aborts"] = list(self.aborts)
        out["total_energy_J"] = round(self.total_energy_J, 6)
        out["procedure_time_s"] = round(self.procedure_time_s, 3)
        out["pairs"] = [{"pair_index": p.key.pair, "placement": p.key.placement,
                         "pair": p.pair, "voltage_V": p.voltage_V, "pulses": p.pulses,
                         "test_pulses": p.test_pulses, "max_current_A": p.max_current_A,
                         "energy_J": round(p.energy_J, 6), "aborted": p.aborted}
                        for p in self.pairs]
        return out


def summarise_events(events: Iterable[DeliveryEvent]) -> DeliverySummary:
    """Recount a summary from the events of a run (or of a log read back)."""
    skips: Counter[str] = Counter()
    pauses: Counter[str] = Counter()
    beats = unsync = 0
    energy = 0.0
    last_ms = 0.0
    aborts: list[str] = []
    per_pair: dict[PairKey, dict[str, Any]] = {}
    for event in events:
        last_ms = max(last_ms, event.t_ms)
        if event.event == EventType.BEAT:
            beats += 1
        elif event.event == EventType.SKIP:
            skips[str(event.reason)] += 1
        elif event.event == EventType.PAUSE:
            pauses[str(event.reason)] += 1
        elif event.event == EventType.ABORT:
            aborts.append(str(event.reason))
            if event.key is not None and event.key in per_pair:
                per_pair[event.key]["aborted"] = True
        elif event.event == EventType.PULSE:
            entry = per_pair.setdefault(event.key, {
                "pair": event.pair, "voltage_V": event.voltage_V, "pulses": 0, "test_pulses": 0,
                "max_current_A": 0.0, "energy_J": 0.0, "aborted": False})
            entry["test_pulses" if event.phase == "test" else "pulses"] += 1
            entry["max_current_A"] = max(entry["max_current_A"], event.current_A)
            entry["energy_J"] += event.energy_J
            energy += event.energy_J
            unsync += event.synchronised is False
    pairs = tuple(PairDelivery(key, **entry) for key, entry in per_pair.items())
    return DeliverySummary(
        pulses_per_pair={p.label: p.pulses for p in pairs if p.pulses},
        test_pulses_per_pair={p.label: p.test_pulses for p in pairs if p.test_pulses},
        skips_by_reason=dict(skips), beats=beats, total_energy_J=energy,
        procedure_time_s=last_ms / 1e3, aborts=tuple(aborts), unsynchronised_pulses=unsync,
        pairs=pairs, pauses_by_reason=dict(pauses))


class EventLog:
    """Collects events in memory and, with ``stream``, writes each as a flushed JSON line."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self.events: list[DeliveryEvent] = []

    def emit(self, event: DeliveryEvent) -> None:
        # kept as written (t_ms to 1 us), so the summary equals one recounted from the file
        event = replace(event, t_ms=round(event.t_ms, 3))
        self.events.append(event)
        if self._stream is not None:
            self._stream.write(json.dumps(event.to_json(), allow_nan=False) + "\n")
            self._stream.flush()

    def summary(self) -> DeliverySummary:
        return summarise_events(self.events)


@dataclass(frozen=True)
class DeliveryLog:
    """A delivery log read back: its events, in file order."""

    source: str
    events: tuple[DeliveryEvent, ...]
    lines: tuple[int, ...] = ()
    """The file line of each event (for errors that name it)."""

    def summary(self) -> DeliverySummary:
        return summarise_events(self.events)

    def where(self, index: int) -> str:
        """``line N`` of the ``index``-th event."""
        return f"line {self.lines[index]}" if self.lines else f"event {index + 1}"


# --- the reader ---------------------------------------------------------------------------------
_KEYS = frozenset(f.name for f in fields(DeliveryEvent) if f.name != "key") | {"pair_index",
                                                                                "placement"}


def _number(source: str, key: str, value: Any, *, required: bool = False) -> float | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(source, key, "a finite number", value)
    return float(value)


def _index(source: str, key: str, value: Any, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(source, key, "a whole number from 0", value)
    return value


def _text(source: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(source, key, "a string or null", value)
    return value


def _event(raw: Mapping[str, Any], source: str, where: str) -> DeliveryEvent:
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        expected = "the event key 'event' (this log is from an earlier version that wrote " \
            "'type')" if "type" in unknown and "event" not in raw else \
            f"only the delivery-log keys ({', '.join(sorted(_KEYS))})"
        raise InputError(source, f"{where}.{unknown[0]}", expected)
    try:
        kind = EventType(raw.get("event"))
    except ValueError:
        raise InputError(source, f"{where}.event", "one of " + ", ".join(EventType),
                         raw.get("event")) from None
    pulse = kind == EventType.PULSE
    t_ms = _number(source, f"{where}.t_ms", raw.get("t_ms"), required=True)
    if t_ms < 0:
        raise InputError(source, f"{where}.t_ms", "a time >= 0 ms", t_ms)
    pair_index = _index(source, f"{where}.pair_index", raw.get("pair_index"), required=pulse)
    placement = _index(source, f"{where}.placement", raw.get("placement"),
                       required=pair_index is not None)
    if placement is not None and pair_index is None:
        raise InputError(source, f"{where}.pair_index", "the pair of this placement")
    phase = _text(source, f"{where}.phase", raw.get("phase"))
    if pulse and phase not in PHASES:
        raise InputError(source, f"{where}.phase", "test or treatment", phase)
    synchronised = raw.get("synchronised")
    if synchronised is not None and not isinstance(synchronised, bool):
        raise InputError(source, f"{where}.synchronised", "true, false or null", synchronised)
    if pulse and synchronised is None:
        raise InputError(source, f"{where}.synchronised", "true or false for a pulse")
    beat = raw.get("beat_sample")
    if beat is not None:
        beat = _index(source, f"{where}.beat_sample", beat, required=True)
    item, confirmed_by, confirmed_at, tof_count = _procedure_keys(raw, kind, source, where)
    return DeliveryEvent(
        t_ms=t_ms, event=kind, pair=_text(source, f"{where}.pair", raw.get("pair")),
        voltage_V=_number(source, f"{where}.voltage_V", raw.get("voltage_V"), required=pulse),
        current_A=_number(source, f"{where}.current_A", raw.get("current_A"), required=pulse),
        energy_J=_number(source, f"{where}.energy_J", raw.get("energy_J"), required=pulse),
        beat_sample=beat, reason=_text(source, f"{where}.reason", raw.get("reason")),
        phase=phase, synchronised=synchronised,
        state=_text(source, f"{where}.state", raw.get("state")),
        detail=_text(source, f"{where}.detail", raw.get("detail")),
        key=None if pair_index is None else PairKey(pair_index, placement),
        item=item, confirmed_by=confirmed_by, confirmed_at=confirmed_at, tof_count=tof_count)


def _procedure_keys(raw: Mapping[str, Any], kind: EventType, source: str, where: str
                    ) -> tuple[str | None, str | None, str | None, int | None]:
    """``item``, ``confirmed_by``, ``confirmed_at`` and ``tof_count``, checked; a ``check``
    needs the first three, a ``tof`` event the last three."""
    item = _text(source, f"{where}.item", raw.get("item"))
    if item is not None and item not in set(CheckItem):
        raise InputError(source, f"{where}.item", "a check item (" + ", ".join(CheckItem) + ")",
                         item)
    by = _text(source, f"{where}.confirmed_by", raw.get("confirmed_by"))
    at = _text(source, f"{where}.confirmed_at", raw.get("confirmed_at"))
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise InputError(source, f"{where}.confirmed_at", "an ISO 8601 time", at) from None
    count = raw.get("tof_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or not 0 <= count <= MAX_TOF):
        raise InputError(source, f"{where}.tof_count", f"a train-of-four count 0-{MAX_TOF}",
                         count)
    needed = {EventType.CHECK: (("item", item), ("confirmed_by", by), ("confirmed_at", at)),
              EventType.TOF: (("tof_count", count), ("confirmed_by", by),
                              ("confirmed_at", at))}.get(kind, ())
    for key, value in needed:
        if value is None:
            raise InputError(source, f"{where}.{key}", f"a value for a {kind} event")
    return item, by, at, count


def read_delivery_log(path: str | Path) -> DeliveryLog:
    """Read a delivery log written by :class:`EventLog` (blank lines are skipped)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(source, "", "a readable delivery log (JSON lines)", exc.strerror) \
            from None
    except UnicodeDecodeError:
        raise InputError(source, "", "a UTF-8 text file of JSON lines") from None
    events, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(source, where, "one JSON object per line", line[:60]) from None
        if not isinstance(raw, Mapping):
            raise InputError(source, where, "a JSON object", line[:60])
        events.append(_event(raw, source, where))
        numbers.append(number)
    if not events:
        raise InputError(source, "", "at least one event")
    return DeliveryLog(source, tuple(events), tuple(numbers))

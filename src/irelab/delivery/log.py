"""The delivery log: one JSON object per line per event, and the summary recounted from it.

Every event carries the same keys (null where not applicable) so that a reader never guesses:
``t_ms`` (ms from the start of the stream), ``type`` (:class:`EventType`), ``pair``
(``ANODE-CATHODE``), ``voltage_V``, ``current_A``, ``energy_J`` (V x I x pulse width),
``beat_sample`` (estimated R-peak sample), ``reason`` (skip reason, quality reason, or why a
state changed / the run stopped), ``phase`` (``test`` or ``treatment`` for pulses),
``synchronised`` (pulses), ``state`` (new state for ``state`` events) and ``detail`` (a sentence).
The registry's importer (``irelab.registry.procedure_import``) reads this format.

Each line is written with one ``write`` and flushed, so a crash leaves only whole lines.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any


class EventType(StrEnum):
    """Kinds of log events."""

    BEAT = "beat"
    PULSE = "pulse"
    SKIP = "skip"
    STATE = "state"
    ABORT = "abort"
    QUALITY = "quality"


@dataclass(frozen=True)
class DeliveryEvent:
    """One log line (see module docstring for the keys)."""

    t_ms: float
    type: EventType
    pair: str | None = None
    voltage_V: float | None = None  # noqa: N815
    current_A: float | None = None  # noqa: N815
    energy_J: float | None = None  # noqa: N815
    beat_sample: int | None = None
    reason: str | None = None
    phase: str | None = None
    synchronised: bool | None = None
    state: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this event (the log-line contract)."""
        out = asdict(self)
        out["type"] = str(self.type)
        out["t_ms"] = round(self.t_ms, 3)
        return out


@dataclass(frozen=True)
class DeliverySummary:
    """What a run delivered, recountable from its log (:func:`summarise_events`)."""

    pulses_per_pair: dict[str, int]
    test_pulses_per_pair: dict[str, int]
    skips_by_reason: dict[str, int]
    beats: int
    total_energy_J: float  # noqa: N815
    procedure_time_s: float
    aborts: tuple[str, ...] = field(default_factory=tuple)
    unsynchronised_pulses: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``summary`` part of ``irelab deliver --json``."""
        out = asdict(self)
        out["aborts"] = list(self.aborts)
        out["total_energy_J"] = round(self.total_energy_J, 6)
        out["procedure_time_s"] = round(self.procedure_time_s, 3)
        return out


def summarise_events(events: Iterable[Mapping[str, Any]]) -> DeliverySummary:
    """Recount a summary from event objects (e.g. the parsed lines of a log file)."""
    pulses: Counter[str] = Counter()
    tests: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    beats = unsync = 0
    energy = 0.0
    last_ms = 0.0
    aborts: list[str] = []
    for event in events:
        kind = event["type"]
        last_ms = max(last_ms, float(event["t_ms"]))
        if kind == EventType.BEAT:
            beats += 1
        elif kind == EventType.SKIP:
            skips[event["reason"]] += 1
        elif kind == EventType.ABORT:
            aborts.append(str(event["reason"]))
        elif kind == EventType.PULSE:
            target = tests if event["phase"] == "test" else pulses
            target[event["pair"]] += 1
            energy += float(event["energy_J"])
            unsync += event["synchronised"] is False
    return DeliverySummary(dict(pulses), dict(tests), dict(skips), beats, energy,
                           last_ms / 1e3, tuple(aborts), unsync)


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """The events of a log file, one dict per non-blank line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class EventLog:
    """Collects events in memory and, with ``stream``, writes each as a flushed JSON line."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self.events: list[DeliveryEvent] = []

    def emit(self, event: DeliveryEvent) -> None:
        self.events.append(event)
        if self._stream is not None:
            self._stream.write(json.dumps(event.to_json(), allow_nan=False) + "\n")
            self._stream.flush()

    def summary(self) -> DeliverySummary:
        return summarise_events(e.to_json() | {"t_ms": e.t_ms} for e in self.events)

"""Pre-arm checks: what must be confirmed before the generator arms, and the train-of-four (TOF)
counts entered while it delivers.

IRE is given under general anaesthesia with deep neuromuscular block (the pulses would otherwise
make the muscles contract) and synchronised to the ECG (Martin RCG et al., Anesth Pain Med
5(3):e22786, 2015; abstract read, not the full text). Before arming, each :class:`CheckItem`
must be confirmed by a named person at a time no later than arming:

- ``general_anaesthesia``: the patient is under general anaesthesia;
- ``neuromuscular_block``: with a TOF count of 0 (no twitch of four: a complete block; the
  threshold of 0 is this checklist's design choice, stricter than "some twitches suppressed");
- ``ecg_synchroniser``: ECG leads on and the synchroniser's signal quality checked;
- ``probe_positions``: probe positions verified by imaging;
- ``exposed_lengths``: exposed electrode lengths set as planned.

The record file (``irelab deliver --checklist FILE``, YAML), read and checked only here::

    armed_at: 2026-12-01T09:30:00          # when the generator arms (the log's t = 0)
    items:
      general_anaesthesia: {confirmed_by: Dr A. Anaesthetist, time: 2026-12-01T09:05:00}
      neuromuscular_block: {confirmed_by: Dr A. Anaesthetist, time: 2026-12-01T09:20:00,
                            tof_count: 0}
      ecg_synchroniser: {confirmed_by: N. Nurse, time: 2026-12-01T09:22:00}
      probe_positions: {confirmed_by: Dr R. Radiologist, time: 2026-12-01T09:26:00,
                        note: CT after placement}
      exposed_lengths: {confirmed_by: Dr R. Radiologist, time: 2026-12-01T09:27:00}
    train_of_four:                         # counts entered during delivery (optional)
      - {time: 2026-12-01T09:32:10, count: 2, entered_by: Dr A. Anaesthetist}
      - {time: 2026-12-01T09:32:50, count: 0, entered_by: Dr A. Anaesthetist}

Times are ISO 8601 (all with a UTC offset, or all without). :func:`arming_refusal` is the one
decision whether the generator may arm: it names the first item missing, unconfirmed, confirmed
after arming, or (the block) confirmed with a TOF count other than 0; anything it cannot read
is a refusal too (fail closed). During delivery a count above 0 pauses the generator and a
count of 0 lets it resume (:mod:`irelab.delivery.session`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irelab.errors import InputError

__all__ = ["BLOCK_LOST", "MAX_TOF", "CheckItem", "Checklist", "Confirmation", "TofEntry",
           "arming_refusal", "checklist_from_mapping", "load_checklist", "prompt_checklist"]

MAX_TOF = 4
"""A train-of-four count is 0-4 twitches (four stimuli)."""

BLOCK_LOST = "neuromuscular_block"
"""The ``reason`` of a pause for a train-of-four count above 0 (in the delivery log)."""


class CheckItem(StrEnum):
    """The pre-arm checks, in the order they are asked (module docstring)."""

    GENERAL_ANAESTHESIA = "general_anaesthesia"
    NEUROMUSCULAR_BLOCK = "neuromuscular_block"
    ECG_SYNCHRONISER = "ecg_synchroniser"
    PROBE_POSITIONS = "probe_positions"
    EXPOSED_LENGTHS = "exposed_lengths"

    @property
    def question(self) -> str:
        """What the operator confirms, as people say it."""
        return _QUESTIONS.get(self, self.label)

    @property
    def label(self) -> str:
        """The item's name for people."""
        return _LABELS[self]


_LABELS = {
    CheckItem.GENERAL_ANAESTHESIA: "general anaesthesia",
    CheckItem.NEUROMUSCULAR_BLOCK: "neuromuscular block",
    CheckItem.ECG_SYNCHRONISER: "ECG leads and synchroniser signal quality",
    CheckItem.PROBE_POSITIONS: "probe positions verified by imaging",
    CheckItem.EXPOSED_LENGTHS: "exposed lengths set as planned",
}
_QUESTIONS = {CheckItem.NEUROMUSCULAR_BLOCK: "neuromuscular block (train-of-four count 0)"}


@dataclass(frozen=True)
class Confirmation:
    """One item confirmed by ``confirmed_by`` at ``time`` (the block with its TOF count)."""

    item: CheckItem
    confirmed_by: str
    time: dt.datetime
    tof_count: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class TofEntry:
    """A train-of-four count entered during delivery, ``at_s`` seconds after arming."""

    at_s: float
    count: int
    entered_by: str
    time: dt.datetime


@dataclass(frozen=True)
class Checklist:
    """The confirmations, the moment of arming and the TOF counts entered during delivery (in
    time order). Build it with :func:`load_checklist` or :func:`prompt_checklist`; whether the
    generator may arm is :func:`arming_refusal`'s decision."""

    armed_at: dt.datetime
    confirmations: tuple[Confirmation, ...]
    tof: tuple[TofEntry, ...] = ()
    source: str = "<checklist>"

    def confirmation(self, item: CheckItem) -> Confirmation | None:
        return next((c for c in self.confirmations if c.item == item), None)


def arming_refusal(checklist: Checklist | None) -> InputError | None:
    """Why the generator must not arm (an error naming the item), or None when every item is
    confirmed before arming and the TOF count was 0."""
    if checklist is None:
        return InputError("command line", "--checklist", "the pre-arm checklist: "
                          + ", ".join(item.question for item in CheckItem))
    source = checklist.source
    for item in CheckItem:
        got = checklist.confirmation(item)
        key = f"items.{item}"
        if got is None:
            return InputError(source, key, f"a confirmation of {item.question} before arming "
                              "(confirmed_by and time)")
        if not got.confirmed_by.strip():
            return InputError(source, f"{key}.confirmed_by", f"who confirmed {item.question}")
        if got.time > checklist.armed_at:
            return InputError(source, f"{key}.time", f"a confirmation of {item.question} "
                              f"before arming at {checklist.armed_at.isoformat()}",
                              got.time.isoformat())
        if item == CheckItem.NEUROMUSCULAR_BLOCK and got.tof_count != 0:
            return InputError(source, f"{key}.tof_count", "a train-of-four count of 0 (complete "
                              "neuromuscular block) before arming", got.tof_count)
    return None


# --- the record file ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ItemSpec(_Strict):
    confirmed_by: Annotated[str, Field(min_length=1)]
    time: dt.datetime
    tof_count: Annotated[int, Field(ge=0, le=MAX_TOF, strict=True)] | None = None
    note: str | None = None


class _TofSpec(_Strict):
    time: dt.datetime
    count: Annotated[int, Field(ge=0, le=MAX_TOF, strict=True)]
    entered_by: Annotated[str, Field(min_length=1)]


class _ChecklistSpec(_Strict):
    armed_at: dt.datetime
    items: dict[CheckItem, _ItemSpec] = {}
    train_of_four: list[_TofSpec] = []


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _spec(mapping: object, source: str) -> _ChecklistSpec:
    if not isinstance(mapping, Mapping):
        raise InputError(source, "", "a YAML mapping with armed_at, items and train_of_four")
    try:
        return _ChecklistSpec.model_validate(dict(mapping))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = tuple(error["loc"])
        if error["type"] == "enum" or (len(loc) >= 2 and loc[0] == "items"
                                       and error["type"] == "extra_forbidden" and len(loc) == 2):
            expected = "a check item (" + ", ".join(CheckItem) + ")"
        elif error["type"] == "extra_forbidden":
            expected = "a known key"
        elif error["type"] == "missing":
            expected = "this required key"
        else:
            expected = error["msg"].removeprefix("Input should be ")
        got = error.get("input") if error["type"] not in ("missing", "extra_forbidden") else None
        raise InputError(source, _where(loc[:-1] if error["type"] == "enum" else loc),
                         expected, got if isinstance(got, str | int | float) else None) from None


def _same_kind_of_time(times: list[tuple[str, dt.datetime]], source: str) -> None:
    aware = [t.tzinfo is not None for _, t in times]
    if any(aware) and not all(aware):
        key = next(k for (k, _), a in zip(times, aware, strict=True) if a != aware[0])
        raise InputError(source, key, "a time with a UTC offset like the others (all times with "
                         "an offset, or none)" if aware[0] else
                         "a time without a UTC offset like the others (all times with an "
                         "offset, or none)")


def checklist_from_mapping(mapping: object, source: str = "<checklist>") -> Checklist:
    """The :class:`Checklist` of a record file's content (one error naming the key)."""
    spec = _spec(mapping, source)
    times = [("armed_at", spec.armed_at)]
    times += [(f"items.{item}.time", entry.time) for item, entry in spec.items.items()]
    times += [(f"train_of_four[{i}].time", e.time) for i, e in enumerate(spec.train_of_four)]
    _same_kind_of_time(times, source)
    tof = []
    for i, entry in enumerate(spec.train_of_four):
        at_s = (entry.time - spec.armed_at).total_seconds()
        if at_s < 0:
            raise InputError(source, f"train_of_four[{i}].time", "a count entered during "
                             f"delivery, at or after arming ({spec.armed_at.isoformat()}); the "
                             "count before arming belongs to items.neuromuscular_block",
                             entry.time.isoformat())
        if tof and at_s < tof[-1].at_s:
            raise InputError(source, f"train_of_four[{i}].time", "counts in time order",
                             entry.time.isoformat())
        tof.append(TofEntry(at_s, entry.count, entry.entered_by, entry.time))
    confirmations = tuple(Confirmation(item, entry.confirmed_by, entry.time, entry.tof_count,
                                       entry.note)
                          for item in CheckItem for entry in (spec.items.get(item),)
                          if entry is not None)
    return Checklist(spec.armed_at, confirmations, tuple(tof), source)


def load_checklist(path: str | Path) -> Checklist:
    """Read a pre-arm checklist record (YAML, module docstring)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(source, "", "a readable checklist file (YAML)", exc.strerror) from None
    except UnicodeDecodeError:
        raise InputError(source, "", "a UTF-8 text file") from None
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InputError(source, where, "valid YAML", getattr(exc, "problem", None)) from None
    return checklist_from_mapping(mapping, source)


# --- asked at a terminal ------------------------------------------------------------------------
def prompt_checklist(confirm: Callable[[str], bool], ask: Callable[[str], str],
                     count: Callable[[str], int],
                     now: Callable[[], dt.datetime]) -> Checklist:
    """Ask each item in turn (``confirm`` a yes/no question, ``ask`` for who confirms,
    ``count`` the TOF count); ``now`` stamps each confirmation and the arming. The first item
    not confirmed stops the questions: arming is then refused naming it
    (:func:`arming_refusal`). Counts during delivery come only from a record file."""
    confirmations = []
    for item in CheckItem:
        if not confirm(f"Confirm {item.question}?"):
            break
        tof = count("Train-of-four count now (0-4)") if \
            item == CheckItem.NEUROMUSCULAR_BLOCK else None
        if tof is not None and not 0 <= tof <= MAX_TOF:
            raise InputError("terminal", f"items.{item}.tof_count", "a count of 0-4", tof)
        who = ask(f"{item.question}: confirmed by (name)")
        confirmations.append(Confirmation(item, who, now(), tof))
    return Checklist(now(), tuple(confirmations), (), "terminal")

"""Read the delivery plan (pairs, voltages, pulses, predicted currents) from a case/plan YAML file.

Only the keys delivery needs are read here (issue 2 contract: ``name``, ``probes[].name``,
``protocol.pulses``, ``protocol.pulse_width_us``, ``protocol.pairs[]`` with ``anode``,
``cathode``, ``voltage_V`` and the planner's optional ``predicted_current_A``). A pair without a
predicted current gets it from the field simulation of the case (``irelab.simulation``), on the
case grid or at ``spacing_mm``. Everything is checked before any pulse: unknown probe names, no
pairs, voltages outside (0, 3000] V raise :class:`~irelab.errors.InputError`.

Pullbacks and repositioning (``protocol.pullback_steps_mm`` or ``protocol.placements``): the
pairs are delivered at the first position, then repeated at each later one; each repetition is
its own :class:`PairProtocol` with its ``position`` and that position's current
(``predicted_currents_A[k]`` when the planner wrote them, else ``predicted_current_A``, the
largest over positions, else the simulation's).
Bipolar probes are addressed as ``<probe>:distal`` and ``<probe>:proximal``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from irelab.delivery.generator import DeliveryPlan, GeneratorConfig, PairProtocol
from irelab.errors import InputError


def _number(source: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(source, key, "a number", value)
    return float(value)


def _positions(protocol: Mapping[str, Any], source: str) -> int:
    """Placements of the probe array: ``placements`` entries, or 1 + ``pullback_steps_mm``."""
    for key, extra in (("placements", 0), ("pullback_steps_mm", 1)):
        value = protocol.get(key) or []
        if not isinstance(value, list):
            raise InputError(source, f"protocol.{key}", "a list", value)
        if value:
            return len(value) + extra
    return 1


def parse_delivery_plan(mapping: Mapping[str, Any], source: str = "<plan>",
               currents_A: list[float] | None = None,  # noqa: N803
               config: GeneratorConfig | None = None) -> DeliveryPlan:
    """A :class:`DeliveryPlan` from a case mapping; ``currents_A`` fills missing currents."""
    config = config or GeneratorConfig()
    if not isinstance(mapping, Mapping):
        raise InputError(source, "", "a YAML mapping with probes and protocol")
    probes = mapping.get("probes")
    if not isinstance(probes, list) or not probes:
        raise InputError(source, "probes", "a non-empty list of probes")
    names = set()
    for p in probes:
        if isinstance(p, Mapping):
            bipolar = isinstance(p.get("bipolar"), Mapping)
            names |= ({f"{p.get('name')}:distal", f"{p.get('name')}:proximal"} if bipolar
                      else {str(p.get("name"))})
    protocol = mapping.get("protocol")
    if not isinstance(protocol, Mapping):
        raise InputError(source, "protocol", "a mapping with pulses, pulse_width_us and pairs")
    raw_pairs = protocol.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        raise InputError(source, "protocol.pairs", "a non-empty list of electrode pairs",
                         raw_pairs)
    pulses = protocol.get("pulses", 90)
    if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 1:
        raise InputError(source, "protocol.pulses", "a positive whole number", pulses)
    width = _number(source, "protocol.pulse_width_us", protocol.get("pulse_width_us", 90))
    positions = _positions(protocol, source)
    pairs = []
    for i, raw in enumerate(raw_pairs):
        key = f"protocol.pairs[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(source, key, "a mapping with anode, cathode and voltage_V", raw)
        for end in ("anode", "cathode"):
            if str(raw.get(end)) not in names:
                raise InputError(source, f"{key}.{end}", f"one of the probes {sorted(names)}",
                                 raw.get(end))
        volts = _number(source, f"{key}.voltage_V", raw.get("voltage_V"))
        if not 0 < volts <= config.max_voltage_V:
            raise InputError(source, f"{key}.voltage_V",
                             f"a voltage in (0, {config.max_voltage_V:g}] V", volts)
        per_position = raw.get("predicted_currents_A")
        for position in range(positions):
            if isinstance(per_position, list) and len(per_position) == positions:
                current = _number(source, f"{key}.predicted_currents_A[{position}]",
                                  per_position[position])
            elif raw.get("predicted_current_A") is not None:
                current = _number(source, f"{key}.predicted_current_A",
                                  raw["predicted_current_A"])
            elif currents_A is not None:
                current = float(currents_A[position * len(raw_pairs) + i])
            else:
                raise InputError(source, f"{key}.predicted_current_A",
                                 "a predicted current (or a case the field simulation can run)")
            pairs.append(PairProtocol(str(raw["anode"]), str(raw["cathode"]), volts, current,
                                      position))
    order = sorted(range(len(pairs)), key=lambda k: pairs[k].position)  # position by position
    plan = DeliveryPlan(str(mapping.get("name", Path(source).stem)),
                        tuple(pairs[k] for k in order), pulses, width, source)
    plan.validate(config)
    return plan


def load_delivery_plan(path: str | Path, spacing_mm: float | None = None,
              config: GeneratorConfig | None = None) -> DeliveryPlan:
    """Read a case/plan file; simulate the case for pairs without ``predicted_current_A``."""
    path = Path(path)
    source = str(path)
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(source, "", "a readable YAML case or plan file", str(exc)) from exc
    if not isinstance(mapping, Mapping):
        raise InputError(source, "", "a YAML mapping with probes and protocol")
    pairs = (mapping.get("protocol") or {}).get("pairs") if isinstance(
        mapping.get("protocol"), Mapping) else None
    currents = None
    if isinstance(pairs, list) and any(
            isinstance(p, Mapping) and p.get("predicted_current_A") is None for p in pairs):
        n = len(pairs) * _positions(mapping["protocol"], source)
        parse_delivery_plan(mapping, source, [1.0] * n, config)  # names and voltages first
        currents = _simulated_currents(path, spacing_mm)
    return parse_delivery_plan(mapping, source, currents, config)


def _simulated_currents(path: Path, spacing_mm: float | None) -> list[float]:
    try:
        from irelab.case import load_case
        from irelab.simulation import simulate_case
    except ModuleNotFoundError as exc:
        raise InputError(str(path), "protocol.pairs[].predicted_current_A",
                         "predicted currents (the field simulation is not installed)") from exc
    result = simulate_case(load_case(path), spacing_mm=spacing_mm)
    return [p.current_A for p in result.pairs]  # position by position, pairs in file order

"""What to deliver, from a case (a plan is a case): every pair at every placement, in order.

The pairs are delivered at the first placement of the probe array, then repeated at each later
one (pullbacks and sideways repositioning); each repetition is its own
:class:`~irelab.delivery.PairProtocol` whose ``key`` is the pair and placement, with that
placement's predicted current (``predicted_currents_A[k]`` when the planner wrote them, else
``predicted_current_A``, the largest over placements). A case without predicted currents gets
them from the field simulation of the case (:func:`irelab.simulation.simulate_case`), on the
case grid or at ``spacing_mm``. Bipolar electrodes are addressed as ``<probe>:distal`` and
``<probe>:proximal``. Everything is checked before any pulse.
"""

from __future__ import annotations

from pathlib import Path

from irelab.case import Case, PairKey, Placement, load_case
from irelab.delivery.generator import DeliveryPlan, GeneratorConfig, PairProtocol
from irelab.errors import InputError

__all__ = ["delivery_plan", "load_delivery_plan"]


def _simulated_currents(case: Case, spacing_mm: float | None) -> dict[PairKey, float]:
    from irelab.simulation import simulate_case

    return {p.key: abs(p.current_A) for p in simulate_case(case, spacing_mm=spacing_mm).pairs}


def delivery_plan(case: Case, spacing_mm: float | None = None,
                  config: GeneratorConfig | None = None) -> DeliveryPlan:
    """The :class:`DeliveryPlan` of ``case``'s protocol (simulating the case for currents the
    plan does not give)."""
    config = config or GeneratorConfig()
    protocol = case.protocol
    if protocol is None or not protocol.pairs:
        raise InputError(case.source, "protocol.pairs", "at least one electrode pair to deliver")
    keys = list(protocol.keys())
    currents = {key: protocol.pairs[key.pair].current_at(key.placement) for key in keys}
    if any(c is None for c in currents.values()):
        for key, pair in enumerate(protocol.pairs):
            if not 0 < pair.voltage_V <= config.max_voltage_V:  # before any simulation
                raise InputError(case.source, f"protocol.pairs[{key}].voltage_V",
                                 f"a voltage in (0, {config.max_voltage_V:g}] V", pair.voltage_V)
        simulated = _simulated_currents(case, spacing_mm)
        currents = {key: simulated[key] if c is None else c for key, c in currents.items()}
    pairs = tuple(PairProtocol(protocol.pairs[key.pair].anode, protocol.pairs[key.pair].cathode,
                               protocol.pairs[key.pair].voltage_V, currents[key], key)
                  for key in keys)
    plan = DeliveryPlan(case.name, pairs, protocol.pulses, protocol.pulse_width_us, case.source,
                        moves=_placement_moves(protocol.placements),
                        train_pause_s=protocol.train_pause_s,
                        pair_pause_s=protocol.pair_pause_s)
    plan.validate(config)
    return plan


def _placement_moves(placements: tuple[Placement, ...]) -> tuple[str, ...]:
    """How the probe array gets from each placement to the next, for people (the first: as
    placed)."""
    moves = ["probes as placed"]
    for before, after in zip(placements[:-1], placements[1:], strict=True):
        back = after.back_mm - before.back_mm
        shift = [round(b - a, 3) + 0.0 for a, b in zip(before.shift_mm, after.shift_mm,
                                                        strict=True)]
        parts = []
        if back:
            parts.append(f"pulled back {back:g} mm along the probes" if back > 0 else
                         f"advanced {-back:g} mm along the probes")
        if any(shift):
            parts.append("moved sideways by [" + ", ".join(f"{c:g}" for c in shift) + "] mm")
        moves.append(" and ".join(parts) or "probes in place")
    return tuple(moves)


def load_delivery_plan(path: str | Path, spacing_mm: float | None = None,
                       config: GeneratorConfig | None = None) -> DeliveryPlan:
    """Read a case or plan file (:func:`irelab.case.load_case`) and make its delivery plan."""
    return delivery_plan(load_case(path), spacing_mm, config)

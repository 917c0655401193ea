"""Voltages that cover the target with the probes fixed where they are: the re-plan's voltage
search (steps 2-4 of :mod:`irelab.procedure.replan`).

2. Current limit: a pair whose predicted current times the generator's rise over its pulse
   train (:func:`irelab.delivery.current_rise_factor`) would pass the limit (probes closer than
   planned) is lowered until it does not (predicted with ``I ~ V**CURRENT_EXPONENT``, solved).
3. Voltages: each uncovered voxel is given to the pair whose field there is nearest its
   threshold and that can still be raised; each such pair is raised to the voltage its worst
   voxel needs (``E ~ V**RAISE_EXPONENT`` at first, then the exponent each voxel showed between
   the pair's last two solves), within the voltage and current limits, and solved; until
   covered, no pair can be raised, or the work budget (pair solves) is spent. Once covered,
   each raised pair is bisected back down while the target stays covered.
4. An added pair: if pairs at their limits leave voxels uncovered, the probe pairs not yet in
   the protocol whose axes are 5-25 mm apart (the planner's limits, :class:`irelab.plan.
   PlanLimits`) are tried at their limits, nearest the uncovered voxels first; the one covering
   most is added and step 3 continues.

Whatever is reported is solved, never predicted. A small stand-alone search on the public field
solver (:class:`irelab.procedure.PlacedField`); the planner's stage "choose voltages to cover,
probes fixed" can replace :func:`cover` once it exists.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from irelab.case import Case, PairKey, Probe
from irelab.delivery import GeneratorConfig, current_rise_factor
from irelab.plan import PlanLimits
from irelab.procedure.field import FieldOutcome, PlacedField

__all__ = ["COVER_FACTOR", "Budget", "PairSearch", "as_planned", "cover"]

Progress = Callable[[str], None]

COVER_FACTOR = 1.003
"""A voxel counts as covered for the goal when its |E| exceeds its threshold by 0.3 %: the
planner's fine-grid slack (``irelab.plan.options.FINE_SLACK``, measured there: a fresh solve
of the written case changes |E| by less), so that ``irelab simulate`` of the re-planned plan
finds at least the coverage reported."""

RAISE_EXPONENT = 0.7
"""E ~ V**0.7 near the threshold when a pair is raised for the first time: the planner's
measured 1st-10th percentile (0.56-0.75) on the segment-8 phantom (``irelab.plan.voltages``);
a low exponent over-estimates the raise, which the solve then shows."""

EXPONENT_RANGE = (0.3, 1.5)
"""Bounds of the exponent a voxel shows between two solves (the measured 1st-99th percentiles
lie within 0.56-1.4, ``irelab.plan.voltages``; outside it the two fields are too close to tell)."""

CURRENT_EXPONENT = 1.15
"""I ~ V**1.15 for the liver's smoothed-step conductivity (``irelab.plan.search``): used only to
predict the voltage that meets the current limit, then solved."""

VOLTAGE_STEP_V = 10.0
"""Generator voltage resolution (NanoKnife: 10 V steps)."""

TRIM_SOLVES = 3
"""Bisection steps per raised pair (design choice: the first raise uses a deliberately low field
exponent, so it overshoots; three halvings bring the voltage within an eighth of that
overshoot)."""

NEW_PAIR_TRIALS = 2
"""Candidate pairs solved at their limits when the planned pairs cannot cover (design choice:
the two nearest the uncovered voxels; each costs one solve per placement)."""


@dataclass
class _Pair:
    """One pair of the search: its voltage and cap, its field and current at every placement,
    and its field at the voltage before (for the exponent each voxel shows)."""

    anode: str
    cathode: str
    volts: float
    cap: float
    fields: list[np.ndarray] = field(default_factory=list)
    currents: list[float] = field(default_factory=list)
    before: tuple[float, np.ndarray] | None = None
    short_at: float | None = None
    """The highest voltage at which it was raised because the target was still short."""

    @property
    def name(self) -> str:
        return f"{self.anode}-{self.cathode}"

    @property
    def reach(self) -> np.ndarray:
        """|E| of the pair, the largest over the placements."""
        return np.max(self.fields, axis=0)


@dataclass
class Budget:
    """Pair solves left (the work budget of a re-plan)."""

    left: int


class PairSearch:
    """The pairs of one set of probes being solved and raised (module docstring)."""

    def __init__(self, placed: PlacedField, generator: GeneratorConfig, pulses: int,
                 goal: float, budget: Budget, progress: Progress | None = None) -> None:
        self.placed, self.generator, self.goal, self.budget = placed, generator, goal, budget
        self.progress = progress
        self.cap_A = generator.current_limit_A / current_rise_factor(generator, pulses)
        self.pairs: list[_Pair] = []

    @property
    def positions(self) -> int:
        return self.placed.case.positions

    def can_solve(self, pairs: int = 1) -> bool:
        return self.budget.left >= pairs * self.positions

    def solve(self, pair: _Pair, volts: float, limit: bool = True) -> None:
        """``pair`` at ``volts`` at every placement; with ``limit``, lowered (and solved again)
        until its current times the rise is within the limit."""
        for _ in range(4):
            if pair.fields:
                pair.before = (pair.volts, pair.reach)
            if self.progress is not None:
                self.progress(f"{pair.name} {volts:g} V")
            solved = [self.placed.solve(pair.anode, pair.cathode, volts, k)
                      for k in range(self.positions)]
            self.budget.left -= self.positions
            pair.volts, pair.fields = volts, [f for f, _ in solved]
            pair.currents = [c for _, c in solved]
            peak = max(pair.currents)
            if not limit or peak <= self.cap_A:
                return
            lower = volts * (0.99 * self.cap_A / peak) ** (1 / CURRENT_EXPONENT)
            volts = pair.cap = math.floor(lower / VOLTAGE_STEP_V) * VOLTAGE_STEP_V
        raise RuntimeError(f"pair {pair.name}: no voltage within the current limit found")

    def e_max(self) -> np.ndarray:
        out = np.zeros(self.placed.counted.shape)
        for pair in self.pairs:
            for f in pair.fields:
                np.maximum(out, f, out=out)
        return out

    def short(self) -> np.ndarray:
        """Counted target voxels short of the threshold times :data:`COVER_FACTOR`."""
        return self.placed.counted & ~self.placed.covered(self.e_max(), COVER_FACTOR)

    def coverage(self, factor: float = COVER_FACTOR) -> float:
        n = int(self.placed.counted.sum())
        return int(self.placed.covered(self.e_max(), factor).sum()) / n if n else 1.0

    @property
    def covered(self) -> bool:
        return self.coverage() >= self.goal

    def outcome(self) -> FieldOutcome:
        currents = {PairKey(i, k): c for i, pair in enumerate(self.pairs)
                    for k, c in enumerate(pair.currents)}
        return self.placed.outcome(self.e_max(), currents)


def _needed_volts(volts: float, now: np.ndarray, before: tuple[float, np.ndarray] | None,
                  need: np.ndarray) -> float:
    """The voltage at which a pair whose field is ``now`` at ``volts`` (and ``before`` at the
    voltage before) reaches ``need`` on every one of these voxels (step 3)."""
    exponent = np.full(now.shape, RAISE_EXPONENT)
    if before is not None and before[0] != volts:
        v0, e0 = before
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = np.log(now / e0) / math.log(volts / v0)
        exponent = np.where(np.isfinite(shown), np.clip(shown, *EXPONENT_RANGE), exponent)
    ratio = need / np.maximum(now, 1e-30)
    return float(volts * np.max(ratio ** (1 / exponent)))


def _raise(search: PairSearch) -> None:
    """Step 3 of the module docstring."""
    need = (search.placed.region.threshold_V_per_m * COVER_FACTOR).ravel()
    while not search.covered and search.can_solve():
        short = np.flatnonzero(search.short().ravel())
        open_pairs = [p for p in search.pairs if p.volts < p.cap]
        if not open_pairs:
            return
        reach = np.stack([p.reach.ravel()[short] for p in open_pairs])
        best = np.argmax(reach / need[short], axis=0)
        raised = False
        for i, pair in enumerate(open_pairs):
            mine = short[best == i]
            if not mine.size or not search.can_solve():
                continue
            before = None if pair.before is None else (pair.before[0],
                                                       pair.before[1].ravel()[mine])
            volts = _needed_volts(pair.volts, pair.reach.ravel()[mine], before, need[mine])
            volts = math.ceil(volts / VOLTAGE_STEP_V) * VOLTAGE_STEP_V
            pair.short_at = pair.volts
            search.solve(pair, min(pair.cap, max(volts, pair.volts + VOLTAGE_STEP_V)))
            raised = True
        if not raised:
            return


def _trim(search: PairSearch) -> None:
    """Step 3, last: once covered, each raised pair is lowered by bisection towards the highest
    voltage at which the target was still short, as long as the target stays covered
    (:data:`TRIM_SOLVES` solves per pair at most)."""
    for pair in search.pairs:
        low = pair.short_at
        for _ in range(TRIM_SOLVES):
            if low is None or not search.covered or not search.can_solve():
                break
            mid = math.floor((low + pair.volts) / 2 / VOLTAGE_STEP_V) * VOLTAGE_STEP_V
            if mid <= low:
                break
            kept = (pair.volts, pair.fields, pair.currents, pair.before)
            search.solve(pair, mid)
            if not search.covered:
                low = mid
                pair.volts, pair.fields, pair.currents, pair.before = kept


def _candidates(search: PairSearch, probes: tuple[Probe, ...]) -> list[tuple[str, str]]:
    """Probe pairs not in the protocol, 5-25 mm apart, nearest the uncovered voxels first."""
    limits = PlanLimits()
    grid = search.placed.case.grid(search.placed.spacing_mm)
    centre_mm = (np.asarray(grid.origin_m) + np.argwhere(search.short()).mean(axis=0)
                 * grid.spacing_m) * 1e3
    taken = {frozenset((p.anode, p.cathode)) for p in search.pairs}
    mids = {p.name: np.asarray(p.tip_mm) + np.asarray(p.direction) * p.length_mm / 2
            for p in probes if p.bipolar_mm is None}
    found = []
    for a, b in itertools.combinations(mids, 2):
        gap_mm = float(np.linalg.norm(mids[a] - mids[b]))
        if frozenset((a, b)) not in taken and \
                limits.min_spacing_m * 1e3 <= gap_mm <= limits.max_spacing_m * 1e3:
            found.append((float(np.linalg.norm((mids[a] + mids[b]) / 2 - centre_mm)), a, b))
    return [(a, b) for _, a, b in sorted(found)]


def _add_pair(search: PairSearch, probes: tuple[Probe, ...]) -> _Pair | None:
    """Step 4: the candidate pair that covers most uncovered voxels, added at its limit."""
    short = search.short()
    best, best_count = None, 0
    for a, b in _candidates(search, probes)[:NEW_PAIR_TRIALS]:
        if not search.can_solve():
            break
        trial = _Pair(a, b, search.generator.max_voltage_V,
                      search.generator.max_voltage_V)
        search.solve(trial, trial.volts)
        search.pairs.append(trial)
        count = int((short & ~search.short()).sum())
        search.pairs.pop()
        if count > best_count:
            best, best_count = trial, count
    if best is not None:
        search.pairs.append(best)
    return best


def cover(placed: PlacedField, plan: Case, goal: float, generator: GeneratorConfig,
          budget: Budget, progress: Progress | None = None) -> tuple[PairSearch, FieldOutcome]:
    """Steps 2-4 for the probes of ``placed``, from ``plan``'s pairs and voltages: the search
    (its pairs at their final voltages) and the outcome at the planned voltages (before any
    change)."""
    protocol = plan.protocol
    search = PairSearch(placed, generator, protocol.pulses, goal, budget, progress)
    search.pairs = [_Pair(p.anode, p.cathode, p.voltage_V, generator.max_voltage_V)
                    for p in protocol.pairs]
    for pair in search.pairs:
        search.solve(pair, pair.volts, limit=False)
    at_planned = search.outcome()
    for pair in search.pairs:
        if max(pair.currents) > search.cap_A:
            search.solve(pair, pair.volts)
    _raise(search)
    while not search.covered and search.can_solve(2):
        if _add_pair(search, placed.case.probes) is None:
            break
        _raise(search)
    _trim(search)
    return search, at_planned


def as_planned(placed: PlacedField, plan: Case, generator: GeneratorConfig, budget: Budget,
               progress: Progress | None = None) -> FieldOutcome:
    """``plan``'s pairs solved at their voltages for the probes of ``placed`` (no limit
    applied)."""
    search = PairSearch(placed, generator, plan.protocol.pulses, 1.0, budget, progress)
    search.pairs = [_Pair(p.anode, p.cathode, p.voltage_V, p.voltage_V)
                    for p in plan.protocol.pairs]
    for pair in search.pairs:
        search.solve(pair, pair.volts, limit=False)
    return search.outcome()

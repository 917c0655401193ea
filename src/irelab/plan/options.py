"""The planner's settings: grids, limits, pulse schedule and the work budget of every stage.

Every budget counts work (layouts, solves, trial moves, placements, alternatives, repairs),
never seconds (:mod:`irelab.plan.journal`); ``max_minutes`` is the only clock and is off unless
the user asks for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from irelab.delivery.generator import GeneratorConfig
from irelab.plan.targets import PlanLimits
from irelab.thermal.schedule import PulseSchedule

__all__ = ["PlanOptions", "CLEARANCE_M", "FINE_SLACK", "SEARCH_RTOL", "THERMAL_STANDOFFS_M"]

CLEARANCE_M = 0.5e-3
"""Least distance between a probe's surface and a critical structure's voxelised surface
(design choice: half a fine voxel, so that a probe never shares a voxel with a vessel wall)."""

FINE_SLACK = 1.003
"""On the confirmation grid a voxel counts as covered when its |E| exceeds its threshold by
0.3 %: re-solving the written case from scratch (``irelab simulate``: no warm start,
coordinates rounded to 0.001 mm) changes |E| by less (measured: one voxel within 0.1 % of its
threshold flipped on the segment-8 demo without the margin), so the coverage reported is never
more than a fresh solve shows."""

THERMAL_STANDOFFS_M = (2e-3, 4e-3)
"""How much further than the clearance the planner holds the probes from a critical structure
that its thermal model still finds damaged after every repair of :mod:`irelab.plan.thermal`,
re-planning from the search once per step. Design choice, checked by the thermal model on every
re-plan rather than taken from a source (Joule heating is strongest beside the needles).
Measured at 1 mm on the planning test set's bile-duct phantoms (2026-12-02): the first plans put
a needle within about 2 mm of the duct (l30-duct-and-vein: 1.7 mm from its wall), and after every
repair the duct kept 32-111 mm^3 of damage (peaks 52-69 C); held 2 mm further, every one was
spared (peaks 44-49 C). Those figures predate the correction of the field reported beside a
needle that holds no cell centre (:meth:`irelab.field.operators.FieldOperator.e_field_central`),
which had counted up to 3.7 times the delivered power there: with it, the gentler protocols
alone spare a duct touching a 12 mm tumour, and a re-plan is needed only where they are not
allowed or not enough (``tests/plan/test_plan_thermal_stage.py``: a duct 0.5 mm from the
tumour, repairs limited to the first five, is spared at 4 mm)."""

SEARCH_RTOL = 1e-2
"""Solver tolerance for search solves (the default is 2e-3): measured on the segment-8 phantom
it changes pair currents by < 0.2 % and |E| by < 3 % at 1 mm, and saves ~25 % of the time.
Whatever is reported is solved again at the default tolerance."""


@dataclass(frozen=True)
class PlanOptions:
    """Planner settings (SI). ``fine_spacing_m`` is the confirmation grid; the search runs on
    ``coarse_spacing_m`` (or the confirmation grid's spacing, if that is coarser).

    ``coarse_safety``: the coarse search asks every target voxel for this factor above its
    threshold (the 2 mm grid averages the field over voxels that straddle the tumour's surface
    and vessel walls, where the 1 mm grid finds it up to ~15 % lower).
    ``refine``: run the local searches. ``lower_voltages``: lower each pair's voltage once the
    confirmation grid shows the tumour covered at the limits (else every pair stays at its
    limit). ``thermal``: run the thermal model (and repair a plan that would damage a critical
    structure).

    Work budget (counted, never timed): ``screen_keep`` screened layouts solved on the coarse
    grid; ``coarse_trials`` and ``fine_trials`` moves of the local search on each grid;
    ``max_extra_placements`` sideways placements of the array that repositioning may add
    (0 turns it off), ``placement_solves`` candidate placements solved per added placement;
    ``alternatives`` other layouts (one probe more, shorter electrodes with one pullback more,
    probes closer together) confirmed when the best one still misses the tumour or its margin;
    ``thermal_repairs`` repaired protocols simulated when the thermal model finds damage in a
    critical structure; ``thermal_replans`` re-plans (from the search) with the probes held
    further from a structure still damaged after those repairs (:data:`THERMAL_STANDOFFS_M`).

    ``standoff_m``: extra distance (m) beyond the clearance between the probes and each named
    critical structure, as ``((name, metres), ...)``; the thermal re-plans set it.

    ``schedule``: the pulses and pauses the thermal model delivers; by default the generator's
    test pulses before the treatment pulses, as the delivery simulator gives them.

    ``max_minutes``: an explicit wall-clock limit (None: none). A plan it cuts short depends on
    the machine's speed and says so (``PlanResult.cut_short``).

    ``workers``: processes that solve the pairs of a placement side by side (1: all in this
    process). Speed only: the plan is the same for any number (:mod:`irelab.plan.workers`).
    ``threshold_factor``: the planner covers the target against this multiple of every
    tissue's lethal threshold (1: the tissues' own). Robust planning raises it
    (:mod:`irelab.robust.planning`) so that a delivery with less field than planned, or tissue
    that needs more, is still covered; the plan's case keeps the tissues' own thresholds, and
    the plan's coverage, margin and lethal zone are measured against the raised ones.
    ``thermal_stop_early``: stop simulating a thermal repair once it damages the critical
    structures no less than the best plan so far (:mod:`irelab.plan.thermal`). Speed only: the
    plan is the same either way; the journal then gives that repair's damage as "at least".
    """

    margin_m: float = 5e-3
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    coarse_spacing_m: float = 2e-3
    fine_spacing_m: float = 1e-3
    limits: PlanLimits = field(default_factory=PlanLimits)
    schedule: PulseSchedule = field(default_factory=lambda: PulseSchedule(
        test_pulses=GeneratorConfig().test_pulses))
    screen_keep: int = 3
    refine: bool = True
    coarse_safety: float = 1.08
    coarse_trials: int = 24
    fine_trials: int = 12
    lower_voltages: bool = True
    thermal: bool = True
    max_extra_placements: int = 2
    placement_solves: int = 3
    alternatives: int = 3
    thermal_repairs: int = 9
    thermal_replans: int = 2
    standoff_m: tuple[tuple[str, float], ...] = ()
    max_minutes: float | None = None
    workers: int = 2
    thermal_stop_early: bool = True
    threshold_factor: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold_factor) and self.threshold_factor > 0):
            raise ValueError(f"threshold_factor must be a positive number, got "
                             f"{self.threshold_factor}")

    @property
    def search_spacing_m(self) -> float:
        """The search grid's spacing: never finer than the confirmation grid."""
        return max(self.coarse_spacing_m, self.fine_spacing_m)


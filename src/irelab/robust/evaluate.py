"""One sample: every pair at every placement solved on the plan's grid, and what it achieved.

Each sample is a full nonlinear solve (:class:`irelab.field.FieldSolver`) of every pair of the
protocol at every placement of the perturbed plan; one solver per placement is reused for all
its pairs (the grid hierarchy and geometry are built once per placement). A solve starts as the
solver starts any new geometry: from the solution on the 2x coarser grid (grid sequencing).
Starting instead from the unperturbed plan's solution of the same pair at the same placement
(:class:`NominalFields`, ``EvaluationSettings(warm_start=True)``) costs more: that field has
the needles where the plan put them, so near the moved needles it is further from the answer
than the coarse solve is (measured on the 30 mm demo plan at 1 mm, 4 samples of 30 solves:
4-5 Newton steps per pair from it against 3, and 18.8 s of CPU per sample against 15.7 s;
same coverage and margin in every sample). The cold start also lets the samples run without
waiting for the unperturbed plan's solve.

The lethal zone is :func:`irelab.simulation.lethal_zone` of the largest |E| over pairs and
placements. What is recorded (:class:`SampleOutcome`):

* ``coverage``: the share of target-tissue voxels (role ``target``: the tumour itself, without
  the planning margin) in the lethal zone; voxels inside a probe are conductor and not counted.
* ``margin_mm``: the minimal ablative margin, :func:`irelab.validation.minimal_margin_mm` (the
  one definition the project reports: the least signed distance from a tumour voxel centre to
  the zone's boundary, which lies half a voxel beyond the last voxel centre inside). Probe
  voxels and critical structures (a vessel lumen is spared by IRE) count as ablated here, not
  as tissue the zone missed. A complete ablation has a margin of at least ``h/2``; one missed
  voxel makes it at most ``-h/2``.
* ``field_reserve``: the least ratio, over the same target voxels, of the largest |E| to the
  voxel's lethal threshold. The tumour is covered exactly when it is at least 1; a sample that
  missed says by how much: a plan whose field over the tumour were ``1 / field_reserve`` times
  stronger would have covered it (what robust planning raises, :mod:`irelab.robust.planning`).
* ``critical_damage_mm3``: thermal damage (Omega >= 1, :func:`irelab.thermal.simulate_heating`)
  in each critical tissue, when the thermal model is asked for.
* the lethal zone itself (packed bits), for the probability map.

As planned and as delivered. The figures above assume every pulse delivered at the planned
voltage. A sample whose tissue conducts more than planned draws more current: once a pair's
first-pulse current passes :func:`irelab.delivery.first_pulse_current_limit_A`, the
generator's rising current passes its limit within the train and the generator stops that pair
(the delivery simulator's current model, which the planner also plans to). The operator then
delivers the pair again at the voltage the generator suggests
(:func:`irelab.delivery.redelivery_voltage_V`). With ``EvaluationSettings(as_delivered=True)``
(the default) such a pair is solved again at that voltage (starting from its solution at the
higher voltage, scaled), up to :data:`MAX_REDELIVERIES` times
while it stays over the limit, and the sample's ``coverage_as_delivered`` and
``field_reserve_as_delivered`` use the re-delivered field; the pulses before the abort are not
counted (a partial train lies outside the 50-90 pulses in which the lethal threshold was
measured not to change, :mod:`irelab.plan.thermal`), and a pair still over the limit after the
last try counts as not delivered. The probability map, margin and thermal model stay as
planned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from irelab.case import Case, PairKey, parse_case_text
from irelab.delivery.generator import (
    GeneratorConfig,
    first_pulse_current_limit_A,
    redelivery_voltage_V,
)
from irelab.errors import InputError
from irelab.field import FieldSolver, PairSolution, SolverOptions, TissueRole
from irelab.plan.options import PlanOptions
from irelab.robust.perturb import perturbed_case
from irelab.robust.sampling import Perturbation
from irelab.simulation import lethal_zone
from irelab.thermal import PulseSchedule, simulate_heating, thermal_tissues
from irelab.validation.metrics import minimal_margin_mm

__all__ = ["EvaluationSettings", "NominalFields", "SampleOutcome", "evaluate_plan",
           "nominal_task", "sample_task", "MAX_REDELIVERIES"]

MAX_REDELIVERIES = 3
"""Re-deliveries of one pair at the generator's suggested voltage before it counts as not
delivered (design choice: the suggestion keeps a 10 % margin under the limit, and the current
falls faster than the voltage in electroporated tissue, so one is normally enough)."""


@dataclass(frozen=True)
class EvaluationSettings:
    """How a sample is evaluated: grid spacing (default the plan's), whether to run the thermal
    model, whether to start from the unperturbed solution (slower: see the module docstring)
    and whether to evaluate the coverage as delivered (pairs over the generator's current limit
    solved again at its suggested voltage: module docstring)."""

    spacing_mm: float | None = None
    thermal: bool = False
    warm_start: bool = False
    as_delivered: bool = True


@dataclass(frozen=True, eq=False)
class NominalFields:
    """The unperturbed plan's potential of every pair at every placement (the warm starts of
    ``EvaluationSettings(warm_start=True)``)."""

    shape: tuple[int, int, int]
    potentials_V: dict[PairKey, np.ndarray]
    electrode_potentials_V: dict[PairKey, dict[str, float]]

    def start(self, key: PairKey, anode: str, cathode: str, voltage_V: float
              ) -> PairSolution | None:
        """The start of ``key``'s solve (the solver reads only the potentials)."""
        if key not in self.potentials_V:
            return None
        potential = self.potentials_V[key].astype(float)
        empty = np.zeros((0, 0, 0))
        return PairSolution(anode, cathode, voltage_V, potential, empty, empty, 0.0, True, 0,
                            0.0, electrode_potentials_V=self.electrode_potentials_V[key])


@dataclass(frozen=True, eq=False)
class SampleOutcome:
    """What one sample (``index``; -1 for the unperturbed plan) achieved. ``simulated`` is False
    when its probes could not be placed (they leave the domain or touch): such a sample counts
    as a miss and ``reason`` says why."""

    index: int
    simulated: bool
    coverage: float
    margin_mm: float
    lethal_bits: np.ndarray
    """``lethal | conductor`` on the grid, packed with :func:`numpy.packbits` (C order)."""
    shape: tuple[int, int, int]
    critical_damage_mm3: tuple[tuple[str, float], ...] | None = None
    max_current_A: float = 0.0
    converged: bool = True
    solves: int = 0
    linear_iterations: int = 0
    reason: str | None = None
    field_reserve: float = 0.0
    """Least ratio of |E| to the lethal threshold over the target voxels (module doc; 0 when
    not simulated, infinite without a target voxel)."""
    coverage_as_delivered: float | None = None
    """``coverage`` with the pairs over the current limit re-delivered at the generator's
    suggested voltage (module doc; None: not evaluated)."""
    field_reserve_as_delivered: float | None = None
    """``field_reserve`` as delivered (None: not evaluated)."""
    redelivered_pairs: int = 0
    """Pairs (at their placements) the generator would stop for over-current."""
    undelivered_pairs: int = 0
    """Of those, the pairs still over the limit after :data:`MAX_REDELIVERIES` tries."""

    @property
    def covered(self) -> bool:
        """Every target voxel in the lethal zone (a sample not simulated never is)."""
        return self.simulated and self.coverage >= 1.0

    @property
    def covered_as_delivered(self) -> bool | None:
        """Every target voxel in the lethal zone as delivered (None: not evaluated)."""
        if not self.simulated:
            return False
        if self.coverage_as_delivered is None:
            return None
        return self.coverage_as_delivered >= 1.0

    @property
    def thermal_damage(self) -> bool | None:
        """Thermal damage in any critical tissue (None: thermal model not run)."""
        if self.critical_damage_mm3 is None:
            return None
        return any(v > 0 for _, v in self.critical_damage_mm3)

    def lethal(self) -> np.ndarray:
        count = int(np.prod(self.shape))
        return np.unpackbits(self.lethal_bits, count=count).astype(bool).reshape(self.shape)


def _margin_mm(ablated: np.ndarray, tumour: np.ndarray, spacing_mm: float) -> float:
    """:func:`irelab.validation.minimal_margin_mm` (NaN without a tumour; infinite when the
    zone fills the box and has no boundary inside it)."""
    if ablated.all():
        return float("inf")
    margin = minimal_margin_mm(ablated, tumour, spacing_mm)
    return float("nan") if margin is None else margin


def _schedule(case: Case) -> PulseSchedule:
    """The planner's schedule (the generator's test pulses first) with the plan's pulses and
    width, and its pauses where it needs longer ones than the usual."""
    protocol, usual = case.protocol, PlanOptions().schedule
    return replace(usual, pulses_per_pair=protocol.pulses,
                   pulse_width_us=protocol.pulse_width_us,
                   train_pause_s=max(usual.train_pause_s, protocol.train_pause_s or 0.0),
                   pair_pause_s=max(usual.pair_pause_s, protocol.pair_pause_s or 0.0))


def _scaled(solution: PairSolution, voltage_V: float) -> PairSolution:
    """The start of a re-delivery's solve: ``solution``'s potentials scaled to ``voltage_V``
    (the same needles and tissue; measured on the small test plan: 2 Newton steps and 7 CG
    iterations instead of 3 and 15 from the coarse grid)."""
    ratio = voltage_V / solution.voltage_V
    return replace(solution, voltage_V=voltage_V, potential_V=solution.potential_V * ratio,
                   electrode_potentials_V={name: v * ratio for name, v in
                                           solution.electrode_potentials_V.items()})


def _coverage_and_reserve(lethal: np.ndarray, e_max: np.ndarray, e_irr: np.ndarray,
                          counted: np.ndarray) -> tuple[float, float]:
    """The share of ``counted`` voxels that are ``lethal``, and the least ratio of ``e_max``
    to ``e_irr`` over them (1 and infinite without a counted voxel)."""
    if not counted.any():
        return 1.0, np.inf
    return (float((lethal & counted).sum() / counted.sum()),
            float(np.min(e_max[counted] / e_irr[counted])))


def evaluate_plan(case: Case, settings: EvaluationSettings, index: int = -1,
                  nominal: NominalFields | None = None,
                  keep_potentials: bool = False) -> tuple[SampleOutcome, NominalFields | None]:
    """Solve every pair of ``case`` at every placement and score it; with ``keep_potentials``
    also return the potentials (the warm starts of later samples)."""
    protocol = case.protocol
    if protocol is None or not protocol.pairs:
        raise InputError(case.source, "protocol.pairs", "a plan with at least one pair")
    grid = case.grid(settings.spacing_mm)
    e_max = np.zeros(grid.shape)
    limit = (first_pulse_current_limit_A(GeneratorConfig(), protocol.pulses)
             if settings.as_delivered else None)
    e_delivered = np.zeros(grid.shape) if limit is not None else None
    redelivered = undelivered = 0
    power: list[np.ndarray] = []
    potentials: dict[PairKey, np.ndarray] = {}
    electrode_potentials: dict[PairKey, dict[str, float]] = {}
    converged, current, solves, linear = True, 0.0, 0, 0
    solver = None
    for key in protocol.keys():
        if solver is None or key.pair == 0:
            solver = FieldSolver(case.field_problem(settings.spacing_mm, key.placement),
                                 SolverOptions())
        pair = protocol.pairs[key.pair]
        start = None
        if nominal is not None and settings.warm_start and nominal.shape == grid.shape:
            start = nominal.start(key, pair.anode, pair.cathode, pair.voltage_V)
        sol = solver.solve_pair(pair.anode, pair.cathode, pair.voltage_V, initial=start)
        e = np.nan_to_num(sol.e_field_V_per_m)
        np.maximum(e_max, e, out=e_max)
        if settings.thermal:
            power.append(sol.sigma_S_per_m * e**2)
        if keep_potentials:
            potentials[key] = sol.potential_V.astype(np.float32)
            electrode_potentials[key] = dict(sol.electrode_potentials_V)
        converged &= sol.converged
        current = max(current, abs(sol.current_A))
        solves += 1
        linear += sol.linear_iterations
        if e_delivered is not None:
            field, volts, amps, tries, last = e, pair.voltage_V, abs(sol.current_A), 0, sol
            while amps > limit and tries < MAX_REDELIVERIES:
                volts = redelivery_voltage_V(volts, amps, GeneratorConfig())
                tries += 1
                if volts <= 0:
                    break
                again = solver.solve_pair(pair.anode, pair.cathode, volts,
                                          initial=_scaled(last, volts))
                field, amps, last = (np.nan_to_num(again.e_field_V_per_m),
                                     abs(again.current_A), again)
                converged &= again.converged
                solves += 1
                linear += again.linear_iterations
            redelivered += tries > 0
            if amps > limit or volts <= 0:
                undelivered += 1
            else:
                np.maximum(e_delivered, field, out=e_delivered)
    labels = case.labels(grid)
    conductor = case.conductor_mask(grid)
    e_irr = case.e_irr_V_per_m(grid)
    lethal = lethal_zone(e_max, e_irr, conductor)
    names = case.tissue_names
    tumour = np.isin(labels, [names.index(n) for n in case.tissues_with(TissueRole.TARGET)])
    critical_names = case.tissues_with(TissueRole.CRITICAL)
    critical = np.isin(labels, [names.index(n) for n in critical_names])
    counted = tumour & ~conductor
    coverage, reserve = _coverage_and_reserve(lethal, e_max, e_irr, counted)
    delivered_coverage = delivered_reserve = None
    if e_delivered is not None:
        delivered_coverage, delivered_reserve = coverage, reserve
        if redelivered:
            delivered_coverage, delivered_reserve = _coverage_and_reserve(
                lethal_zone(e_delivered, e_irr, conductor), e_delivered, e_irr, counted)
    spacing_mm = grid.spacing_m * 1e3
    margin = _margin_mm(lethal | conductor | critical, tumour, spacing_mm)
    damage = None
    if settings.thermal:
        materials = case.field_problem(settings.spacing_mm, 0, anatomy_only=True).materials
        n_pairs = len(protocol.pairs)
        heat = simulate_heating(grid, labels, names, power, _schedule(case),
                                tissues=thermal_tissues(materials),
                                position_starts=[p * n_pairs for p in range(1, protocol.positions)])
        damage = tuple((n, round(heat.regions[n].damage_volume_cm3 * 1e3, 6))
                       for n in critical_names if n in heat.regions)
    outcome = SampleOutcome(index=index, simulated=True, coverage=coverage, margin_mm=margin,
                            lethal_bits=np.packbits(lethal | conductor), shape=grid.shape,
                            critical_damage_mm3=damage, max_current_A=current,
                            converged=converged, solves=solves, linear_iterations=linear,
                            field_reserve=reserve, coverage_as_delivered=delivered_coverage,
                            field_reserve_as_delivered=delivered_reserve,
                            redelivered_pairs=redelivered, undelivered_pairs=undelivered)
    fields = NominalFields(grid.shape, potentials, electrode_potentials) if keep_potentials \
        else None
    return outcome, fields


def nominal_task(case_text: str, source: str, base_dir: str,
                 settings: EvaluationSettings) -> tuple[SampleOutcome, NominalFields]:
    """The unperturbed plan (a task of its own: every sample task depends on its result)."""
    case = parse_case_text(case_text, source=source, base_dir=Path(base_dir))
    outcome, fields = evaluate_plan(case, settings, keep_potentials=True)
    return outcome, fields


def sample_task(case_text: str, source: str, base_dir: str, perturbation: Perturbation,
                settings: EvaluationSettings,
                nominal: tuple[SampleOutcome, NominalFields] | None) -> SampleOutcome:
    """One sample, self-contained: the plan's text, the perturbation and the settings (and the
    nominal potentials, which only make it faster)."""
    case = parse_case_text(case_text, source=source, base_dir=Path(base_dir))
    try:
        sample = perturbed_case(case, perturbation)
    except InputError as exc:
        grid = case.grid(settings.spacing_mm)
        return SampleOutcome(index=perturbation.index, simulated=False, coverage=0.0,
                             margin_mm=float("nan"),
                             lethal_bits=np.packbits(np.zeros(grid.shape, dtype=bool)),
                             shape=grid.shape, converged=True, reason=str(exc))
    outcome, _ = evaluate_plan(sample, settings, index=perturbation.index,
                               nominal=None if nominal is None else nominal[1])
    return outcome

"""Predicted against achieved, for one procedure: the pipeline behind ``irelab compare``.

1. Frames (:func:`achieved_on_grid`): the achieved zone is a label map segmented on a scan. With
   a planning and a follow-up scan, the follow-up is registered to the planning scan
   (:mod:`irelab.validation.registration`) and the label map, which must lie on the follow-up's
   grid, is mapped through that transform. Without scans the label map must already be in the
   planning frame: on the planning scan's grid when the plan's anatomy comes from one, anywhere
   overlapping the plan's domain when it is drawn from shapes.
2. What was delivered (:func:`delivered_pairs`): the plan's pairs at their voltages, or, with a
   delivery log, each pair at each placement that received treatment pulses, at the voltage
   most of its treatment pulses had (the higher on a tie); pairs that received none are left
   out. The measured current of a pair is its first pulse at that voltage (the simulation
   predicts the first pulse's current).
3. The field of the delivered pairs (:func:`irelab.simulation.simulate_case`, one case per
   placement), the lethal zone by the case's thresholds, and the metrics of
   :mod:`irelab.validation.metrics` on the plan's grid.

Voxels inside a probe are conductor during the treatment, not tissue: they are left out of both
zones and the tumour when counting (Dice, volumes), and counted as treated when measuring the
margin where they lie inside or beside a zone (a hole where the needle was would otherwise put a
boundary inside the tumour; the rest of a shaft stays out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from irelab.case import Case, Pair, PairKey, Protocol
from irelab.delivery import EventType
from irelab.errors import InputError
from irelab.field import Grid, TissueRole
from irelab.imaging.geometry import ImageGeometry
from irelab.simulation import lethal_zone, simulate_case
from irelab.validation.images import (
    describe_lattice,
    lattice,
    read_scan,
    resample_to_grid,
    same_lattice,
)
from irelab.validation.metrics import ZoneAgreement, minimal_margin_mm, zone_agreement
from irelab.validation.registration import RigidRegistration, register_rigid

__all__ = ["Comparison", "DeliveredPair", "achieved_on_grid", "compare_procedure",
           "delivered_pairs"]

Progress = Callable[[str, float], None]
MM = 1e-3


@dataclass(frozen=True)
class DeliveredPair:
    """One pair at one placement as delivered (or as planned, without a log)."""

    key: PairKey
    anode: str
    cathode: str
    voltage_V: float
    pulses: int
    measured_current_A: float | None = None
    predicted_current_A: float | None = None

    def to_json(self) -> dict:
        return {"pair_index": self.key.pair, "placement": self.key.placement,
                "pair": f"{self.anode}-{self.cathode}", "voltage_V": self.voltage_V,
                "pulses": self.pulses, "measured_current_A": self.measured_current_A,
                "predicted_current_A": None if self.predicted_current_A is None
                else round(self.predicted_current_A, 4)}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything ``irelab compare`` reports, and the arrays it writes (on ``grid``)."""

    plan: Case
    achieved_path: Path
    label: int | None
    grid: Grid
    delivered: tuple[DeliveredPair, ...]
    delivered_from: str
    """``plan`` or the delivery log's path."""
    registration: RigidRegistration | None
    agreement: ZoneAgreement
    e_max_V_per_m: np.ndarray
    predicted: np.ndarray
    achieved: np.ndarray
    tumour: np.ndarray
    conductor: np.ndarray
    labels: np.ndarray
    achieved_outside_domain: float
    """Fraction of the segmented zone's voxels outside the plan's domain (not compared)."""
    converged: bool
    scans: dict[str, str] = field(default_factory=dict)


def _geometry_error(path: Path, expected: str, found) -> InputError:
    return InputError(str(path), "", expected, describe_lattice(found))


def _planning_geometry(plan: Case):
    for i, region in enumerate(plan.regions):
        if region.image is not None:
            path = Path(region.image.path)
            path = path if path.is_absolute() else plan.base_dir / path
            return lattice(read_scan(path, f"anatomy.regions[{i}].image.path"))
    return None


def achieved_on_grid(plan: Case, grid: Grid, segmentation: Path, label: int | None = None,
                     planning_image: Path | None = None, followup_image: Path | None = None
                     ) -> tuple[np.ndarray, RigidRegistration | None, float]:
    """The achieved zone on ``grid`` (the plan's), the registration used (if any) and the
    fraction of the zone outside the grid's box."""
    if (planning_image is None) != (followup_image is None):
        given = "--planning-image" if planning_image is not None else "--followup-image"
        raise InputError("irelab compare", given, "both --planning-image and --followup-image "
                         "(the follow-up scan is registered to the planning scan) or neither")
    seg = read_scan(segmentation, "--achieved")
    values = _label_values(seg, segmentation)
    foreground = values != 0 if label is None else values == label
    if not foreground.any():
        raise InputError(str(segmentation), "--label" if label is not None else "",
                         "a segmentation with at least one voxel of the ablation zone "
                         + (f"(label {label})" if label is not None else "(a nonzero label)"),
                         "an empty segmentation")
    geometry = lattice(seg)
    registration = None
    if followup_image is not None:
        followup = read_scan(followup_image, "--followup-image")
        if not same_lattice(geometry, lattice(followup)):
            raise _geometry_error(segmentation, "a label map on the follow-up scan's grid "
                                  f"({describe_lattice(lattice(followup))})", geometry)
        planning = read_scan(planning_image, "--planning-image")
        if not lattice(planning).overlaps(ImageGeometry.of_grid(grid)):
            raise InputError(str(planning_image), "", "a planning scan covering the plan's "
                             "domain (the liver region the registration works on)")
        try:
            registration = register_rigid(planning, followup, grid)
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "failed"
            raise InputError(str(followup_image), "", "a follow-up scan that registers to the "
                             "planning scan on the plan's domain", reason) from None
    else:
        planning = _planning_geometry(plan)
        if planning is not None and not same_lattice(geometry, planning):
            raise _geometry_error(
                segmentation, "a label map on the planning scan's grid "
                f"({describe_lattice(planning)}); one segmented on another scan needs "
                "--planning-image and --followup-image to register it", geometry)
    transform = registration.sitk_transform() if registration is not None else None
    outside = _outside_fraction(seg, foreground, grid, transform)
    if outside >= 1.0:
        raise InputError(str(segmentation), "", "a label map overlapping the plan's domain "
                         f"{np.round(grid.lower_m / MM, 1).tolist()}-"
                         f"{np.round(grid.upper_m / MM, 1).tolist()} mm",
                         "an ablation zone entirely outside it (the label maps do not overlap)")
    import SimpleITK as sitk

    mask = sitk.GetImageFromArray(np.ascontiguousarray(foreground).astype(np.uint8))
    mask.CopyInformation(seg)
    achieved = resample_to_grid(mask, grid, transform).astype(bool)
    return achieved, registration, outside


def _label_values(seg, path: Path) -> np.ndarray:
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(seg)
    if not np.issubdtype(array.dtype, np.integer):
        rounded = np.rint(array)
        if not np.array_equal(rounded, array):
            raise InputError(str(path), "", "a label map (whole-number voxel values)",
                             "fractional values")
        array = rounded.astype(np.int64)
    return array


def _outside_fraction(seg, foreground: np.ndarray, grid: Grid, transform) -> float:
    """Fraction of the zone's voxel centres (follow-up frame) that map outside the grid box."""
    zyx = np.argwhere(foreground)
    points = lattice(seg).to_world(zyx[:, ::-1].astype(float))
    if transform is not None:
        points = _apply_affine(transform.GetInverse(), points)
    lo, hi = grid.lower_m / MM, grid.upper_m / MM
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    return float(1.0 - inside.mean())


def _apply_affine(transform, points: np.ndarray) -> np.ndarray:
    """A rigid ITK transform applied to many points at once (matrix, centre, translation)."""
    import SimpleITK as sitk

    euler = sitk.Euler3DTransform(transform)
    matrix = np.asarray(euler.GetMatrix()).reshape(3, 3)
    centre = np.asarray(euler.GetCenter())
    return (points - centre) @ matrix.T + centre + np.asarray(euler.GetTranslation())


def delivered_pairs(plan: Case, log=None) -> tuple[DeliveredPair, ...]:
    """The pairs to simulate: the plan's (every pair at every placement), or the log's."""
    protocol = plan.protocol
    if protocol is None or not protocol.pairs:
        raise InputError(plan.source, "protocol.pairs", "a plan with electrode pairs")
    if log is None:
        return tuple(DeliveredPair(key, protocol.pairs[key.pair].anode,
                                   protocol.pairs[key.pair].cathode,
                                   protocol.pairs[key.pair].voltage_V, protocol.pulses)
                     for key in protocol.keys())
    pulses: dict[PairKey, list] = {}
    for i, event in enumerate(log.events):
        if event.key is None or event.event != EventType.PULSE:
            continue
        if event.key.pair >= len(protocol.pairs) or event.key.placement >= protocol.positions:
            raise InputError(log.source, f"{log.where(i)}.pair_index",
                             f"a pair and placement of the plan {plan.source}",
                             f"pair {event.key.pair} at placement {event.key.placement}")
        pulses.setdefault(event.key, []).append(event)
    out = []
    for key in protocol.keys():
        treatment = [e for e in pulses.get(key, []) if e.phase == "treatment"]
        if not treatment:
            continue
        counts = Counter(e.voltage_V for e in treatment)
        voltage = max(counts, key=lambda v: (counts[v], v))
        first = next(e for e in pulses[key] if e.voltage_V == voltage)
        pair = protocol.pairs[key.pair]
        out.append(DeliveredPair(key, pair.anode, pair.cathode, voltage, len(treatment),
                                 measured_current_A=first.current_A))
    if not out:
        raise InputError(log.source, "", "a delivery log with treatment pulses for the plan's "
                         "pairs")
    return tuple(out)


def _simulate(plan: Case, delivered: tuple[DeliveredPair, ...], spacing_mm: float | None,
              progress: Progress | None):
    """The largest |E| over the delivered pairs, the conductor and each pair's current."""
    grid = plan.grid(spacing_mm)
    e_max = np.zeros(grid.shape)
    conductor = np.zeros(grid.shape, dtype=bool)
    currents: dict[PairKey, float] = {}
    converged = True
    placements = sorted({d.key.placement for d in delivered})
    for n, placement in enumerate(placements):
        here = [d for d in delivered if d.key.placement == placement]
        protocol = Protocol(plan.protocol.pulses, plan.protocol.pulse_width_us,
                            tuple(Pair(d.anode, d.cathode, d.voltage_V) for d in here),
                            (plan.placements[placement],))
        case = plan.with_plan(plan.probes, protocol)
        if progress is not None:
            progress(f"placement {placement + 1}", n / len(placements))
        result = simulate_case(case, spacing_mm=spacing_mm)
        np.maximum(e_max, result.e_max_V_per_m, out=e_max)
        conductor |= result.conductor
        converged &= result.converged
        for d, pair in zip(here, result.pairs, strict=True):
            currents[d.key] = pair.current_A
    return grid, e_max, conductor, currents, converged


def compare_procedure(plan: Case, achieved: Path, *, label: int | None = None,
                      planning_image: Path | None = None, followup_image: Path | None = None,
                      log=None, spacing_mm: float | None = None,
                      progress: Progress | None = None) -> Comparison:
    """Compare the achieved zone of one procedure with the zone its delivery predicts."""
    delivered = delivered_pairs(plan, log)
    grid = plan.grid(spacing_mm)
    zone, registration, outside = achieved_on_grid(plan, grid, Path(achieved), label,
                                                   planning_image, followup_image)
    grid, e_max, conductor, currents, converged = _simulate(plan, delivered, spacing_mm,
                                                            progress)
    delivered = tuple(DeliveredPair(d.key, d.anode, d.cathode, d.voltage_V, d.pulses,
                                    d.measured_current_A, currents[d.key]) for d in delivered)
    labels = plan.labels(grid)
    targets = [plan.tissue_names.index(n) for n in plan.tissues_with(TissueRole.TARGET)]
    tumour = np.isin(labels, targets)
    predicted = lethal_zone(e_max, plan.e_irr_V_per_m(grid), conductor)
    reach = int(np.ceil(max(p.diameter_mm for p in plan.probes) / (grid.spacing_m / MM))) + 1
    agreement = _agreement(predicted, zone, tumour, conductor, grid, reach)
    scans = {k: str(v) for k, v in (("planning_image", planning_image),
                                    ("followup_image", followup_image)) if v is not None}
    return Comparison(plan=plan, achieved_path=Path(achieved), label=label, grid=grid,
                      delivered=delivered,
                      delivered_from="plan" if log is None else str(log.source),
                      registration=registration, agreement=agreement, e_max_V_per_m=e_max,
                      predicted=predicted, achieved=zone, tumour=tumour, conductor=conductor,
                      labels=labels, achieved_outside_domain=outside, converged=converged,
                      scans=scans)


def _with_needles(zone: np.ndarray, conductor: np.ndarray, reach: int) -> np.ndarray:
    """The zone with the conductor voxels inside or beside it (within ``reach`` voxels, a
    needle's width) counted as treated; the rest of a shaft stays out."""
    near = ndimage.binary_dilation(zone, iterations=reach) if zone.any() else zone
    return zone | (conductor & near)


def _agreement(predicted: np.ndarray, achieved: np.ndarray, tumour: np.ndarray,
               conductor: np.ndarray, grid: Grid, reach: int) -> ZoneAgreement:
    """Counts without the conductor; margins with the needles counted as treated (module
    docstring)."""
    h = grid.spacing_m / MM
    tissue = ~conductor
    counted = zone_agreement(predicted & tissue, achieved & tissue, tumour & tissue, h)
    return replace(
        counted,
        minimal_margin_mm=minimal_margin_mm(_with_needles(achieved, conductor, reach),
                                            tumour & tissue, h),
        predicted_minimal_margin_mm=minimal_margin_mm(_with_needles(predicted, conductor, reach),
                                                      tumour & tissue, h))

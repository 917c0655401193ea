"""A synthetic study with a known truth: plans, achieved zones, scans and delivery logs on disk,
for testing ``irelab compare`` and ``irelab calibrate`` end to end.

Each procedure is two needles across a spherical metastasis in liver with two vessels (random
tumour radius, spacing, exposure and voltage). Its true zone is the field of what was delivered
(the plan's voltages, or with ``logs`` a delivery 100 V below the plan on the first pair) at a
true lethal threshold ``T_i = T exp(N(0, threshold_cv))``: procedures differ as patients do;
within a liver the threshold varies smoothly by ``heterogeneity`` (a multiplicative Gaussian
random field, correlation length :data:`NOISE_CORRELATION_MM`). The segmentation adds a smooth
random displacement of the zone's outer boundary (SD ``boundary_noise_mm``, same correlation
length), as readers disagree on where a zone ends. With ``moved``, a procedure's follow-up
scan is the planning scan's anatomy moved rigidly (up to :data:`MAX_ROTATION_DEG` and
:data:`MAX_TRANSLATION_MM`) on a grid of its own, tilted, with the zone hypodense, and the
segmentation lies on that grid. With ``logs``, each pair's measured first-pulse current is the
true model's current times ``conductivity_scale`` (and 3 % noise).

The numbers of the noise model are design choices, not measurements: an inter-patient threshold
spread of 8 %, a within-liver spread of 5 % and a boundary disagreement of 1 mm SD (the 2025
clinical study quoted in :mod:`irelab.case.tissues` measured intra- and inter-observer
variability, but its abstract gives no figure). Everything is seeded.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from irelab.case import parse_case, write_case
from irelab.field import Grid, TissueRole
from irelab.simulation import lethal_zone, simulate_case
from irelab.validation.images import grid_image, write_grid_array
from irelab.validation.metrics import signed_distance_mm

__all__ = ["SyntheticProcedure", "synthetic_study"]

NOISE_CORRELATION_MM = 4.0
"""Correlation length of the random fields (design choice: a few voxels, below a zone's size)."""
MAX_ROTATION_DEG = 4.0
MAX_TRANSLATION_MM = 6.0
"""Largest synthetic motion between the scans (design choice: the order of liver motion between
breath-holds that a rigid registration is expected to undo)."""
SCAN_MARGIN_MM = 16.0
"""The scans reach this far beyond the plan's domain (room for the motion)."""
FOLLOWUP_TILT_DEG = 10.0
"""The follow-up scan's grid is rotated about z (a non-identity direction, as a gantry tilt or
another patient position gives)."""
HU = {"outside": -100.0, "liver": 60.0, "tumour": 35.0, "blood": 160.0, "ablated": 25.0}
"""Synthetic CT values (portal-venous phase, roughly): fat around the liver, liver, a
hypo-enhancing metastasis, enhanced vessels, the hypodense ablation zone."""
SCAN_NOISE_HU = 8.0
"""Gaussian noise of the synthetic scans (design choice: portal-venous CT of the liver has
about 10 HU of noise)."""


@dataclass(frozen=True)
class SyntheticProcedure:
    """The files of one synthetic procedure and its truth."""

    plan: Path
    achieved: Path
    true_threshold_V_per_cm: float
    planning_image: Path | None = None
    followup_image: Path | None = None
    log: Path | None = None
    motion_deg_mm: tuple[float, ...] | None = None
    """Three angles (deg) and three translations (mm) of the follow-up scan, when moved."""


def _plan_mapping(rng: np.random.Generator, index: int, spacing_mm: float) -> dict:
    radius = round(float(rng.uniform(4.0, 7.0)), 1)
    spacing = round(float(rng.uniform(12.0, 16.0)), 1)
    exposed = round(float(rng.uniform(14.0, 20.0)) * 2) / 2
    volts = round(float(rng.uniform(2000.0, 2800.0)) / 50) * 50
    return {
        "name": f"synthetic-{index + 1}",
        "domain": {"size_mm": [48, 44, 44], "spacing_mm": spacing_mm},
        "anatomy": {"background": "liver", "regions": [
            {"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": radius}},
            {"tissue": "blood", "cylinder": {"start_mm": [-30, 16, -6], "end_mm": [30, 16, 2],
                                             "radius_mm": 2.0}},
            {"tissue": "blood", "cylinder": {"start_mm": [-17, -30, 9], "end_mm": [-15, 30, 11],
                                             "radius_mm": 1.5}}]},
        "probes": [
            {"name": "P1", "tip_mm": [-spacing / 2, 0, -exposed / 2], "direction": [0, 0, 1],
             "exposed_mm": exposed, "diameter_mm": 1.1},
            {"name": "P2", "tip_mm": [spacing / 2, 0, -exposed / 2], "direction": [0, 0, 1],
             "exposed_mm": exposed, "diameter_mm": 1.1}],
        "protocol": {"pulses": 90, "pulse_width_us": 90,
                     "pairs": [{"anode": "P1", "cathode": "P2", "voltage_V": volts}]},
    }


def _smooth_noise(rng: np.random.Generator, shape, spacing_mm: float, sd_mm: float
                  ) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape),
                                    NOISE_CORRELATION_MM / spacing_mm, mode="wrap")
    return field / field.std() * sd_mm


def _segmentation(zone: np.ndarray, conductor: np.ndarray, rng: np.random.Generator,
                  spacing_mm: float, sd_mm: float) -> np.ndarray:
    """The zone as a reader would outline it: the outer boundary displaced smoothly, needle
    tracks inside included, one connected piece; untreated islands inside the zone are kept
    out as they were (outlined apart, not blurred away, so that the reader's error has no
    direction)."""
    near = ndimage.binary_dilation(zone, iterations=3)
    with_tracks = zone | (conductor & near)
    filled = ndimage.binary_fill_holes(with_tracks)
    islands = filled & ~with_tracks
    moved = signed_distance_mm(filled, spacing_mm) + _smooth_noise(
        rng, zone.shape, spacing_mm, sd_mm) > 0
    pieces, count = ndimage.label(moved)
    if count > 1:
        sizes = ndimage.sum(moved, pieces, index=range(1, count + 1))
        moved = pieces == 1 + int(np.argmax(sizes))
    return moved & ~islands


def _truth(case, threshold_V_per_cm: float, rng: np.random.Generator, heterogeneity: float):
    """The delivered field and the true zone: the threshold varies smoothly within the liver
    (SD ``heterogeneity`` of its value, correlation :data:`NOISE_CORRELATION_MM`) around the
    procedure's ``threshold_V_per_cm``."""
    result = simulate_case(case)
    grid = case.grid()
    labels = case.labels(grid)
    fitted = np.array([case.tissues[n].role != TissueRole.CRITICAL
                       for n in case.tissue_names])[labels]
    local = threshold_V_per_cm * 100.0 * np.exp(
        _smooth_noise(rng, grid.shape, grid.spacing_m * 1e3, heterogeneity))
    thresholds = np.where(fitted, local, case.e_irr_V_per_m(grid))
    return result, lethal_zone(result.e_max_V_per_m, thresholds, result.conductor)


def _scan_grid(grid: Grid) -> Grid:
    margin = SCAN_MARGIN_MM * 1e-3
    h = grid.spacing_m
    shape = tuple(int(n + 2 * round(margin / h)) for n in grid.shape)
    origin = tuple(o - round(margin / h) * h for o in grid.origin_m)
    return Grid(shape, h, origin)


def _render(case, scan: Grid, ablated: np.ndarray | None, rng: np.random.Generator):
    """A synthetic CT of the case's anatomy on ``scan`` (liver only inside the plan's domain:
    outside it, fat), the ablated voxels hypodense."""
    labels = case.labels(scan)
    values = np.array([HU.get(str(case.tissues[n].kind), HU["liver"])
                       for n in case.tissue_names])[labels]
    inside = np.ones(scan.shape, dtype=bool)
    lo, hi = case.grid().lower_m, case.grid().upper_m
    for axis in range(3):
        x = scan.axis_m(axis).reshape([-1 if a == axis else 1 for a in range(3)])
        inside &= (x >= lo[axis]) & (x <= hi[axis])
    values = np.where(inside, values, HU["outside"])
    if ablated is not None:
        values = np.where(ablated, HU["ablated"], values)
    values = ndimage.gaussian_filter(values, 0.7)
    return values + rng.normal(0.0, SCAN_NOISE_HU, values.shape)


def _moved_scans(case, seg: np.ndarray, rng: np.random.Generator, folder: Path):
    import SimpleITK as sitk

    grid = case.grid()
    scan = _scan_grid(grid)
    angles = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3)
    shift = rng.uniform(-MAX_TRANSLATION_MM, MAX_TRANSLATION_MM, 3)
    motion = sitk.Euler3DTransform()  # planning point -> follow-up point
    motion.SetCenter([0.0, 0.0, 0.0])
    motion.SetRotation(*np.radians(angles))
    motion.SetTranslation(shift.tolist())
    seg_image = grid_image(seg.astype(np.uint8), grid)
    ablated = sitk.GetArrayFromImage(sitk.Resample(
        seg_image, grid_image(np.zeros(scan.shape, np.uint8), scan), sitk.Transform(),
        sitk.sitkNearestNeighbor, 0)).transpose(2, 1, 0).astype(bool)
    planning = grid_image(_render(case, scan, None, rng).astype(np.float32), scan)
    moved_truth = grid_image(_render(case, scan, ablated, rng).astype(np.float32), scan)
    followup_grid = grid_image(np.zeros(scan.shape, np.float32), scan)
    tilt = sitk.Euler3DTransform()
    tilt.SetRotation(0.0, 0.0, math.radians(FOLLOWUP_TILT_DEG))
    direction = np.asarray(tilt.GetMatrix()).reshape(3, 3)
    half = (np.asarray(scan.shape) - 1) / 2 * scan.spacing_m * 1e3
    centre = np.asarray(scan.origin_m) * 1e3 + half
    followup_grid.SetDirection(tilt.GetMatrix())
    followup_grid.SetOrigin((np.asarray(motion.TransformPoint(centre.tolist()))
                             - direction @ half).tolist())
    inverse = motion.GetInverse()
    followup = sitk.Resample(moved_truth, followup_grid, inverse, sitk.sitkLinear,
                             HU["outside"], sitk.sitkFloat32)
    seg_followup = sitk.Resample(seg_image, followup_grid, inverse, sitk.sitkNearestNeighbor,
                                 0, sitk.sitkUInt8)
    paths = folder / "planning.nii.gz", folder / "followup.nii.gz", folder / "achieved.nii.gz"
    for image, path in zip((planning, followup, seg_followup), paths, strict=True):
        sitk.WriteImage(image, str(path), useCompression=True)
    return paths, (*angles.tolist(), *shift.tolist())


def _write_log(path: Path, case, currents: list[float], delivered_V: list[float]) -> Path:
    from irelab.case import PairKey
    from irelab.delivery import DeliveryEvent, EventLog, EventType

    with path.open("w", encoding="utf-8") as stream:
        log = EventLog(stream)
        t = 0.0
        for k, pair in enumerate(case.protocol.pairs):
            for n in range(12):
                t += 1000.0
                log.emit(DeliveryEvent(
                    t_ms=t, event=EventType.PULSE, pair=pair.name, voltage_V=delivered_V[k],
                    current_A=round(currents[k], 3),
                    energy_J=round(delivered_V[k] * currents[k] * 90e-6, 6),
                    phase="test" if n < 2 else "treatment", synchronised=True,
                    key=PairKey(k, 0)))
    return path


def synthetic_study(out: str | Path, procedures: int = 8, threshold_V_per_cm: float = 500.0,
                    seed: int = 0, spacing_mm: float = 1.0, threshold_cv: float = 0.08,
                    heterogeneity: float = 0.05, boundary_noise_mm: float = 1.0, moved: int = 0,
                    logs: bool = False, conductivity_scale: float = 1.0
                    ) -> tuple[SyntheticProcedure, ...]:
    """Write ``procedures`` synthetic procedures under ``out`` (one folder each); the first
    ``moved`` of them get planning and follow-up scans with the follow-up moved."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    study = []
    for i in range(procedures):
        folder = out / f"procedure-{i + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        mapping = _plan_mapping(rng, i, spacing_mm)
        plan = parse_case(mapping, source=str(folder / "plan.yaml"), base_dir=folder)
        write_case(plan, folder / "plan.yaml")
        delivered = [p.voltage_V - (100.0 if logs and k == 0 else 0.0)
                     for k, p in enumerate(plan.protocol.pairs)]
        truth_mapping = copy.deepcopy(mapping)
        for pair, volts in zip(truth_mapping["protocol"]["pairs"], delivered, strict=True):
            pair["voltage_V"] = volts
        truth_case = parse_case(truth_mapping, source=f"<truth {i + 1}>")
        threshold = float(threshold_V_per_cm * math.exp(rng.normal(0.0, threshold_cv)))
        result, zone = _truth(truth_case, threshold, rng, heterogeneity)
        seg = _segmentation(zone, result.conductor, rng, spacing_mm, boundary_noise_mm)
        log = None
        if logs:
            currents = [p.current_A * conductivity_scale * (1 + rng.normal(0.0, 0.03))
                        for p in result.pairs]
            log = _write_log(folder / "delivery.jsonl", plan, currents, delivered)
        if i < moved:
            (planning, followup, achieved), motion = _moved_scans(truth_case, seg, rng, folder)
            study.append(SyntheticProcedure(folder / "plan.yaml", achieved, threshold, planning,
                                            followup, log, motion))
        else:
            achieved = write_grid_array(seg.astype(np.uint8), plan.grid(),
                                        folder / "achieved.nii.gz")
            study.append(SyntheticProcedure(folder / "plan.yaml", achieved, threshold, log=log))
    return tuple(study)

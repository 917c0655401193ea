"""Pennes bioheat with pulsed Joule heating and Arrhenius damage on the field's voxel grid.

The equation (Pennes HH, J Appl Physiol 1:93-122, 1948) for the temperature T:

    rho c dT/dt = div(k grad T) + omega_b rho_b c_b (T_a - T) + q(t),

with ``q = sigma(E) |E|^2`` of the active pair during a pulse and 0 between pulses. We solve it
for the excess temperature ``theta = T - T_a`` (the equation is then homogeneous in theta), by
finite volumes on the voxel grid: face conductance ``h k_face`` with the harmonic mean of the two
cells' k (series of two half cells), and ``theta = 0`` (body temperature) on the faces of the
simulated box.

Time stepping, and why a pulse is an adiabatic jump. A pulse lasts tau = 90 us. The thermal
diffusion length in that time, ``sqrt(k tau / (rho c))`` = 3.5 um for liver, is ~1/300 of a
1 mm voxel, and the perfusion time constant ``1/omega_b`` is minutes (0.1 s for the vessel
exchange), so conduction and perfusion move a fraction ~1e-5 (~1e-3 in vessels) of the pulse's
heat during the pulse: the pulse raises each voxel by ``q tau / (rho c)`` and nothing else
happens. Between pulses there is no source and we take backward-Euler steps (L-stable: no
oscillation after the sharp pulse heating) of at most ``max_step_s``; the step matrix
``rho c / dt + omega_b rho_b c_b + K`` depends only on dt, and is built once per distinct dt.
It is symmetric and strongly diagonally dominant (the mass term ``rho c / dt`` dominates when the
Fourier number ``k dt / (rho c h^2)`` is O(1): 0.12 for 1 mm voxels and 0.86 s steps), so its
condition number is at most ``1 + 12 Fo`` and Jacobi-preconditioned conjugate gradients converge
in a handful of iterations from the previous temperature; we use that instead of a
factorisation (which on 3-D grids fills in badly). The tolerance is stated in
``SOLVE_RTOL``.

Damage: ``Omega = int A exp(-Ea / (R T)) dt`` accumulated per step with the trapezoidal rule on
the rate at the start (just after the pulse) and the end of the step; on the fast decay after a
pulse this overestimates Omega (conservative for safety). The rate at body temperature is
subtracted: with the liver's A and Ea it is 2.9e-4 1/s at 37 C, which would "damage" resting
tissue (Omega = 1 in an hour) and is an artefact of extrapolating the fitted kinetics down to
body temperature; only the excess over it is counted.

Only the part of the grid where the protocol's total adiabatic heating reaches
``CROP_HEATING_K`` is simulated, padded by ``crop_margin_m``; outside it the tissue stays at
body temperature and Omega = 0.

Simplifications (stated): tissue properties do not change with temperature or damage; the
conductivity of each pulse is the converged sigma(E) of the pair (no 2 %/K rise); metal needles
are treated as the tissue around them (no heat conduction along the shaft).

Written here because it is the product: no library solves Pennes on our voxel labels with
pulsed sources; SciPy supplies the sparse algebra.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from irelab.field.problem import Grid, Material, PairSolution
from irelab.thermal.properties import (
    BLOOD_DENSITY_KG_PER_M3,
    BLOOD_HEAT_CAPACITY_J_PER_KG_K,
    BODY_TEMPERATURE_C,
    LIVER_DAMAGE,
    THERMAL_TISSUES,
    ArrheniusDamage,
    ThermalTissue,
)
from irelab.thermal.schedule import PulseSchedule

__all__ = ["RegionHeating", "ThermalResult", "joule_power", "simulate_heating"]

log = logging.getLogger(__name__)

SOLVE_RTOL = 1e-5
"""Relative residual of each backward-Euler solve (vs the right-hand side norm): ~1e-5 of the
excess temperature per step, far below the 0.1 K that matters over ~10^3 steps."""

MAX_CG_ITERATIONS = 200
"""Safeguard; the diagonally dominant step matrix needs ~5-10."""

CROP_HEATING_K = 1.0
"""Only the box around voxels whose total adiabatic heating over the protocol reaches this is
simulated (padded by ``crop_margin_m``): a voxel outside received less than 1 K in total, so its
peak temperature stays below 38 C, where the damage rate is negligible."""


@dataclass(frozen=True)
class RegionHeating:
    """Heating of one tissue: peak temperature and the volume with Omega >= 1."""

    peak_temperature_C: float
    damage_volume_cm3: float
    volume_cm3: float


@dataclass(frozen=True, eq=False)
class ThermalResult:
    """Peak temperature and damage on the whole grid (body temperature outside the crop)."""

    grid: Grid
    peak_temperature_C: np.ndarray
    damage: np.ndarray
    final_temperature_C: np.ndarray
    regions: Mapping[str, RegionHeating]
    duration_s: float
    steps: int

    @property
    def damaged(self) -> np.ndarray:
        """Boolean mask of thermal coagulation (Omega >= 1)."""
        return self.damage >= 1.0


def joule_power(solution: PairSolution) -> np.ndarray:
    """Volumetric Joule power during a pulse, ``sigma(E) |E|^2`` (W/m^3)."""
    return solution.sigma_S_per_m * solution.e_field_V_per_m**2


def thermal_tissues(materials: Sequence[Material]) -> dict[str, ThermalTissue]:
    """The thermal properties of each field-problem material, by name: those of its kind (the
    preset it derives from, so a tissue ``like: tumour`` heats like a tumour), the liver's for a
    kind :data:`THERMAL_TISSUES` does not list."""
    return {m.name: THERMAL_TISSUES.get(m.kind, THERMAL_TISSUES["liver"]) for m in materials}


def _tissue_arrays(labels: np.ndarray, names: Sequence[str],
                   tissues: Mapping[str, ThermalTissue]):
    table = [tissues.get(n, tissues.get("liver", THERMAL_TISSUES["liver"])) for n in names]
    rho_c = np.array([t.volumetric_heat_capacity for t in table])[labels]
    k = np.array([t.conductivity_W_per_m_K for t in table])[labels]
    w = np.array([t.perfusion_per_s for t in table])[labels]
    return rho_c, k, w * BLOOD_DENSITY_KG_PER_M3 * BLOOD_HEAT_CAPACITY_J_PER_KG_K


def _laplacian(k: np.ndarray, h: float) -> sp.csr_matrix:
    """FV diffusion operator per unit volume (W/(m^3 K)), theta = 0 on the outer faces."""
    shape = k.shape
    n = k.size
    index = np.arange(n).reshape(shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, shape[axis] - 1)
        hi[axis] = slice(1, shape[axis])
        k1, k2 = k[tuple(lo)], k[tuple(hi)]
        g = (2 * k1 * k2 / (k1 + k2)).ravel() / h**2
        i, j = index[tuple(lo)].ravel(), index[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-g, -g]
        np.add.at(diag, i, g)
        np.add.at(diag, j, g)
        # Dirichlet faces of the box: half-cell conductance 2 k / h^2 on each boundary face
        for boundary in (0, shape[axis] - 1):
            sl = [slice(None)] * 3
            sl[axis] = slice(boundary, boundary + 1)
            diag[index[tuple(sl)].ravel()] += 2 * k[tuple(sl)].ravel() / h**2
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def _crop(total_rise: np.ndarray, h: float, margin_m: float) -> tuple[slice, slice, slice]:
    hot = np.argwhere(total_rise >= CROP_HEATING_K)
    if len(hot) == 0:
        return (slice(0, 0),) * 3  # type: ignore[return-value]
    pad = int(np.ceil(margin_m / h))
    lo = np.maximum(hot.min(axis=0) - pad, 0)
    hi = np.minimum(hot.max(axis=0) + pad + 1, total_rise.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS (einsum's C loop): BLAS threads contend on a shared machine."""
    return float(np.einsum("i,i->", a, b))


class _Stepper:
    """Backward-Euler steps of one size: matrix and Jacobi preconditioner built once.

    The conjugate-gradient loop is written out (Hestenes-Stiefel with a diagonal
    preconditioner, as in Saad, Iterative Methods for Sparse Linear Systems, 2nd ed., Alg. 9.1)
    with in-place vector updates: the solves are a handful of iterations each, ~10^3 times per
    plan, where the per-call overhead of ``scipy.sparse.linalg.cg`` dominated.
    """

    def __init__(self, laplacian: sp.csr_matrix, rho_c: np.ndarray, exchange: np.ndarray,
                 dt: float) -> None:
        self.mass = rho_c / dt
        self.matrix = (laplacian + sp.diags(self.mass + exchange)).tocsr()
        self.inv_diag = 1.0 / self.matrix.diagonal()

    def step(self, theta: np.ndarray) -> tuple[np.ndarray, int]:
        b = self.mass * theta
        x = theta.copy()
        r = b - self.matrix @ x
        tol2 = (SOLVE_RTOL**2) * _dot(b, b)
        z = self.inv_diag * r
        p = z.copy()
        rz = _dot(r, z)
        iterations = 0
        while _dot(r, r) > tol2 and iterations < MAX_CG_ITERATIONS:
            q = self.matrix @ p
            alpha = rz / _dot(p, q)
            x += alpha * p
            r -= alpha * q
            np.multiply(self.inv_diag, r, out=z)
            rz_new = _dot(r, z)
            p *= rz_new / rz
            p += z
            rz = rz_new
            iterations += 1
        if iterations >= MAX_CG_ITERATIONS:
            log.warning("bioheat step stopped at %d CG iterations", iterations)
        return x, iterations


def simulate_heating(
    grid: Grid,
    labels: np.ndarray,
    tissue_names: Sequence[str],
    power_W_per_m3: Sequence[np.ndarray],
    schedule: PulseSchedule | None = None,
    *,
    tissues: Mapping[str, ThermalTissue] | None = None,
    damage_model: ArrheniusDamage = LIVER_DAMAGE,
    position_starts: Sequence[int] = (),
    max_step_s: float = 5.0,
    crop_margin_m: float = 6e-3,
    progress: Callable[[float], None] | None = None,
) -> ThermalResult:
    """Temperature and thermal damage of a delivered protocol.

    ``power_W_per_m3[p]`` is the Joule power during a pulse of the p-th pair in delivery order
    (:func:`joule_power`); ``position_starts`` marks pairs that begin a new pullback position.
    ``tissues`` overrides :data:`THERMAL_TISSUES` by name; a tissue name found in neither uses
    the liver's properties. ``progress`` is called with the completed fraction.
    """
    schedule = schedule or PulseSchedule()
    tissues = {**THERMAL_TISSUES, **(tissues or {})}
    labels = np.asarray(labels)
    h = grid.spacing_m
    rho_c_full, k_full, exchange_full = _tissue_arrays(labels, tissue_names, tissues)
    tau = schedule.pulse_width_s
    total_rise = sum(q for q in power_W_per_m3) * tau * schedule.pulses_per_pair / rho_c_full
    box = _crop(np.asarray(total_rise), h, crop_margin_m)
    events = schedule.events(len(power_W_per_m3), position_starts)
    duration = schedule.duration_s(len(power_W_per_m3), position_starts)

    peak = np.full(grid.shape, BODY_TEMPERATURE_C)
    final = np.full(grid.shape, BODY_TEMPERATURE_C)
    omega = np.zeros(grid.shape)
    sub_shape = tuple(s.stop - s.start for s in box)
    if min(sub_shape) <= 0 or not events:
        return _result(grid, labels, tissue_names, peak, final, omega, duration, 0)

    rho_c = rho_c_full[box].ravel()
    exchange = exchange_full[box].ravel()
    lap = _laplacian(k_full[box], h)
    increments = [(np.asarray(q)[box].ravel() * tau / rho_c) for q in power_W_per_m3]
    theta = np.zeros(rho_c.size)
    theta_peak = np.zeros_like(theta)
    om = np.zeros_like(theta)
    steppers: dict[float, _Stepper] = {}
    rate = damage_model.rate_per_s
    base_rate = float(rate(np.asarray(BODY_TEMPERATURE_C)))
    rate_now = np.zeros_like(theta)
    t_now = 0.0
    n_steps = 0
    cg_iters = 0
    times = [e.time_s for e in events] + [duration]
    for i, t_next in enumerate(times):
        gap = t_next - t_now
        if gap > 0:
            n_sub = int(np.ceil(gap / max_step_s - 1e-9))
            dt = round(gap / n_sub, 9)
            stepper = steppers.get(dt)
            if stepper is None:
                stepper = steppers[dt] = _Stepper(lap, rho_c, exchange, dt)
            for _ in range(n_sub):
                theta, its = stepper.step(theta)
                cg_iters += its
                rate_new = rate(theta + BODY_TEMPERATURE_C) - base_rate
                om += 0.5 * dt * (rate_now + rate_new)
                rate_now = rate_new
                n_steps += 1
            t_now = t_next
        if i < len(events):
            theta = theta + increments[events[i].pair]
            np.maximum(theta_peak, theta, out=theta_peak)
            rate_now = rate(theta + BODY_TEMPERATURE_C) - base_rate
            if progress is not None and i % 50 == 0:
                progress(i / len(events))
    if progress is not None:
        progress(1.0)
    log.debug("bioheat: %d steps, %d CG iterations, box %s", n_steps, cg_iters, sub_shape)
    peak[box] = theta_peak.reshape(sub_shape) + BODY_TEMPERATURE_C
    final[box] = theta.reshape(sub_shape) + BODY_TEMPERATURE_C
    omega[box] = om.reshape(sub_shape)
    return _result(grid, labels, tissue_names, peak, final, omega, duration, n_steps)


def _result(grid, labels, names, peak, final, omega, duration, steps) -> ThermalResult:
    vox_cm3 = grid.voxel_volume_m3 * 1e6
    regions = {}
    damaged = omega >= 1.0
    for index, name in enumerate(names):
        mask = labels == index
        if not mask.any():
            continue
        regions[name] = RegionHeating(
            peak_temperature_C=float(peak[mask].max()),
            damage_volume_cm3=float(np.count_nonzero(damaged & mask) * vox_cm3),
            volume_cm3=float(np.count_nonzero(mask) * vox_cm3),
        )
    return ThermalResult(grid=grid, peak_temperature_C=peak, damage=omega,
                         final_temperature_C=final, regions=regions,
                         duration_s=float(duration), steps=steps)

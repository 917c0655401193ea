"""irelab's field solver against a finite-element peer (NGSolve) on four 3-D needle problems.

The peer: NGSolve (https://ngsolve.org, Schoeberl J, C++11 implementation of finite elements in
NGSolve, ASC Report 30/2014), an established finite-element package, installed with the optional
``validation`` extra (``pip install -e '.[validation]'``). Each problem is built twice from one
description (:class:`Scene`): as an irelab :class:`~irelab.field.FieldProblem` on voxel grids of
1, 0.75 and 0.5 mm, and as an OpenCascade solid meshed by Netgen with tetrahedra graded towards
the needles (mesh size ``h_rod`` along every needle axis, half of it on the rims of the ends,
``h_mid`` in the treated region, growing to ``h_far``), curved elements of the same order as the
Lagrange elements (P2, then P3). Both solve div(sigma(|E|) grad phi) = 0 with the same liver
sigma(E) (the ``liver`` preset: Sel et al., IEEE Trans Biomed Eng 52(5):816-827, 2005), the
anode at ``voltage_V``, the cathode at 0, other electrodes floating (in the FEM: the floating
electrode's potential is one extra unknown, ``u + lambda chi`` with ``chi`` = 1 on it), the
box's faces insulated. The FEM solve is Newton's method on the convex energy
``int W(|E|)``, ``W' = sigma(E) E``, with a backtracking line search on the energy, each step by
conjugate gradients (Jacobi preconditioner) to 1e-10.

Compared: the anode current (FEM: the Galerkin residual tested with the function that is 1 on
the anode, the superconvergent flux) and the lethal volume, tissue where |E| >= e_irr of liver
(637 V/cm). FEM: |E|^2 at the four vertices of every tetrahedron, linearly interpolated, and
the exact volume fraction of the tetrahedron above the threshold. irelab:
:func:`irelab.field.lethal_volume_m3` (sub-voxel). Wall time and peak memory are measured per
run in a fresh process (mesh generation and set-up included).

The vessel is given to irelab as a case of shapes gives it: voxel labels by centre plus the
cylinder itself for the sub-voxel tissue interfaces (:mod:`irelab.field.interfaces`); the
``vessel`` scene prints both that and the plain staircase. Measured (load 1.2-2.0 on 2 shared
cores, against the P3 reference: current 10.848 A, lethal 4.619 cm3, backed out of the
staircase's 1 mm figures -0.54 % and +1.36 % of an earlier full run of this benchmark):
current and lethal volume -0.26 % and +0.37 % at 1 mm (staircase -0.54 %, +1.36 %), -0.21 % and
-0.08 % at 0.75 mm (-0.21 %, +0.12 %), -0.12 % and +0.11 % at 0.5 mm (+0.02 %, -0.03 %);
the corrected near-needle field (below) moves these by at most 0.01 %.
Solver CPU per pair at 1 mm (set-up and solve, 2 runs each, load 0.9): 0.60-0.65 s against
0.50-0.58 s for the staircase; at 0.5 mm 3.9-4.1 s against 3.8-4.6 s.

The floating third needle, against its FEM P2 level (the P3 level's Newton steps took
several minutes each and it was not finished; for the two-needle scene P2 and P3
agree to 0.01 % in volume): current -0.35 %, -0.33 %, -0.24 % and lethal volume +0.05 %,
-0.28 %, -0.21 % at 1, 0.75, 0.5 mm (FEM P2: 10.7856 A, 4.7122 cm3, 1804 s wall, load 1-2.5).
Before the reported field next to an off-lattice needle was corrected
(:meth:`irelab.field.operators.FieldOperator.e_field_central`) the volume was +3.69 %, +0.61 %,
+0.30 %: at 1 mm the floating needle's axis lies on a cell edge, and its neighbours reported
about 2.7 times their field.

The bipolar probe does not meet the lethal-volume target (measured at load 0.3-1.2; the FEM's
P2 level took 38 s, P3 138 s): FEM P2 4.3038 A / 1.2404 cm3, P3 4.2883 A / 1.2281 cm3 (the
reference moved -0.36 % / -1.0 % from P2 to P3, so its own volume is not known to better than
about 0.3 %); irelab -0.40 % / +2.06 % at 1 mm, -0.53 % / +1.37 % at 0.75 mm, -0.37 % /
+0.76 % at 0.5 mm, and 1.2333 / 1.2286 cm3 at 0.35 / 0.25 mm (12 s / 2.1 GB, 37 s / 5.4 GB);
with the corrected near-needle field the 1 mm volume is 1.2584 cm3 (+2.47 %), the finer grids'
unchanged.
irelab's own volumes at 1, 0.5, 0.25 mm (1.2535, 1.2374, 1.2286 cm3) converge at about first
order, towards about 1.220 cm3. The error comes with the field-dependent conductivity: the same
probe in a linear medium (0.2 S/m, 400 V/cm) gives 2369.3, 2374.6, 2375.4 mm3 (-0.26 % at 1 mm
against 0.25 mm), and with the conductivity's rise spread over 100-637 V/cm instead of
362-637 V/cm the 1 mm excess over 0.25 mm halves (+0.94 % against +2.0 %). It lies along the
electrodes' bodies (the band 2-9 mm from the probe's centre: 405.3, 398.0, 394.8 mm3 at 1, 0.5,
0.25 mm), and at 1 mm the volume moves by +-1.5 % with the probe's position in the lattice
(0.25 mm sideways: +1.1 % at the same current). Ruled out: the Newton tolerance (1e-4 to 1e-8:
the same volume), the electrodes' cut-cell energy-field factor (set to 1: the same volume), and
an energy-field factor for the cells that insulators cut (tried: -0.05 %). The two-needle
scene's own volumes (4.7223, 4.6970, 4.6883 cm3) converge faster (order about 1.5).

The FEM is the slow side: its coarsest level (P2) of the two-needle scene took 786 s wall at a
1-minute load of 9-15 on 2 shared cores and 121 s at a load of 2-3; the P3 level takes several
times longer (bipolar probe at load 9-15: 333 s for P2, 1032 s for P3; at load 0.3-1: 38 s and
138 s). The floating third needle is the slowest: its potential's unknown couples to every
degree of freedom on that needle; at P2 its 12 Newton steps took 1804 s (load 1-2.5). ``--quick``
runs only the coarsest FEM level (then the reference's own error, about 0.15 % for the
two-needle scene, is part of the printed difference); ``--fem-results`` keeps finished FEM
runs so that an interrupted benchmark resumes where it stopped. Run::

    .venv/bin/python benchmarks/field_vs_fem.py [--scenes two-needles,bipolar] [--quick]
        [--fem-results fem.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from irelab.field import (
    CylinderShape,
    Electrode,
    FieldProblem,
    FieldSolver,
    Grid,
    Insulator,
    Material,
    ShapeRegion,
    SmoothStepConductivity,
    SolverOptions,
    TissueInterfaces,
    lethal_volume_m3,
)
from irelab.field.geometry import cylinder_sdf

MM = 1e-3
LIVER = SmoothStepConductivity(0.067, 0.241, 362e2, 637e2)
"""The ``liver`` preset (Sel et al. 2005): sigma0, sigma1 S/m, e_rev, e_irr V/m."""
BLOOD = SmoothStepConductivity(0.68, 0.68, 362e2, 637e2)
"""The ``blood`` preset: constant 0.68 S/m (Gabriel 1996, appendix B)."""
SPACINGS_MM = (1.0, 0.75, 0.5)


@dataclass(frozen=True)
class Rod:
    """A cylinder in mm: an electrode or an insulator (``insulator=True``)."""

    name: str
    start_mm: tuple[float, float, float]
    end_mm: tuple[float, float, float]
    radius_mm: float = 0.55
    insulator: bool = False


@dataclass(frozen=True)
class Vessel:
    start_mm: tuple[float, float, float]
    end_mm: tuple[float, float, float]
    radius_mm: float


@dataclass(frozen=True)
class Scene:
    """One benchmark problem (liver box centred at the origin, mm)."""

    name: str
    box_mm: tuple[float, float, float]
    rods: tuple[Rod, ...]
    anode: str
    cathode: str
    voltage_V: float
    vessels: tuple[Vessel, ...] = ()
    refine_box_mm: tuple[float, float, float] = (13.0, 8.0, 15.0)
    linear_sigma_S_per_m: float | None = None
    """A linear medium of this conductivity instead of liver (for the convergence-order test)."""
    threshold_V_per_m: float = LIVER.e_irr_V_per_m
    """Half-sizes of the region meshed at ``h_mid`` (contains the lethal zone's boundary)."""
    notes: str = ""
    electrodes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "electrodes",
                           tuple(r.name for r in self.rods if not r.insulator))


def _needle(name: str, x: float, y: float, top: float, exposed=(-10.0, 10.0)) -> tuple[Rod, ...]:
    """A monopolar needle along z: electrode over ``exposed``, insulated shaft above it."""
    return (Rod(name, (x, y, exposed[0]), (x, y, exposed[1])),
            Rod(f"{name}:shaft", (x, y, exposed[1]), (x, y, top), insulator=True))


BOX = (80.0, 60.0, 70.0)
TOP = BOX[2] / 2 + 5.0  # shafts leave the box through its top face

SCENES = {
    "two-needles": Scene(
        "two-needles", BOX, _needle("A", -7.5, 0, TOP) + _needle("B", 7.5, 0, TOP), "A", "B",
        2250.0, refine_box_mm=(13.0, 8.0, 15.0),
        notes="Ben-David et al. (AJR 198:W62-W68, 2012) in vivo porcine liver set-up: "
        "two 1.1 mm needles 15 mm apart, 20 mm exposed, 2250 V"),
    "floating-third": Scene(
        "floating-third", BOX, _needle("A", -7.5, 0, TOP) + _needle("B", 7.5, 0, TOP)
        + _needle("C", 0.0, 8.0, TOP), "A", "B", 2250.0, refine_box_mm=(13.0, 11.0, 15.0),
        notes="a third needle of the same kind 8 mm off the pair's midline, floating"),
    "vessel": Scene(
        "vessel", BOX, _needle("A", -7.5, 0, TOP) + _needle("B", 7.5, 0, TOP), "A", "B",
        2250.0, vessels=(Vessel((-BOX[0] / 2 - 1, 6.0, 0.0), (BOX[0] / 2 + 1, 6.0, 0.0), 1.5),),
        refine_box_mm=(13.0, 9.0, 15.0),
        notes="a 3 mm blood vessel (0.68 S/m) along x, 6 mm beside the needles' plane"),
    "linear-pair": Scene(
        "linear-pair", (40.0, 40.0, 40.0), _needle("A", -5.0, 0.0, 25.0, (-5.0, 5.0))
        + _needle("B", 5.0, 0.0, 25.0, (-5.0, 5.0)), "A", "B", 1000.0,
        refine_box_mm=(12.0, 10.0, 12.0), linear_sigma_S_per_m=0.2, threshold_V_per_m=250e2,
        notes="linear medium 0.2 S/m, two needles 10 mm apart, 10 mm exposed, 1000 V, |E| >= "
        "250 V/cm (the reference of the convergence-order test)"),
    "convergence": Scene(
        "convergence", (24.0, 20.0, 24.0), _needle("A", -4.0, 0.0, 17.0, (-4.0, 4.0))
        + _needle("B", 4.0, 0.0, 17.0, (-4.0, 4.0)), "A", "B", 1000.0,
        refine_box_mm=(12.0, 10.0, 12.0), linear_sigma_S_per_m=0.2, threshold_V_per_m=400e2,
        notes="linear medium 0.2 S/m, two needles 8 mm apart, 8 mm exposed, 1000 V, |E| >= "
        "400 V/cm, in a 24 x 20 x 24 mm box (the reference of the convergence-order test)"),
    "bipolar": Scene(
        "bipolar", BOX, (Rod("P:distal", (0, 0, -11.0), (0, 0, -4.0)),
                         Rod("P:gap", (0, 0, -4.0), (0, 0, 4.0), insulator=True),
                         Rod("P:proximal", (0, 0, 4.0), (0, 0, 11.0)),
                         Rod("P:shaft", (0, 0, 11.0), (0, 0, TOP), insulator=True)),
        "P:distal", "P:proximal", 2000.0, refine_box_mm=(7.0, 7.0, 15.0),
        notes="one 1.1 mm bipolar probe: 7 mm electrodes, 8 mm insulating gap, 2000 V"),
}


# -- irelab ------------------------------------------------------------------------------
def irelab_problem(scene: Scene, spacing_mm: float, subvoxel: bool = True) -> FieldProblem:
    """The scene on a voxel grid; its vessels also as analytic shapes (sub-voxel tissue
    interfaces, as a case of shapes gets them) unless ``subvoxel`` is False (the staircase)."""
    grid = Grid.centred(tuple(s * MM for s in scene.box_mm), spacing_mm * MM)
    labels = np.zeros(grid.shape, dtype=np.int8)
    if scene.vessels:
        x, y, z = grid.centres_m()
        points = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
        for v in scene.vessels:
            inside = cylinder_sdf(points, np.multiply(v.start_mm, MM), np.multiply(v.end_mm, MM),
                                  v.radius_mm * MM) <= 0
            labels[inside] = 1
    electrodes, insulators = [], []
    for r in scene.rods:
        seg = (r.name, tuple(np.multiply(r.start_mm, MM)), tuple(np.multiply(r.end_mm, MM)),
               r.radius_mm * MM)
        (insulators if r.insulator else electrodes).append(
            Insulator(*seg) if r.insulator else Electrode(*seg))
    materials = tuple(Material(name, model) for name, model in
                      zip(("liver", "blood"), _tissues(scene), strict=True))
    shapes = None
    if subvoxel and scene.vessels:
        shapes = TissueInterfaces(tuple(
            ShapeRegion(CylinderShape(tuple(np.multiply(v.start_mm, MM)),
                                      tuple(np.multiply(v.end_mm, MM)), v.radius_mm * MM), 1)
            for v in scene.vessels))
    return FieldProblem(grid, labels, materials, tuple(electrodes), tuple(insulators),
                        subvoxel=shapes)


def _tissues(scene: Scene) -> tuple[SmoothStepConductivity, SmoothStepConductivity]:
    if scene.linear_sigma_S_per_m is None:
        return LIVER, BLOOD
    s = scene.linear_sigma_S_per_m
    return SmoothStepConductivity(s, s, LIVER.e_rev_V_per_m, LIVER.e_irr_V_per_m), BLOOD


def run_irelab(scene: Scene, spacing_mm: float, subvoxel: bool = True) -> dict:
    t0 = time.perf_counter()
    c0 = time.process_time()
    problem = irelab_problem(scene, spacing_mm, subvoxel)
    solver = FieldSolver(problem, SolverOptions(nonlinear_rtol=1e-4))
    sol = solver.solve_pair(scene.anode, scene.cathode, scene.voltage_V)
    volume = lethal_volume_m3(problem, sol.e_field_V_per_m, scene.threshold_V_per_m)
    return {"current_A": sol.current_A, "lethal_cm3": volume * 1e6,
            "converged": sol.converged, "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "voxels": problem.grid.size, "peak_MiB": _peak_mib()}


# -- NGSolve -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FemLevel:
    order: int
    h_rod_mm: float
    h_mid_mm: float
    h_far_mm: float = 8.0
    grading: float = 0.25


FEM_NEWTON_RTOL = 1e-10
"""Newton stops when the free residual has fallen by this factor (the current is then fixed to
far below 1e-6)."""

FEM_LEVELS = (FemLevel(2, 0.4, 2.0), FemLevel(3, 0.25, 1.25))
"""The FEM's mesh levels: the last is the reference, the change from the first to it measures
its own error (P3 converges much faster than P2 on the same kind of mesh)."""


def _energy_density(model: SmoothStepConductivity, e):
    """W(E) = int_0^E sigma(e) e de of the smoothed step (E in V/m; per m^3)."""
    import ngsolve as ng

    s0, s1 = model.sigma0_S_per_m, model.sigma1_S_per_m
    er, ei = model.e_rev_V_per_m, model.e_irr_V_per_m
    span = ei - er
    t = (e - er) / span
    middle = s0 * e * e / 2 + (s1 - s0) * (span * er * (t**3 - t**4 / 2)
                                           + span**2 * (3 * t**4 / 4 - 2 * t**5 / 5))
    w_irr = s0 * ei * ei / 2 + (s1 - s0) * (span * er / 2 + 0.35 * span**2)
    return ng.IfPos(e - ei, w_irr + s1 * (e * e - ei * ei) / 2,
                    ng.IfPos(e - er, middle, s0 * e * e / 2))


def _classify_faces(shape, scene: Scene) -> None:
    """Name the faces of conductors by their rod (bounding-box containment)."""
    for f in shape.faces:
        f.name = "outer"
        bb = f.bounding_box
        lo, hi = np.array([bb[0].x, bb[0].y, bb[0].z]), np.array([bb[1].x, bb[1].y, bb[1].z])
        for r in scene.rods:
            a, b = np.array(r.start_mm), np.array(r.end_mm)
            rlo = np.minimum(a, b) - r.radius_mm - 1e-4
            rhi = np.maximum(a, b) + r.radius_mm + 1e-4
            if np.all(lo >= rlo) and np.all(hi <= rhi):
                f.name = "insulator" if r.insulator else r.name.replace(":", "_")
                break


def run_fem(scene: Scene, level: FemLevel) -> dict:
    import ngsolve as ng
    from netgen.meshing import MeshingParameters
    from netgen.meshing import Pnt as MeshPoint
    from netgen.occ import Box, Cylinder, Dir, Glue, OCCGeometry, Pnt
    from ngsolve.krylovspace import CGSolver

    ng.SetNumThreads(1)
    t0 = time.perf_counter()
    half = np.array(scene.box_mm) / 2
    box = Box(Pnt(*(-half)), Pnt(*half))

    def cylinder(start, end, radius):
        a, b = np.asarray(start, float), np.asarray(end, float)
        return Cylinder(Pnt(*a), Dir(*(b - a)), r=radius, h=float(np.linalg.norm(b - a)))

    rods = [cylinder(r.start_mm, r.end_mm, r.radius_mm) for r in scene.rods]
    vessels = [cylinder(v.start_mm, v.end_mm, v.radius_mm) * box for v in scene.vessels]
    tissue = box
    for v in vessels:
        tissue = tissue - v
    for r in rods:
        tissue = tissue - r
        vessels = [v - r for v in vessels]
    tissue.mat("liver")
    for v in vessels:
        v.mat("blood")
    shape = Glue([tissue, *vessels]) if vessels else tissue
    _classify_faces(shape, scene)
    for e in shape.edges:  # rims of the electrode ends and junctions
        bb = e.bounding_box
        size = max(bb[1].x - bb[0].x, bb[1].y - bb[0].y, bb[1].z - bb[0].z)
        centre = np.array([(bb[0].x + bb[1].x) / 2, (bb[0].y + bb[1].y) / 2,
                           (bb[0].z + bb[1].z) / 2])
        for r in scene.rods:
            ends = (np.array(r.start_mm), np.array(r.end_mm))
            if size < 2.5 * r.radius_mm and min(np.linalg.norm(centre - p) for p in ends) < 1e-3:
                e.maxh = level.h_rod_mm / 2
    mp = MeshingParameters(maxh=level.h_far_mm, grading=level.grading)
    for r in scene.rods:
        mp.RestrictHLine(MeshPoint(*r.start_mm), MeshPoint(*r.end_mm), level.h_rod_mm)
    rb = np.array(scene.refine_box_mm)
    for px in np.arange(-rb[0], rb[0] + 1e-9, level.h_mid_mm * 2):
        for py in np.arange(-rb[1], rb[1] + 1e-9, level.h_mid_mm * 2):
            for pz in np.arange(-rb[2], rb[2] + 1e-9, level.h_mid_mm * 2):
                mp.RestrictH(MeshPoint(px, py, pz), level.h_mid_mm)
    mesh = ng.Mesh(OCCGeometry(shape).GenerateMesh(mp=mp))
    mesh.Curve(level.order)
    log = os.environ.get("IRELAB_FEM_LOG") is not None
    if log:
        print(f"mesh {mesh.ne} tets {time.perf_counter() - t0:.1f} s", flush=True)
    anode, cathode = scene.anode.replace(":", "_"), scene.cathode.replace(":", "_")
    floating = [n.replace(":", "_") for n in scene.electrodes if n not in (scene.anode,
                                                                            scene.cathode)]
    h1 = ng.H1(mesh, order=level.order, dirichlet="|".join([anode, cathode, *floating]))
    spaces = [h1] + [ng.NumberSpace(mesh) for _ in floating]
    fes = ng.FESpace(spaces) if floating else h1
    chis = []
    for name in floating:
        chi = ng.GridFunction(h1)
        chi.Set(1.0, definedon=mesh.Boundaries(name))
        chis.append(chi)
    trial = fes.TrialFunction()
    u = trial[0] if floating else trial
    grad_total = ng.grad(u)
    for k, chi in enumerate(chis):
        grad_total = grad_total + trial[k + 1] * ng.grad(chi)
    e_si = 1e3 * ng.sqrt(grad_total * grad_total + 1e-20)  # |E| in V/m (mesh in mm)
    density = ng.CoefficientFunction(0.0)
    materials = dict(zip(("liver", "blood"), _tissues(scene), strict=True))
    for mat in mesh.GetMaterials():
        density = density + _energy_density(materials[mat], e_si) * ng.CoefficientFunction(
            [1.0 if m == mat else 0.0 for m in mesh.GetMaterials()])
    a = ng.BilinearForm(fes, symmetric=True)
    a += ng.Variation(1e-6 * density * ng.dx(bonus_intorder=2))  # mm^3 -> m^3 and V/mm
    x = ng.GridFunction(fes)
    xu = x.components[0] if floating else x
    xu.Set(scene.voltage_V, definedon=mesh.Boundaries(anode))
    free = fes.FreeDofs()
    res = x.vec.CreateVector()
    step = x.vec.CreateVector()
    trial_vec = x.vec.CreateVector()
    newton_steps, cg_steps = 0, 0
    first = None
    for newton_steps in range(1, 60):
        a.AssembleLinearization(x.vec)
        a.Apply(x.vec, res)
        norm = ng.Norm(_masked(res, free))
        first = first or norm
        if norm <= FEM_NEWTON_RTOL * first:
            break
        pre = a.mat.CreateSmoother(free)
        # inexact Newton: loose linear solves far from the solution (Eisenstat-Walker idea)
        tol = max(1e-11, min(1e-2, 1e-2 * norm / first))
        solver = CGSolver(a.mat, pre, tol=tol, maxiter=20000)
        step.data = solver * _masked(res, free)
        cg_steps += solver.iterations
        energy = a.Energy(x.vec)
        t = 1.0
        for _ in range(40):
            trial_vec.data = x.vec - t * step
            if a.Energy(trial_vec) <= energy + 1e-13 * abs(energy):
                break
            t /= 2
        x.vec.data = trial_vec
        if log:
            print(f"newton {newton_steps}: residual {norm:.3e} cg {solver.iterations} t {t} "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
    a.Apply(x.vec, res)
    test = ng.GridFunction(fes)
    (test.components[0] if floating else test).Set(1.0, definedon=mesh.Boundaries(anode))
    current = abs(ng.InnerProduct(res, test.vec)) * 1e-3  # V S/m mm -> A
    grad_x = ng.grad(xu)
    for k, chi in enumerate(chis):
        grad_x = grad_x + x.components[k + 1] * ng.grad(chi)
    e2 = 1e6 * (grad_x * grad_x)
    volume = _fem_volume_above(mesh, e2, scene.threshold_V_per_m**2)
    return {"current_A": current, "lethal_cm3": volume * 1e-3, "wall_s":
            time.perf_counter() - t0, "elements": mesh.ne, "dofs": fes.ndof,
            "newton": newton_steps, "cg": cg_steps, "peak_MiB": _peak_mib()}


def _masked(vec, free):
    out = vec.CreateVector()
    out.data = vec
    array = out.FV().NumPy()
    array[~np.asarray(free, dtype=bool)] = 0.0
    return out


VOLUME_LATTICE = 4
"""Each tetrahedron is split into VOLUME_LATTICE**3 sub-tetrahedra (its barycentric lattice)
for the lethal volume; the volume is then extrapolated from this and the half lattice."""


def _lattice(m: int):
    """Points ``(i, j, k) / m`` with ``m >= i >= j >= k >= 0`` of the reference tetrahedron
    ``x = a - b, y = b - c, z = c`` (``a, b, c`` the scaled ``i, j, k``), and its ``m**3``
    sub-tetrahedra (Kuhn's subdivision, which preserves the ordering) as index quadruples."""
    pts = [(i, j, k) for i in range(m + 1) for j in range(i + 1) for k in range(j + 1)]
    index = {p: n for n, p in enumerate(pts)}
    tets = []
    for p0 in pts:
        for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            verts = [p0]
            for axis in perm:
                q = list(verts[-1])
                q[axis] += 1
                verts.append(tuple(q))
            if all(v in index for v in verts):
                tets.append([index[v] for v in verts])
    ref = [((i - j) / m, (j - k) / m, k / m) for i, j, k in pts]
    return ref, np.array(tets), pts


def _fem_volume_above(mesh, cf, threshold: float) -> float:
    """Volume (mesh units) where ``cf`` >= threshold: ``cf`` at the barycentric lattice of
    every tetrahedron, linear on each of its sub-tetrahedra, extrapolated (second order) from
    the lattice of ``VOLUME_LATTICE`` and its half."""
    import ngsolve as ng

    m = VOLUME_LATTICE
    ref, tets, pts = _lattice(m)
    values = []
    jac = None
    for point in ref:
        rule = ng.IntegrationRule(points=[point], weights=[1.0])
        dx = ng.dx(intrules={ng.TET: rule})
        jac = ng.Integrate(ng.CoefficientFunction(1.0) * dx, mesh, element_wise=True).NumPy()
        values.append(ng.Integrate(cf * dx, mesh, element_wise=True).NumPy() / jac)
    values = np.stack(values, axis=1)
    volume = ng.Integrate(ng.CoefficientFunction(1.0), mesh, element_wise=True).NumPy()
    half_ref, half_tets, half_pts = _lattice(m // 2)
    pick = [pts.index(tuple(2 * c for c in p)) for p in half_pts]
    result = []
    for table, sub in ((values, tets), (values[:, pick], half_tets)):
        fraction = (table.min(axis=1) >= threshold).astype(float)
        cut = (table.min(axis=1) < threshold) & (table.max(axis=1) >= threshold)
        vals = table[cut][:, sub]  # (cut elements, sub-tets, 4)
        fraction[cut] = tet_fraction_above(vals.reshape(-1, 4), threshold).reshape(
            vals.shape[:2]).mean(axis=1)
        result.append(float(np.sum(volume * fraction)))
    fine, coarse = result
    return fine + (fine - coarse) / 3


def tet_fraction_above(values: np.ndarray, threshold: float) -> np.ndarray:
    """Fraction of each tetrahedron where the linear function with vertex ``values`` (n, 4)
    is >= ``threshold``: one minus its cumulative distribution, a cubic B-spline in the
    threshold with the sorted vertex values as knots."""
    v = np.sort(values, axis=1)
    span = v[:, 3] - v[:, 0]
    v = v + 1e-7 * (span[:, None] + 1e-30) * np.arange(4)  # distinct knots
    t = threshold
    below = np.zeros(len(v))
    for i in range(4):
        den = np.ones(len(v))
        for j in range(4):
            if j != i:
                den *= v[:, j] - v[:, i]
        below += np.maximum(t - v[:, i], 0.0) ** 3 / den
    below = np.where(t <= v[:, 0], 0.0, np.where(t >= v[:, 3], 1.0, below))
    return 1.0 - np.clip(below, 0.0, 1.0)


# -- driver ------------------------------------------------------------------------------
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh(fn, *args) -> dict:
    """Run ``fn(*args)`` in a fresh process (own wall time and peak memory)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _fem_cached(scene: Scene, level: FemLevel, path: Path | None) -> dict:
    """The FEM run of ``scene`` at ``level``, from ``path`` (JSON) when it holds one for the
    same scene, level and NGSolve version, else computed (and stored there)."""
    import ngsolve

    key = f"{scene!r} {level!r} ngsolve {ngsolve.__version__}"
    stored = json.loads(path.read_text(encoding="utf-8")) if path and path.exists() else {}
    if key in stored:
        return {**stored[key], "cached": True}
    result = _fresh(run_fem, scene, level)
    if path is not None:
        stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        stored[key] = result
        path.write_text(json.dumps(stored, indent=1), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="two-needles,floating-third,vessel,bipolar")
    parser.add_argument("--quick", action="store_true", help="coarsest FEM level only")
    parser.add_argument("--fem-only", action="store_true", help="run the FEM peer only")
    parser.add_argument("--fem-results", type=Path, default=None, metavar="JSON",
                        help="reuse FEM results stored here for the same scene, mesh level and "
                        "NGSolve version (and store new ones)")
    args = parser.parse_args(argv)
    try:
        import ngsolve  # noqa: F401
    except ImportError:
        print("NGSolve is not installed: pip install -e '.[validation]'", file=sys.stderr)
        return 2
    levels = FEM_LEVELS[:1] if args.quick else FEM_LEVELS
    print(f"1-min load average at start: {os.getloadavg()[0]:.2f} (2 shared cores)")
    for name in args.scenes.split(","):
        scene = SCENES[name]
        print(f"\n== {scene.name}: {scene.notes}")
        fem = []
        for level in levels:
            r = _fem_cached(scene, level, args.fem_results)
            fem.append(r)
            print(f"  FEM P{level.order} h_rod {level.h_rod_mm} mm, h_mid {level.h_mid_mm} mm: "
                  f"{r['elements']:,} tets, {r['dofs']:,} dofs, {r['newton']} Newton / "
                  f"{r['cg']} CG: current {r['current_A']:.4f} A, lethal "
                  f"{r['lethal_cm3']:.4f} cm3 ({r['wall_s']:.0f} s, {r['peak_MiB']:.0f} MiB"
                  f"{', stored result' if r.get('cached') else ''})", flush=True)
        if args.fem_only:
            continue
        ref = fem[-1]
        variants = (True, False) if scene.vessels else (True,)
        for spacing in SPACINGS_MM:
            for subvoxel in variants:
                r = _fresh(run_irelab, scene, spacing, subvoxel)
                di = 100 * (r["current_A"] / ref["current_A"] - 1)
                dv = 100 * (r["lethal_cm3"] / ref["lethal_cm3"] - 1)
                kind = ("" if not scene.vessels else
                        " sub-voxel" if subvoxel else " staircase")
                print(f"  irelab{kind} {spacing:4.2f} mm ({r['voxels']:,} voxels): current "
                      f"{r['current_A']:.4f} A ({di:+.2f} %), lethal {r['lethal_cm3']:.4f} cm3 "
                      f"({dv:+.2f} %) ({r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                      f"{r['peak_MiB']:.0f} MiB)", flush=True)
    print(f"\n1-min load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

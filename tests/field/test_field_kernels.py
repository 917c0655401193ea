"""The two implementations of the grid kernels agree, the transfers are transposes, and solves
are reproducible.

References: the NumPy implementation (:class:`ArrayKernels`) is the specification of every
compiled kernel (:class:`NumbaKernels`); agreement is to double-precision rounding (float32 where
the kernel works in single precision). Restriction must be the exact transpose of prolongation
for the V-cycle to be symmetric (conjugate gradients requires it).
"""

from __future__ import annotations

import numpy as np
import pytest
from field_cases import LIVER, MM, needle_problem

from irelab.field import FieldSolver, SolverOptions
from irelab.field.kernels import ArrayKernels, NumbaKernels, select_kernels, transfer_maps

SHAPE = (7, 6, 5)  # odd and even sizes: the walls and the unpaired last cells are exercised
ROUNDING = 1e-12  # double-precision kernels
ROUNDING_F32 = 1e-5  # kernels whose arrays are single precision


@pytest.fixture(scope="module")
def both():
    return ArrayKernels(np), NumbaKernels()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)

    def faces(dtype=np.float32):
        g = [rng.random(SHAPE).astype(dtype) for _ in range(3)]
        g[0][-1], g[1][:, -1], g[2][:, :, -1] = 0, 0, 0  # the insulated walls
        return g

    return {"G": faces(), "g_lo": faces(), "g_hi": faces(),
            "x": rng.random(SHAPE), "v": rng.random(SHAPE), "s": rng.random(SHAPE),
            "beta": rng.random(SHAPE), "diag": (rng.random(SHAPE) + 6).astype(np.float32),
            "b": rng.random(SHAPE).astype(np.float32), "x32": rng.random(SHAPE).astype(
                np.float32), "labels": rng.integers(0, 2, SHAPE).astype(np.int32),
            "apertures": [rng.random(tuple(n - (a == ax) for ax, n in enumerate(SHAPE)))
                          .astype(np.float32) for a in range(3)]}


def _newton_metric(kernels, d) -> np.ndarray:
    """The Newton metric per axis and its ``coef``, with cells of no field (``coef`` 0)."""
    e = np.where(d["v"] > 0.2, d["v"], 0.0)
    coef = np.empty(SHAPE)
    metric = kernels.newton_metric(np.stack([d["x"], d["v"], d["s"]]), e, d["s"], d["beta"],
                                   coef)
    return np.concatenate([metric, coef[None]])


def _pair(both, fn):
    return [np.asarray(fn(k)) for k in both]


@pytest.mark.parametrize("name", ["apply", "apply_sigma", "e2_axes", "cross", "hessian",
                                  "divide_scale", "residual",
                                  "gauss_seidel", "gauss_seidel_backward",
                                  "gauss_seidel_from_zero", "stencil_diag",
                                  "face_conductance", "half_weights", "central_gradient",
                                  "field_norm", "newton_metric"])
def test_compiled_kernels_match_the_numpy_ones(both, data, name) -> None:
    d = data
    calls = {
        "apply": lambda k: k.apply(d["G"], d["x"], np.empty(SHAPE)),
        "divide_scale": lambda k: k.divide_scale(d["x"].copy(), 1e-9, d["s"]),
        "apply_sigma": lambda k: k.apply_sigma(d["x"], d["s"], d["g_lo"], d["g_hi"],
                                               np.empty(SHAPE)),
        "e2_axes": lambda k: k.e2_axes(d["x"], d["g_lo"], d["g_hi"], np.empty((3, *SHAPE)),
                                       1e-9),
        "cross": lambda k: k.cross(d["x"], d["v"], d["g_lo"], d["g_hi"], np.empty(SHAPE)),
        "hessian": lambda k: k.hessian(d["x"], d["v"], d["s"], d["beta"], d["g_lo"],
                                       d["g_hi"], np.empty(SHAPE)),
        "residual": lambda k: k.residual(d["G"], d["diag"], d["x32"], d["b"],
                                         np.empty(SHAPE, np.float32)),
        "gauss_seidel": lambda k: k.gauss_seidel(d["G"], d["diag"], d["x32"].copy(), d["b"],
                                                 (0, 1)),
        "gauss_seidel_from_zero": lambda k: k.gauss_seidel(
            d["G"], d["diag"], np.zeros(SHAPE, np.float32), d["b"], (1, 0), zero=True),
        "gauss_seidel_backward": lambda k: k.gauss_seidel(d["G"], d["diag"], d["x32"].copy(),
                                                          d["b"], (1, 0)),
        "stencil_diag": lambda k: k.stencil_diag(d["G"], np.empty(SHAPE)),
        "face_conductance": lambda k: k.face_conductance(
            [d["s"], d["v"], d["x"]], d["g_lo"], d["g_hi"], [np.empty(SHAPE) for _ in "xyz"]),
        "half_weights": lambda k: np.stack(sum(k.half_weights(
            d["labels"], np.array([0.1, 0.7]), d["apertures"], 1e-3,
            [np.empty(SHAPE) for _ in "xyz"], [np.empty(SHAPE) for _ in "xyz"]), [])),
        "central_gradient": lambda k: k.central_gradient(
            d["x"], d["labels"], np.array([0.1, 0.7]), d["apertures"], 1e-3,
            [np.empty(SHAPE) for _ in "xyz"]),
        "field_norm": lambda k: k.field_norm(np.stack([d["x"], d["v"], d["s"]]),
                                             np.empty(SHAPE)),
        "newton_metric": lambda k: _newton_metric(k, d),
    }
    reference, compiled = _pair(both, calls[name])
    single = name in ("residual", "gauss_seidel", "gauss_seidel_backward",
                      "gauss_seidel_from_zero", "stencil_diag")
    tol = ROUNDING_F32 if single else ROUNDING
    np.testing.assert_allclose(compiled, reference, rtol=tol, atol=tol * np.abs(reference).max())


def test_smoothstep_slope_dot_and_cg_updates_match(both, data) -> None:
    table = np.array([[0.067, 0.174, 362e2, 275e2], [0.134, 0.348, 362e2, 275e2]])
    e = data["x"] * 8e4
    nu = 1 + 0.1 * data["v"]
    out = []
    for k in both:
        s, ds = np.empty(SHAPE), np.empty(SHAPE)
        k.smoothstep(e, nu, data["labels"], table, s, ds)
        slope = k.slope(e**2, e * data["v"], data["v"] ** 2, 0.3, nu, data["labels"], table)
        x, r = data["x"].copy().ravel(), data["v"].copy().ravel()
        l1 = k.cg_step(x, r, data["s"].ravel(), data["beta"].ravel(), 0.25)
        p = k.cg_direction(data["s"].copy().ravel(), data["v"].ravel(), 0.5)
        out.append((s, ds, slope, k.dot(data["x"], data["v"]), x, r, l1, p))
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(b, a, rtol=ROUNDING)


@pytest.mark.parametrize("fine,coarse", [((9, 8, 5), (5, 4, 3)), ((8, 8, 8), (4, 4, 4)),
                                         ((7, 2, 3), (4, 1, 2))])
def test_restriction_is_the_transpose_of_prolongation(both, fine, coarse) -> None:
    rng = np.random.default_rng(3)
    maps = transfer_maps(fine, coarse)
    c, f = rng.random(coarse), rng.random(fine)
    for k in both:
        lhs = float(np.sum(k.prolong(c, fine, maps) * f))
        rhs = float(np.sum(c * k.restrict(f, coarse, maps)))
        assert lhs == pytest.approx(rhs, rel=1e-13)
    np.testing.assert_allclose(both[1].prolong(c, fine, maps), both[0].prolong(c, fine, maps),
                               rtol=ROUNDING)
    np.testing.assert_allclose(both[1].block_mean(f, coarse), both[0].block_mean(f, coarse),
                               rtol=ROUNDING)


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        select_kernels("fortran")
    with pytest.raises(ValueError, match="backend"):
        SolverOptions(backend="fortran")


def test_numpy_fallback_solves_like_the_compiled_kernels() -> None:
    """The pure-NumPy path (used when numba is unavailable) gives the same nonlinear solution:
    liver needles at 1 mm, 1500 V, solved to a tight tolerance by both."""
    problem = needle_problem(1.0 * MM)
    tight = {"nonlinear_rtol": 1e-6}
    a = FieldSolver(problem, SolverOptions(backend="numpy", **tight)).solve_pair("A", "B",
                                                                                1500.0)
    b = FieldSolver(problem, SolverOptions(backend="numba", **tight)).solve_pair("A", "B",
                                                                                1500.0)
    assert a.converged and b.converged
    assert a.current_A == pytest.approx(b.current_A, rel=1e-5)
    scale = b.e_field_V_per_m.max()
    np.testing.assert_allclose(a.e_field_V_per_m, b.e_field_V_per_m, atol=1e-4 * scale)
    assert LIVER.e_irr_V_per_m < scale


def test_two_solves_give_bitwise_identical_fields() -> None:
    """Same input, same output: two solvers built separately (and the second solve of one
    solver) return identical arrays, bit for bit."""
    problem = needle_problem(1.0 * MM)
    first = FieldSolver(problem).solve_pair("A", "B", 1300.0)
    second_solver = FieldSolver(needle_problem(1.0 * MM))
    second = second_solver.solve_pair("A", "B", 1300.0)
    again = second_solver.solve_pair("A", "B", 1300.0)
    for other in (second, again):
        assert other.current_A == first.current_A
        assert np.array_equal(other.potential_V, first.potential_V)
        assert np.array_equal(other.e_field_V_per_m, first.e_field_V_per_m)
        assert np.array_equal(other.sigma_S_per_m, first.sigma_S_per_m)


def test_compiled_ray_casting_matches_the_whole_array_one() -> None:
    """Reference: :func:`irelab.field.geometry.ray_entry` (whole-array NumPy) is the
    specification of the compiled first-hit loop; both evaluate the same formulas in the same
    order, so nearest distances and conductors agree exactly on rays that start near, on and
    inside oblique and axis-parallel cylinders (rays along an end plane included)."""
    from irelab.field.geometry import Cylinder
    from irelab.field.raycast import first_hits

    rng = np.random.default_rng(11)
    h = 1e-3
    cylinders = [Cylinder(np.array([0.0, 0.0, -5e-3]), np.array([0.0, 0.0, 5e-3]), 0.55e-3, 0),
                 Cylinder(np.array([-4e-3, 1e-3, 0.0]), np.array([4e-3, 2e-3, 3e-3]), 0.7e-3, 1),
                 Cylinder(np.array([0.0, 0.0, 5e-3]), np.array([0.0, 0.0, 9e-3]), 0.55e-3, -1)]
    centres = np.round(rng.uniform(-6e-3, 6e-3, (400, 3)) / h) * h  # lattice points: ties
    offsets = rng.uniform(-h / 2, h / 2, (36, 3))
    near = rng.random((400, 3)) < 0.8
    for direction in np.eye(3):
        for sign in (-1, 1):
            compiled = first_hits(centres, offsets, sign * direction, cylinders, near, 1e-9 * h)
            reference = first_hits(centres, offsets, sign * direction, cylinders, near,
                                   1e-9 * h, compile=False)
            assert np.isfinite(compiled[0]).any()
            np.testing.assert_array_equal(compiled[1], reference[1])
            np.testing.assert_allclose(compiled[0], reference[0], rtol=ROUNDING, atol=0)


def test_blas_runs_on_one_thread_inside_the_solver_context_and_is_restored() -> None:
    """Reference: threadpoolctl's own report of the loaded BLAS libraries' thread counts.
    The set-up and the solve run inside this context (see :mod:`irelab.field.blas`)."""
    import scipy.sparse.linalg  # noqa: F401  (loads SciPy's BLAS as the solver does)
    from threadpoolctl import threadpool_info

    from irelab.field.blas import single_threaded_blas

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    with single_threaded_blas():
        inside = counts()
    assert inside and all(n == 1 for n in inside)
    assert counts() == before


def _cut(monkeypatch, reach: float):
    """Cut cells of an oblique electrode, a grid-parallel one and its insulated shaft, with
    ray casting limited to cells within ``reach`` spacings of a conductor."""
    from dataclasses import fields

    from irelab.field import Electrode, Grid, Insulator, geometry

    monkeypatch.setattr(geometry, "_RAY_REACH", reach)
    h = 1e-3
    grid = Grid.centred((0.024, 0.02, 0.022), h)
    electrodes = [Electrode("oblique", (-7.3e-3, -4.1e-3, -6.2e-3), (6.6e-3, 3.7e-3, 5.9e-3),
                            0.55e-3),
                  Electrode("parallel", (5.2e-3, -6.3e-3, -5.0e-3), (5.2e-3, -6.3e-3, 2.0e-3),
                            0.55e-3)]
    insulators = [Insulator("shaft", (5.2e-3, -6.3e-3, 2.0e-3), (5.2e-3, -6.3e-3, 10.9e-3),
                            0.55e-3)]
    cut = geometry.cut_cells(grid, electrodes, insulators)
    return {f.name: getattr(cut, f.name) for f in fields(cut) if f.name != "grid"}


def test_ray_casting_only_the_cells_within_reach_changes_no_aperture_or_link(monkeypatch
                                                                             ) -> None:
    """Reference: the same cut cells with every cell of the conductors' bounding boxes ray-cast
    (reach 1000 spacings). A ray starts within ``h / sqrt(2)`` of its cell's centre across the
    face and runs ``h`` along the edge, so cells further than ``sqrt(3/2) h`` from a conductor
    cannot touch it: the default reach (1.25) must give bit-identical apertures and links,
    and a reach of one spacing must not (it drops cells whose corner rays do reach)."""
    everything = _cut(monkeypatch, 1e3)
    within = _cut(monkeypatch, 1.25)
    for name, value in everything.items():
        if isinstance(value, tuple):
            for a, b in zip(value, within[name], strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_array_equal(value, within[name], err_msg=name)
    too_short = _cut(monkeypatch, 1.0)
    assert len(too_short["link_cell"]) < len(everything["link_cell"]) or any(
        not np.array_equal(a, b) for a, b in zip(too_short["apertures"],
                                                 everything["apertures"], strict=True))

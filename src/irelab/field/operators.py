"""The finite-volume conduction operator on the cell-centred voxel grid, matrix-free.

Unknowns are the potential at every voxel centre (``N`` of them, C order over the grid) followed
by one potential per electrode (``m``). The operator is the weighted graph Laplacian of

* faces between neighbouring active cells, conductance ``2 h f (s_c kappa_c^2 + s_n kappa_n^2)``
  with the face's open fraction ``f`` (its aperture, :mod:`irelab.field.geometry`): the series
  of the two half-cells for the resting conductivities (see below);
* cut-cell links from an active cell to an electrode, conductance ``sigma_cell * w``;
* outer faces: none (insulated, zero flux).

Inactive cells (inside a conductor) carry no unknown (their rows are identities). A *driven*
electrode's potential is fixed (Dirichlet); a *floating* electrode keeps its row: Kirchhoff's
law at that node is exactly "zero net current", and its solution value is the electrode's
potential.

Energy and |E|. Each cell ``c`` sees, on every open face to ``n``, the half-link difference
``D = kappa_c (phi_n - phi_c)`` with the fixed weight ``kappa_c = s0_n / (s0_c + s0_n)``
(``s0``: the tissues' conductivity at zero field), i.e. the face potential that makes the current
continuous for the resting conductivities; on a link, ``D = V_e - phi_c``. With the half-link
weights ``w`` (``2h f`` on a face, the link's conductance on a link),

    |E_c|^2 = sum_l w_l D_l^2 / h^3,

exact for a linear potential in one tissue. The discrete energy ``J = sum_c h^3 W_c(|E_c|)``,
``W_c'(E) = sigma_c(E) E``, has for frozen sigma the gradient ``A phi - b`` of this operator: for a
linear medium (and at a tissue interface at rest) the face conductance is exactly the harmonic
mean ``2h s_c s_n / (s_c + s_n)``; inside one tissue with field-dependent sigma it is the
arithmetic mean, which agrees with the harmonic mean to second order. The nonlinear solver
(:mod:`irelab.field.solver`) relies on this exact gradient structure.

In a cut cell the link's share ``w theta^2 h^2 / h^3`` of that sum is not the ``f / 2`` of the
half face it replaces, which biases the cell's |E| (low when theta is small). Each cut cell
therefore has a fixed factor ``nu_c = sqrt(3 / (3 + sum_links (w theta^2 / h - f / 2)))``
(1 elsewhere) and the tissue model is evaluated at ``nu_c |E_c|``. (The field reported to users
is :meth:`FieldOperator.e_field_central`, which has no O(h^2) bias.) The energy stays convex
(``W_c(E) = int_0^E sigma_c(nu_c e) e de``), so the solver's argument is unchanged.

Sub-voxel tissue interfaces (when the problem has ``subvoxel`` shapes,
:mod:`irelab.field.interfaces`): a cell a tissue surface cuts is *mixed*, its ``sigma_c(E)`` the
volume-fraction weighted mean of its tissues' (still one convex ``W_c``), and the faces next to
mixed cells or between two tissues get half-face weights from the exact tissue lengths along
rays through each half face, so that the face conductance at rest is the exact series of the
two halves (each the parallel of its rays); the gradient structure is unchanged.

Storage: per axis the two half-face weights ``g_lo = 2h f kappa_lo^2`` and ``g_hi`` (per unit
conductivity, grid-shaped, :mod:`irelab.field.kernels`); the grid sweeps are the kernels'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from irelab.field.conductivity import ConductivityModel, SmoothStepConductivity
from irelab.field.geometry import CutGeometry, centres, cut_geometry
from irelab.field.interfaces import TissueInterfaces, subvoxel_weights
from irelab.field.kernels import ArrayKernels
from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []

WEIGHT_DTYPE = np.float32
"""Storage of the half-face weights and apertures: geometry known to ~1e-7 is plenty (the rays
resolve apertures to 1/36), and single precision halves the memory every sweep reads. All
arithmetic with them is in double precision."""

def _face_slices(axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(0, -1)
    hi[axis] = slice(1, None)
    return tuple(lo), tuple(hi)


class FieldOperator:
    """Geometry, half-face weights and links of the conduction problem on one grid."""

    def __init__(
        self,
        grid: Grid,
        labels: np.ndarray,
        tissues: Sequence[ConductivityModel],
        electrodes: Sequence[Electrode],
        insulators: Sequence[Insulator] = (),
        kernels: ArrayKernels | None = None,
        calibrate: bool = True,
        interfaces: TissueInterfaces | None = None,
    ) -> None:
        self.grid = grid
        self.kernels = kernels or ArrayKernels(np)
        self.labels = np.asarray(labels)
        self.tissues = tuple(tissues)
        self.electrodes = tuple(electrodes)
        self.geometry: CutGeometry = cut_geometry(grid, electrodes, insulators, calibrate)
        self.shape = grid.shape
        self.n_cells = grid.size
        self.n_electrodes = len(electrodes)
        self.size = self.n_cells + self.n_electrodes
        self.h3 = grid.spacing_m**3
        self._single_tissue = len(self.tissues) == 1
        h = grid.spacing_m
        self.label_array = np.ascontiguousarray(self.labels, dtype=np.int32)
        self.s0 = np.array([t.sigma0_S_per_m for t in self.tissues])
        self.apertures = [np.ascontiguousarray(a, dtype=WEIGHT_DTYPE)
                          for a in self.geometry.apertures]  # the geometry's own arrays
        self.g_lo = [np.empty(self.shape, WEIGHT_DTYPE) for _ in range(3)]
        self.g_hi = [np.empty(self.shape, WEIGHT_DTYPE) for _ in range(3)]
        self.kernels.half_weights(self.label_array, self.s0, self.apertures, h, self.g_lo,
                                  self.g_hi)
        g = self.geometry
        share = g.link_weight * g.link_theta**2 / h - 0.5 * g.link_aperture
        link_share = np.bincount(g.link_cell, weights=share, minlength=self.n_cells)
        self.nu = np.sqrt(3.0 / (3.0 + link_share)).reshape(self.shape)
        self._interface_gradient: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
        self._shared: tuple[np.ndarray, ...] | None = None
        self.mixed = np.zeros(0, dtype=np.int64)  # cells of several tissues (sub-voxel)
        self.mixed_fractions = np.zeros((0, len(self.tissues)))
        if interfaces is not None:
            self._tissue_interfaces(interfaces)
        self.table = None  # per-label parameters when every tissue is a smoothed step
        if all(isinstance(t, SmoothStepConductivity) for t in self.tissues):
            self.table = np.array([[t.sigma0_S_per_m, t.sigma1_S_per_m - t.sigma0_S_per_m,
                                    t.e_rev_V_per_m, t.e_irr_V_per_m - t.e_rev_V_per_m]
                                   for t in self.tissues])
        # links grouped per (cell, electrode): one coupling each in the assembled operators
        key = g.link_cell * (self.n_electrodes + 1) + g.link_electrode
        groups, self.link_group = np.unique(key, return_inverse=True)
        self.group_cell = groups // (self.n_electrodes + 1)
        self.group_electrode = groups % (self.n_electrodes + 1)
        self.active = g.active.reshape(self.shape)
        self.inactive = np.flatnonzero(~g.active)  # the conductors' cells (few): flat indices

    def _tissue_interfaces(self, interfaces: TissueInterfaces) -> None:
        """Sub-voxel tissue interfaces (:mod:`irelab.field.interfaces`): the mixed cells'
        volume fractions, the interface faces' ``g_lo``/``g_hi`` (overwritten) and one-sided
        gradient corrections (for :meth:`e_field_central`). Faces of the electrodes' cut cells
        are left alone."""
        g = self.geometry
        cut = np.zeros(self.n_cells, dtype=bool)
        cut[g.link_cell] = True
        cut = cut.reshape(self.shape)
        usable = []
        for axis in range(3):
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            ok = np.zeros(self.shape, dtype=bool)  # at the lower cell of each face
            ok[tuple(lo)] = (self.apertures[axis] == 1) & ~cut[tuple(lo)] & ~cut[tuple(hi)]
            usable.append(ok)
        weights = subvoxel_weights(interfaces, self.grid, self.labels, self.s0, usable)
        self.mixed = weights.mixed
        self.mixed_fractions = weights.fractions
        for faces in weights.faces:
            self.g_lo[faces.axis].ravel()[faces.cell] = faces.g_lo
            self.g_hi[faces.axis].ravel()[faces.cell] = faces.g_hi
            self._interface_gradient.append((faces.cell, faces.axis, faces.grad_lo,
                                             faces.grad_hi))

    def _mix(self, e: np.ndarray, sigma: np.ndarray, dsigma: np.ndarray | None = None
             ) -> None:
        """Overwrite the mixed cells' ``sigma(nu E)`` (and its derivative in E) by the volume
        fraction weighted mean of their tissues' (the conduction along an interface)."""
        if not len(self.mixed):
            return
        en = e.ravel()[self.mixed] * self.nu.ravel()[self.mixed]
        s = np.zeros(len(self.mixed))
        d = np.zeros(len(self.mixed))
        for k, model in enumerate(self.tissues):
            w = self.mixed_fractions[:, k]
            if w.any():
                s += w * model.sigma(en)
                if dsigma is not None:
                    d += w * model.dsigma_dE(en)
        sigma.ravel()[self.mixed] = s
        if dsigma is not None:
            dsigma.ravel()[self.mixed] = d * self.nu.ravel()[self.mixed]

    # -- vectors --------------------------------------------------------------------------
    def cells(self, x: np.ndarray) -> np.ndarray:
        """The grid-shaped view of a vector's cell part."""
        return x[: self.n_cells].reshape(self.shape)

    def new(self, dtype=float) -> np.ndarray:
        return np.zeros(self.size, dtype=dtype)

    # -- conductivity ---------------------------------------------------------------------
    def _per_tissue(self, e: np.ndarray, method: str) -> np.ndarray:
        e = (e * self.nu).ravel()
        if self._single_tissue:
            return getattr(self.tissues[0], method)(e).reshape(self.shape)
        out = np.empty(self.n_cells)
        flat = self.labels.ravel()
        for k, model in enumerate(self.tissues):
            idx = np.flatnonzero(flat == k)
            out[idx] = getattr(model, method)(e[idx])
        return out.reshape(self.shape)

    def sigma(self, e_cells: np.ndarray) -> np.ndarray:
        """sigma (S/m) of every cell at the energy fields ``e_cells`` (V/m): ``sigma(nu E)``."""
        e = np.ascontiguousarray(e_cells, dtype=float).reshape(self.shape)
        if self.table is not None:
            s = self.kernels.smoothstep(e, self.nu, self.label_array, self.table,
                                        np.empty(self.shape))
        else:
            s = self._per_tissue(e, "sigma")
        self._mix(e, s)
        return s

    def sigma_and_derivative(self, e_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sigma(nu E)`` and ``d sigma(nu E) / dE`` at the energy fields ``e_cells``."""
        e = np.ascontiguousarray(e_cells, dtype=float).reshape(self.shape)
        if self.table is not None:
            d = np.empty(self.shape)
            s = self.kernels.smoothstep(e, self.nu, self.label_array, self.table,
                                        np.empty(self.shape), d)
        else:
            s, d = self._per_tissue(e, "sigma"), self._per_tissue(e, "dsigma_dE") * self.nu
        self._mix(e, s, d)
        return s, d

    def dsigma_dE(self, e_cells: np.ndarray) -> np.ndarray:
        """d sigma(nu E) / dE at the energy fields ``e_cells``."""
        return self.sigma_and_derivative(e_cells)[1]

    def slope(self, p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, t: float) -> float:
        """``sum_c h^3 sigma_c(|E_c(t)|) (p1 + t p2)`` with ``|E(t)|^2 = p0 + 2 t p1 + t^2 p2``:
        the energy's slope along a line (see the solver's line search)."""
        if self.table is not None and not len(self.mixed):
            return self.h3 * self.kernels.slope(p0, p1, p2, t, self.nu, self.label_array,
                                                self.table)
        e = np.sqrt(np.maximum(p0 + 2 * t * p1 + t * t * p2, 0))
        return float(self.h3 * np.sum(self.sigma(e) * (p1 + t * p2)))

    def is_linear(self) -> bool:
        return all(getattr(m, "is_linear", False) for m in self.tissues)

    # -- field state ----------------------------------------------------------------------
    def link_jumps(self, x: np.ndarray) -> np.ndarray:
        g = self.geometry
        return x[self.n_cells + g.link_electrode] - x[g.link_cell]

    def e2_axes(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``|E|^2`` of every cell split by axis, shape ``(3, *grid)`` (energy field)."""
        out = np.empty((3, *self.shape)) if out is None else out
        self.kernels.e2_axes(self.cells(x), self.g_lo, self.g_hi, out, self.h3)
        g = self.geometry
        link = g.link_weight * self.link_jumps(x) ** 2 / self.h3
        np.add.at(out.ravel(), g.link_axis * self.n_cells + g.link_cell, link)
        return out

    def cross(self, x: np.ndarray, y: np.ndarray, scale: np.ndarray | None = None
              ) -> np.ndarray:
        """``sum_l w_l D_l(x) D_l(y) / h^3`` per cell (grid-shaped), times ``scale`` if given."""
        out = np.empty(self.shape)
        self.kernels.cross(self.cells(x), self.cells(y), self.g_lo, self.g_hi, out)
        g = self.geometry
        link = g.link_weight * self.link_jumps(x) * self.link_jumps(y)
        np.add.at(out.ravel(), g.link_cell, link)
        if scale is None:
            out /= self.h3
        else:
            self.kernels.divide_scale(out, self.h3, scale)
        return out

    def face_conductances(self, sigma, out=None) -> list[np.ndarray]:
        """Per-axis face conductances (S) for one conductivity per cell or one per axis."""
        axes = [sigma] * 3 if isinstance(sigma, np.ndarray) else list(sigma)
        out = [np.empty(self.shape) for _ in range(3)] if out is None else out
        return self.kernels.face_conductance(axes, self.g_lo, self.g_hi, out)

    def link_conductances(self, sigma) -> np.ndarray:
        """Conductance (S) of every link for one conductivity per cell or one per axis."""
        g = self.geometry
        if isinstance(sigma, np.ndarray):
            return sigma.ravel()[g.link_cell] * g.link_weight
        stacked = np.stack([s.ravel()[g.link_cell] for s in sigma])
        return stacked[g.link_axis, np.arange(len(g.link_cell))] * g.link_weight

    def apply(self, sigma: np.ndarray, x: np.ndarray, conductances=None) -> np.ndarray:
        """``A(sigma) x`` with every electrode a free node (no Dirichlet rows)."""
        out = self.new()
        if conductances is None and isinstance(sigma, np.ndarray):
            self.kernels.apply_sigma(self.cells(x), sigma, self.g_lo, self.g_hi,
                                     self.cells(out))
        else:
            faces = self.face_conductances(sigma) if conductances is None else conductances
            self.kernels.apply(faces, self.cells(x), self.cells(out))
        self._add_links(out, self.link_conductances(sigma), x)
        return out

    def _add_links(self, out: np.ndarray, g_links: np.ndarray, x: np.ndarray) -> None:
        g = self.geometry
        flow = g_links * self.link_jumps(x)  # current from the electrode into the cell
        np.add.at(out, g.link_cell, -flow)
        out[self.n_cells:] += np.bincount(g.link_electrode, weights=flow,
                                          minlength=self.n_electrodes)

    def hessian_apply(self, sigma: np.ndarray, g_links: np.ndarray, coef: np.ndarray,
                      x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The energy's Hessian at ``x`` applied to ``v`` (electrodes as free nodes):
        ``A(sigma) v + sum_c h^3 coef_c (u_c . v) u_c`` with ``u_c = grad(|E_c|^2 / 2)``.

        Per cell ``beta_c = coef_c sum_l w_l D_l(x) D_l(v) / h^3``; the second term is then the
        operator of the face conductances ``beta_lo g_lo + beta_hi g_hi`` applied to ``x``,
        fused with the first into one sweep.
        """
        g = self.geometry
        beta = self.cross(x, v, coef)
        out = self.new()
        self.kernels.hessian(self.cells(x), self.cells(v), sigma, beta, self.g_lo, self.g_hi,
                             self.cells(out))
        jx, jv = self.link_jumps(x), self.link_jumps(v)
        flow = g_links * jv + beta.ravel()[g.link_cell] * g.link_weight * jx
        np.add.at(out, g.link_cell, -flow)
        out[self.n_cells:] += np.bincount(g.link_electrode, weights=flow,
                                          minlength=self.n_electrodes)
        return out

    def e_field(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) at every cell centre, ``nu`` times the energy field (zero when inactive)."""
        return np.sqrt(self.e2_axes(x).sum(axis=0)) * self.nu

    def e_field_central(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) from the mean of the two one-sided gradients on each axis.

        The energy field averages the squares of the one-sided gradients, which adds
        ``(h/2 d2phi/dx2)^2`` per axis: a positive O(h^2) bias where the field curves (next to
        the needles). Averaging the gradients first has no such bias; this is the field we
        report. One-sided gradients: ``2 D / h`` across a half face, an insulated face counts as
        zero gradient. A link's jump ``J`` to its electrode is a difference over the vector
        ``v`` from the cell's centre to the mean point where its rays meet the electrode (``theta
        h`` along its axis, the rays' mean offset across it): its gradient along ``v`` is
        ``J / |v|`` and its component on the link's axis ``J v_axis / |v|^2`` (``J / (theta h)``
        for a link straight along the axis). A half face partly open and partly linked (a
        needle that does not hold the neighbouring cell's centre) gives its side the
        aperture-weighted mean of the face's and the links' gradients.

        Why both (measured on ``benchmarks/field_vs_fem.py``'s floating third needle at 1 mm,
        against the finite-element peer's 4.712 cm3): with the floating needle's axis on a cell
        edge, the four cells around it each linked along two axes, the reported field next to
        it was about 2.7 times the field there, and the lethal volume +3.7 % (4.886 cm3); with
        its axis on a cell centre, 4.711 cm3. The face's gradient added in full beside the
        links' counted that side twice, and two links to the same diagonal surface each gave
        the whole radial gradient to their own axis (a factor of about sqrt(2)). Corrected,
        the volume is 4.711-4.715 cm3 wherever the needle sits in the lattice.
        """
        h = self.grid.spacing_m
        grad = np.empty((3, *self.shape))
        self.kernels.central_gradient(self.cells(x), self.label_array, self.s0, self.apertures,
                                      h, grad)
        cells = self.cells(x).ravel()
        for cell, axis, c_lo, c_hi in self._interface_gradient:
            upper = cell + int(np.prod(self.shape[axis + 1:]))
            jump = (cells[upper] - cells[cell]) / h
            np.add.at(grad[axis].ravel(), cell, c_lo * jump)
            np.add.at(grad[axis].ravel(), upper, c_hi * jump)
        g = self.geometry
        shared = self._shared_half_faces()
        if shared is not None:
            cell, axis, neighbour, face_factor, link_coefficient = shared
            np.add.at(grad.ravel(), axis * self.n_cells + cell,
                      face_factor * (cells[neighbour] - cells[cell]) / h)
            np.add.at(grad.ravel(), g.link_axis * self.n_cells + g.link_cell,
                      self.link_jumps(x) * link_coefficient)
        return np.sqrt(grad[0] ** 2 + grad[1] ** 2 + grad[2] ** 2)

    def _shared_half_faces(self):
        """The links' and their half faces' terms of :meth:`e_field_central` (geometry only,
        computed once): for each half face holding a link, its cell, axis, neighbour and the
        factor correcting the kernel's face term (its open share minus 1; the kernel adds it
        in full), and per link the coefficient of its jump. None without links."""
        if self._shared is not None or not len(self.geometry.link_cell):
            return self._shared
        g = self.geometry
        h = self.grid.spacing_m
        up = g.link_sign > 0
        key = (g.link_cell * 3 + g.link_axis) * 2 + up
        halves, slot = np.unique(key, return_inverse=True)
        linked = np.bincount(slot, weights=g.link_aperture, minlength=len(halves))
        cell, axis, side_up = halves // 6, (halves // 2) % 3, halves % 2 == 1
        index = np.stack(np.unravel_index(cell, self.shape), axis=-1)
        along = index[np.arange(len(cell)), axis]
        n_along = np.asarray(self.shape)[axis]
        inside = np.where(side_up, along < n_along - 1, along > 0)
        strides = np.array([self.shape[1] * self.shape[2], self.shape[2], 1])[axis]
        neighbour = np.where(inside, np.where(side_up, cell + strides, cell - strides), cell)
        lower = index.copy()
        lower[np.arange(len(cell)), axis] -= (~side_up).astype(np.int64)
        open_ = np.zeros(len(cell))
        for a in range(3):
            sel = (axis == a) & inside
            open_[sel] = self.apertures[a][tuple(lower[sel].T)]
        s = self.s0[self.label_array.ravel()]
        kappa = s[neighbour] / (s[cell] + s[neighbour])
        total = open_ + linked
        share = np.divide(open_, total, out=np.zeros_like(total), where=total > 0)
        sign = np.where(side_up, 1.0, -1.0)
        face_factor = np.where(open_ > 0, (share - 1.0) * kappa * sign, 0.0)
        offset = g.link_point - centres(self.grid, g.link_cell)
        offset[np.arange(len(offset)), g.link_axis] = 0.0  # across the axis only
        along_link = g.link_theta * h
        link_share = np.divide(g.link_aperture, total[slot], out=np.ones_like(g.link_aperture),
                               where=total[slot] > 0)
        link_coefficient = (g.link_sign * along_link / (along_link**2 + np.einsum(
            "ij,ij->i", offset, offset)) / 2 * link_share)
        self._shared = (cell, axis, neighbour, face_factor, link_coefficient)
        return self._shared

    def link_currents(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Current (A) leaving each electrode into the tissue."""
        g = self.geometry
        flow = self.link_conductances(sigma) * self.link_jumps(x)
        return np.bincount(g.link_electrode, weights=flow, minlength=self.n_electrodes)

    def free_mask(self, driven: Mapping[int, float]) -> np.ndarray:
        """True for the unknowns the solve updates (active cells and floating electrodes)."""
        free = np.ones(self.size, dtype=bool)
        free[: self.n_cells] = self.geometry.active
        for e in driven:
            free[self.n_cells + e] = False
        return free

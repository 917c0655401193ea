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

Storage: per axis the two half-face weights ``g_lo = 2h f kappa_lo^2`` and ``g_hi`` (per unit
conductivity, grid-shaped, :mod:`irelab.field.kernels`); the grid sweeps are the kernels'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from irelab.field.conductivity import ConductivityModel
from irelab.field.geometry import CutGeometry, cut_geometry
from irelab.field.kernels import ArrayKernels
from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []


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
    ) -> None:
        self.grid = grid
        self.kernels = kernels or ArrayKernels(np)
        self.labels = np.asarray(labels)
        self.tissues = tuple(tissues)
        self.electrodes = tuple(electrodes)
        self.geometry: CutGeometry = cut_geometry(grid, electrodes, insulators)
        self.shape = grid.shape
        self.n_cells = grid.size
        self.n_electrodes = len(electrodes)
        self.size = self.n_cells + self.n_electrodes
        self.h3 = grid.spacing_m**3
        self._label_index = [
            np.flatnonzero(self.labels.ravel() == k) for k in range(len(self.tissues))
        ]
        self._single_tissue = len(self.tissues) == 1
        s0 = np.array([t.sigma0_S_per_m for t in self.tissues])[self.labels]
        h = grid.spacing_m
        self.g_lo, self.g_hi = [], []
        self.kappa_lo, self.kappa_hi = [], []
        for axis, aperture in enumerate(self.geometry.apertures):
            lo, hi = _face_slices(axis)
            total = s0[lo] + s0[hi]
            k_lo = np.zeros(self.shape)
            k_hi = np.zeros(self.shape)
            open_ = aperture > 0
            k_lo[lo] = np.where(open_, s0[hi] / total, 0.0)
            k_hi[lo] = np.where(open_, s0[lo] / total, 0.0)
            ap = np.zeros(self.shape)
            ap[lo] = aperture
            self.kappa_lo.append(k_lo)
            self.kappa_hi.append(k_hi)
            self.g_lo.append(2 * h * k_lo**2 * ap)
            self.g_hi.append(2 * h * k_hi**2 * ap)
        g = self.geometry
        share = g.link_weight * g.link_theta**2 / h - 0.5 * g.link_aperture
        link_share = np.bincount(g.link_cell, weights=share, minlength=self.n_cells)
        scale = np.sqrt(3.0 / (3.0 + link_share))
        self.scaled_cells = np.flatnonzero(scale != 1.0)
        self.scaled_values = scale[self.scaled_cells]
        # links grouped per (cell, electrode): one coupling each in the assembled operators
        key = g.link_cell * (self.n_electrodes + 1) + g.link_electrode
        groups, self.link_group = np.unique(key, return_inverse=True)
        self.group_cell = groups // (self.n_electrodes + 1)
        self.group_electrode = groups % (self.n_electrodes + 1)
        self.active = g.active.reshape(self.shape)

    # -- vectors --------------------------------------------------------------------------
    def cells(self, x: np.ndarray) -> np.ndarray:
        """The grid-shaped view of a vector's cell part."""
        return x[: self.n_cells].reshape(self.shape)

    def new(self, dtype=float) -> np.ndarray:
        return np.zeros(self.size, dtype=dtype)

    # -- conductivity ---------------------------------------------------------------------
    def _scaled(self, e: np.ndarray) -> np.ndarray:
        out = e.ravel().copy()
        out[self.scaled_cells] *= self.scaled_values
        return out

    def _per_tissue(self, e: np.ndarray, method: str) -> np.ndarray:
        if self._single_tissue:
            return getattr(self.tissues[0], method)(e).reshape(self.shape)
        out = np.empty(self.n_cells)
        for model, idx in zip(self.tissues, self._label_index, strict=True):
            out[idx] = getattr(model, method)(e[idx])
        return out.reshape(self.shape)

    def sigma(self, e_cells: np.ndarray) -> np.ndarray:
        """sigma (S/m) of every cell at the energy fields ``e_cells`` (V/m): ``sigma(nu E)``."""
        return self._per_tissue(self._scaled(e_cells), "sigma")

    def dsigma_dE(self, e_cells: np.ndarray) -> np.ndarray:
        """d sigma(nu E) / dE at the energy fields ``e_cells``."""
        d = self._per_tissue(self._scaled(e_cells), "dsigma_dE").ravel()
        d[self.scaled_cells] *= self.scaled_values
        return d.reshape(self.shape)

    def is_linear(self) -> bool:
        return all(getattr(m, "is_linear", False) for m in self.tissues)

    # -- field state ----------------------------------------------------------------------
    def link_jumps(self, x: np.ndarray) -> np.ndarray:
        g = self.geometry
        return x[self.n_cells + g.link_electrode] - x[g.link_cell]

    def e2_axes(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``|E|^2`` of every cell split by axis, shape ``(3, *grid)`` (energy field)."""
        out = np.empty((3, *self.shape)) if out is None else out
        self.kernels.e2_axes(self.cells(x), self.g_lo, self.g_hi, out)
        out /= self.h3
        g = self.geometry
        link = g.link_weight * self.link_jumps(x) ** 2 / self.h3
        flat = out.reshape(3, self.n_cells)
        flat += np.bincount(g.link_axis * self.n_cells + g.link_cell, weights=link,
                            minlength=3 * self.n_cells).reshape(3, self.n_cells)
        return out

    def cross(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``sum_l w_l D_l(x) D_l(y) / h^3`` per cell (grid-shaped)."""
        out = np.empty(self.shape)
        self.kernels.cross(self.cells(x), self.cells(y), self.g_lo, self.g_hi, out)
        g = self.geometry
        link = g.link_weight * self.link_jumps(x) * self.link_jumps(y)
        out.ravel()[:] += np.bincount(g.link_cell, weights=link, minlength=self.n_cells)
        out /= self.h3
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
        faces = self.face_conductances(sigma) if conductances is None else conductances
        out = self.new()
        self.kernels.apply(faces, self.cells(x), self.cells(out))
        self._add_links(out, self.link_conductances(sigma), x)
        return out

    def _add_links(self, out: np.ndarray, g_links: np.ndarray, x: np.ndarray) -> None:
        g = self.geometry
        flow = g_links * self.link_jumps(x)  # current from the electrode into the cell
        out[: self.n_cells] -= np.bincount(g.link_cell, weights=flow, minlength=self.n_cells)
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
        beta = self.cross(x, v)
        beta *= coef
        out = self.new()
        self.kernels.hessian(self.cells(x), self.cells(v), sigma, beta, self.g_lo, self.g_hi,
                             self.cells(out))
        jx, jv = self.link_jumps(x), self.link_jumps(v)
        flow = g_links * jv + beta.ravel()[g.link_cell] * g.link_weight * jx
        out[: self.n_cells] -= np.bincount(g.link_cell, weights=flow, minlength=self.n_cells)
        out[self.n_cells:] += np.bincount(g.link_electrode, weights=flow,
                                          minlength=self.n_electrodes)
        return out

    def e_field(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) at every cell centre, ``nu`` times the energy field (zero when inactive)."""
        return self._scaled(np.sqrt(self.e2_axes(x).sum(axis=0))).reshape(self.shape)

    def e_field_central(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) from the mean of the two one-sided gradients on each axis.

        The energy field averages the squares of the one-sided gradients, which adds
        ``(h/2 d2phi/dx2)^2`` per axis: a positive O(h^2) bias where the field curves (next to
        the needles). Averaging the gradients first has no such bias; this is the field we
        report. One-sided gradients: ``2 D / h`` across a half face, ``D / (theta h)`` on a link;
        an insulated face counts as zero gradient.
        """
        phi = self.cells(x)
        h = self.grid.spacing_m
        total = np.zeros(self.shape)
        g = self.geometry
        jump = self.link_jumps(x)
        one_sided = jump * g.link_sign / (g.link_theta * h) / 2
        for axis in range(3):
            lo, hi = _face_slices(axis)
            grad = np.zeros(self.shape)
            d = (phi[hi] - phi[lo]) / h
            grad[lo] += self.kappa_lo[axis][lo] * d
            grad[hi] += self.kappa_hi[axis][lo] * d
            sel = g.link_axis == axis
            grad.ravel()[:] += np.bincount(g.link_cell[sel], weights=one_sided[sel],
                                           minlength=self.n_cells)
            total += grad * grad
        return np.sqrt(total)

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

"""The finite-volume conduction operator on the cell-centred voxel grid.

Unknowns are the potential at every voxel centre (``N`` of them, C order over the grid) followed
by one potential per electrode (``m``). The matrix is the weighted graph Laplacian of

* open faces between neighbouring active cells, conductance ``2 h s_c s_n / (s_c + s_n)``: the
  series of the two half-cells (``2 h sigma`` each, area ``h^2``, length ``h/2``), i.e. the
  harmonic mean of the two cells' conductivities;
* cut-cell links from an active cell to an electrode (:mod:`irelab.field.geometry`),
  conductance ``sigma_cell * w``;
* outer faces: none (insulated, zero flux).

Inactive cells (inside a conductor) get identity rows. A *driven* electrode gets an identity row
and its column is moved to the right-hand side (Dirichlet, keeps the matrix symmetric); a
*floating* electrode keeps its row: Kirchhoff's law at that node is exactly "zero net current",
and its solution value is the electrode's potential. The matrix is symmetric positive definite
when at least one electrode is driven.

The sparsity pattern is built once per grid (vectorised, pyamg's stencil idea); each assembly
only rewrites ``csr.data`` in place through a stored permutation.

Energy and |E|. Each cell ``c`` sees, on every open face to ``n``, the half-link difference
``D = kappa_c (phi_n - phi_c)`` with the fixed weight ``kappa_c = s0_n / (s0_c + s0_n)``
(``s0``: the
tissues' conductivity at zero field), i.e. the face potential that makes the current continuous
for the resting conductivities; on a link, ``D = V_e - phi_c``. With the half-link weights ``w``
(``2h`` on a face, the cut-cell weight on a link),

    |E_c|^2 = sum_l w_l D_l^2 / h^3,

exact for a linear potential in one tissue. The discrete energy ``J = sum_c h^3 W_c(|E_c|)``,
``W_c'(E) = sigma_c(E) E``, has for frozen sigma the gradient ``A phi - b`` of this operator with
face conductance ``2h (sigma_c kappa_c^2 + sigma_n kappa_n^2)``. For a linear medium (and at a
tissue interface at rest) that is exactly the harmonic mean ``2h s_c s_n / (s_c + s_n)``, the
series of the two half cells; inside one tissue with field-dependent sigma it is the arithmetic
mean ``h (sigma_c + sigma_n) / 2``, which agrees with the harmonic mean to second order. The
nonlinear solver (:mod:`irelab.field.solver`) relies on this exact gradient structure.

In a cut cell the link's share ``w theta^2 h^2 / h^3`` of that sum is not the ``1/2`` of the half
face it replaces, which biases the cell's |E| (low when theta is small). Each cut cell therefore
has a fixed factor ``nu_c = sqrt(3 / (3 + sum_links (w theta^2 / h - 1/2)))`` (1 elsewhere)
and the tissue model is evaluated at ``nu_c |E_c|``. (The field reported to users is
:meth:`FieldOperator.e_field_central`, which has no O(h^2) bias.) The energy stays
convex (``W_c(E) = int_0^E sigma_c(nu_c e) e de``), so the solver's argument is unchanged.

``assemble`` also accepts one conductivity per axis (the diagonal of a conductivity tensor), which
the solver uses for its Newton-like steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from irelab.field.conductivity import ConductivityModel
from irelab.field.geometry import CutGeometry, cut_geometry
from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []


def _face_slices(axis: int, shape) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(0, shape[axis] - 1)
    hi[axis] = slice(1, shape[axis])
    return tuple(lo), tuple(hi)


class FieldOperator:
    """Pattern, assembly, energy and |E| of the conduction problem on one grid."""

    def __init__(
        self,
        grid: Grid,
        labels: np.ndarray,
        tissues: Sequence[ConductivityModel],
        electrodes: Sequence[Electrode],
        insulators: Sequence[Insulator] = (),
    ) -> None:
        self.grid = grid
        self.labels = np.asarray(labels)
        self.tissues = tuple(tissues)
        self.electrodes = tuple(electrodes)
        self.geometry: CutGeometry = cut_geometry(grid, electrodes, insulators)
        self.n_cells = grid.size
        self.n_electrodes = len(electrodes)
        self.size = self.n_cells + self.n_electrodes
        self._label_index = [
            np.flatnonzero(self.labels.ravel() == k) for k in range(len(self.tissues))
        ]
        s0 = np.array([t.sigma0_S_per_m for t in self.tissues])[self.labels]
        self._kappa_lower, self._kappa_upper = [], []  # on face arrays, zero on closed faces
        for axis in range(3):
            lo, hi = _face_slices(axis, grid.shape)
            mask = self.geometry.open_faces[axis]
            total = s0[lo] + s0[hi]
            self._kappa_lower.append(np.where(mask, s0[hi] / total, 0.0))
            self._kappa_upper.append(np.where(mask, s0[lo] / total, 0.0))
        w_face = 2.0 / grid.spacing_m**2  # half-face weight 2h over h^3
        self._w_lower = [w_face * k**2 for k in self._kappa_lower]
        self._w_upper = [w_face * k**2 for k in self._kappa_upper]
        h = grid.spacing_m  # face conductance per unit sigma of each half: 2h kappa^2
        self._g_lower = [2 * h * k**2 for k in self._kappa_lower]
        self._g_upper = [2 * h * k**2 for k in self._kappa_upper]
        g = self.geometry
        share = g.link_weight * g.link_theta**2 / grid.spacing_m - 0.5
        link_share = np.bincount(g.link_cell, weights=share, minlength=self.n_cells)
        self.field_scale = np.sqrt(3.0 / (3.0 + link_share))
        self._build_pattern()

    # -- pattern --------------------------------------------------------------------------
    def _build_pattern(self) -> None:
        g = self.geometry
        shape = self.grid.shape
        flat = np.arange(self.n_cells).reshape(shape)
        self._face_pairs = []
        for axis in range(3):  # every interior face; closed ones keep explicit zeros
            lo, hi = _face_slices(axis, shape)
            self._face_pairs.append((flat[lo].ravel(), flat[hi].ravel()))
        # links grouped per (cell, electrode): one matrix entry each
        key = g.link_cell * (self.n_electrodes + 1) + g.link_electrode
        groups, self._link_group = np.unique(key, return_inverse=True)
        self.group_cell = groups // (self.n_electrodes + 1)
        self.group_electrode = groups % (self.n_electrodes + 1)
        self.group_weight = np.bincount(self._link_group, weights=g.link_weight,
                                        minlength=len(groups))
        rows, cols = [], []
        for a, b in self._face_pairs:
            rows += [a, b]
            cols += [b, a]
        node = self.n_cells + self.group_electrode
        rows += [self.group_cell, node, np.arange(self.size)]
        cols += [node, self.group_cell, np.arange(self.size)]
        rows_a = np.concatenate(rows)
        cols_a = np.concatenate(cols)
        order = np.arange(1, len(rows_a) + 1, dtype=float)
        m = sp.csr_matrix((order, (rows_a, cols_a)), shape=(self.size, self.size))
        m.sort_indices()
        self._perm = m.data.astype(np.int64) - 1
        m.data = np.zeros_like(m.data)
        self.matrix = m
        self._values = np.empty(len(self._perm))  # entries in pattern order, before permuting

    # -- conductivity ---------------------------------------------------------------------
    def sigma(self, e_cells: np.ndarray) -> np.ndarray:
        """sigma (S/m) of every cell at the energy fields ``e_cells`` (V/m): ``sigma(nu E)``."""
        e = e_cells * self.field_scale
        out = np.empty(self.n_cells)
        for model, idx in zip(self.tissues, self._label_index, strict=True):
            out[idx] = model.sigma(e[idx])
        return out

    def is_linear(self) -> bool:
        return all(getattr(m, "is_linear", False) for m in self.tissues)

    # -- assembly -------------------------------------------------------------------------
    def assemble(
        self, sigma: np.ndarray | Sequence[np.ndarray], driven: Mapping[int, float]
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """Matrix (values rewritten in place) and right-hand side.

        ``sigma`` is one conductivity per cell, or a sequence of three (one per axis). ``driven``
        maps electrode index to its fixed potential; the other electrodes float.
        """
        matrix = self.matrix
        axes = [sigma] * 3 if isinstance(sigma, np.ndarray) else list(sigma)
        shape = self.grid.shape
        values = self._values
        start = 0
        diag = np.zeros(self.size)
        diag3 = diag[: self.n_cells].reshape(shape)
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            s = axes[axis].reshape(shape)
            gf = s[lo] * self._g_lower[axis]
            gf += s[hi] * self._g_upper[axis]
            diag3[lo] += gf
            diag3[hi] += gf
            n = gf.size
            np.negative(gf.ravel(), out=values[start:start + n])
            values[start + n:start + 2 * n] = values[start:start + n]
            start += 2 * n
        g = self.geometry
        link_sigma = np.choose(g.link_axis, [ax[g.link_cell] for ax in axes]) if len(
            g.link_cell) else np.zeros(0)
        gl = np.bincount(self._link_group, weights=link_sigma * g.link_weight,
                         minlength=len(self.group_cell))
        node = self.n_cells + self.group_electrode
        is_driven = np.zeros(self.n_electrodes + 1, dtype=bool)
        potentials = np.zeros(self.n_electrodes + 1)
        for e, v in driven.items():
            is_driven[e] = True
            potentials[e] = v
        link_driven = is_driven[self.group_electrode]
        off = np.where(link_driven, 0.0, -gl)
        values[start:start + len(off)] = off
        values[start + len(off):start + 2 * len(off)] = off
        diag += np.bincount(self.group_cell, weights=gl, minlength=self.size)
        diag += np.bincount(node, weights=np.where(link_driven, 0.0, gl), minlength=self.size)
        rhs = np.zeros(self.size)
        rhs += np.bincount(self.group_cell, weights=np.where(link_driven, gl, 0.0) *
                           potentials[self.group_electrode], minlength=self.size)
        fixed = np.zeros(self.size, dtype=bool)
        fixed[: self.n_cells] = ~self.geometry.active
        fixed[self.n_cells:] = is_driven[: self.n_electrodes]
        fixed |= diag <= 0
        diag[fixed] = 1.0
        rhs[self.n_cells:][is_driven[: self.n_electrodes]] = potentials[: self.n_electrodes][
            is_driven[: self.n_electrodes]]
        rhs[: self.n_cells][~self.geometry.active] = 0.0
        values[-self.size:] = diag
        np.take(values, self._perm, out=matrix.data)
        return matrix, rhs

    # -- field state ----------------------------------------------------------------------
    def jumps(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Potential jumps of ``x`` across every interior face (per axis) and every link.

        The half-link differences are ``kappa_lower * jump`` and ``-kappa_upper * jump``.
        """
        shape = self.grid.shape
        phi = x[: self.n_cells].reshape(shape)
        faces = []
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            faces.append(phi[hi] - phi[lo])
        g = self.geometry
        return faces, x[self.n_cells + g.link_electrode] - x[g.link_cell]

    def cell_products(self, x1: np.ndarray, x2: np.ndarray | None = None,
                      by_axis: bool = False, d1=None) -> np.ndarray:
        """``sum_l w_l D1_l D2_l / h^3`` per cell (``|E|^2`` when ``x2`` is ``x1``).

        With ``by_axis`` the result has shape ``(3, N)``: the sum over each axis's links.
        ``d1`` may pass ``jumps(x1)`` when it is already known.
        """
        h = self.grid.spacing_m
        shape = self.grid.shape
        j1 = self.jumps(x1) if d1 is None else d1
        j2 = j1 if x2 is None else self.jumps(x2)
        g = self.geometry
        out = np.zeros((3, *shape) if by_axis else shape)
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            prod = j1[0][axis] * j2[0][axis]
            target = out[axis] if by_axis else out
            target[lo] += self._w_lower[axis] * prod
            target[hi] += self._w_upper[axis] * prod
        link = g.link_weight * j1[1] * j2[1] / h**3
        if by_axis:
            out = out.reshape(3, self.n_cells)
            np.add.at(out, (g.link_axis, g.link_cell), link)
            return out
        out = out.ravel()
        np.add.at(out, g.link_cell, link)
        return out

    def apply(self, sigma: np.ndarray, x: np.ndarray, jumps=None) -> np.ndarray:
        """``A(sigma) x`` with every electrode a free node (no Dirichlet rows), matrix-free.

        ``jumps`` may pass ``jumps(x)`` when it is already known.
        """
        shape = self.grid.shape
        faces, link_jump = self.jumps(x) if jumps is None else jumps
        s = sigma.reshape(shape)
        out = np.zeros(self.size)
        cells = out[: self.n_cells].reshape(shape)
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            flux = s[lo] * self._g_lower[axis]
            flux += s[hi] * self._g_upper[axis]
            flux *= faces[axis]
            cells[lo] -= flux
            cells[hi] += flux
        g = self.geometry
        flow = -sigma[g.link_cell] * g.link_weight * link_jump
        np.add.at(out, g.link_cell, flow)
        np.add.at(out, self.n_cells + g.link_electrode, -flow)
        return out

    def weighted_jumps(self, x: np.ndarray):
        """``jumps(x)`` times the half-link weights (per axis lower, upper; links over h^3)."""
        faces, link = self.jumps(x)
        h = self.grid.spacing_m
        return ([w * f for w, f in zip(self._w_lower, faces, strict=True)],
                [w * f for w, f in zip(self._w_upper, faces, strict=True)],
                self.geometry.link_weight * link / h**3)

    def conductances(self, sigma: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Face conductances (per axis, face arrays) and link conductances at ``sigma`` (S)."""
        shape = self.grid.shape
        s = sigma.reshape(shape)
        faces = []
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            gf = s[lo] * self._g_lower[axis]
            gf += s[hi] * self._g_upper[axis]
            faces.append(gf)
        g = self.geometry
        return faces, sigma[g.link_cell] * g.link_weight

    def hessian_apply(self, conductances, coef: np.ndarray, wx, v: np.ndarray) -> np.ndarray:
        """The energy's Hessian at ``x`` applied to ``v`` (electrodes as free nodes):
        ``A(sigma) v + sum_c h^3 coef_c (u_c . v) u_c`` with ``u_c = grad(|E_c|^2 / 2)``.

        ``conductances`` are those of ``sigma`` and ``wx`` the ``weighted_jumps`` of ``x``. The
        second term equals ``apply(coef * cell_products(x, v), x)``; everything is fused into
        one pass over the faces.
        """
        g_faces, g_links = conductances
        shape = self.grid.shape
        lower, upper, wlink = wx
        faces_v, link_v = self.jumps(v)
        g = self.geometry
        beta3 = np.zeros(shape)
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            beta3[lo] += lower[axis] * faces_v[axis]
            beta3[hi] += upper[axis] * faces_v[axis]
        beta = beta3.ravel()
        np.add.at(beta, g.link_cell, wlink * link_v)
        beta *= coef
        h3 = self.grid.spacing_m**3
        out = np.zeros(self.size)
        cells = out[: self.n_cells].reshape(shape)
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            flux = beta3[lo] * lower[axis]
            flux += beta3[hi] * upper[axis]
            flux *= h3
            flux += g_faces[axis] * faces_v[axis]
            cells[lo] -= flux
            cells[hi] += flux
        flow = -(beta[g.link_cell] * wlink * h3 + g_links * link_v)
        np.add.at(out, g.link_cell, flow)
        np.add.at(out, self.n_cells + g.link_electrode, -flow)
        return out

    def e_field(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) at every cell centre, ``nu`` times the energy field (zero when inactive)."""
        return np.sqrt(self.cell_products(x)) * self.field_scale

    def e_field_central(self, x: np.ndarray) -> np.ndarray:
        """|E| (V/m) from the mean of the two one-sided gradients on each axis.

        The energy field averages the squares of the one-sided gradients, which adds
        ``(h/2 d2phi/dx2)^2`` per axis: a positive O(h^2) bias where the field curves (next to
        the needles). Averaging the gradients first has no such bias; this is the field we
        report. One-sided gradients: ``2 D / h`` across a half face, ``D / (theta h)`` on a link;
        an insulated face counts as zero gradient.
        """
        shape = self.grid.shape
        faces, link_jump = self.jumps(x)
        h = self.grid.spacing_m
        grad = np.zeros((3, *shape))
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            grad[axis][lo] += self._kappa_lower[axis] * faces[axis] / h
            grad[axis][hi] += self._kappa_upper[axis] * faces[axis] / h
        grad = grad.reshape(3, self.n_cells)
        g = self.geometry
        one_sided = link_jump * g.link_sign / (g.link_theta * h) / 2
        np.add.at(grad, (g.link_axis, g.link_cell), one_sided)
        return np.sqrt(np.sum(grad**2, axis=0))

    def dsigma_dE(self, e_cells: np.ndarray) -> np.ndarray:
        """d sigma(nu E) / dE at the energy fields ``e_cells``."""
        e = e_cells * self.field_scale
        out = np.empty(self.n_cells)
        for model, idx in zip(self.tissues, self._label_index, strict=True):
            out[idx] = model.dsigma_dE(e[idx])
        return out * self.field_scale

    def link_currents(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Current (A) leaving each electrode into the tissue."""
        g = self.geometry
        flow = sigma[g.link_cell] * g.link_weight * (x[self.n_cells + g.link_electrode]
                                                     - x[g.link_cell])
        return np.bincount(g.link_electrode, weights=flow, minlength=self.n_electrodes)

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

Energy and |E|. With the face potential ``phi_f = (s_c phi_c + s_n phi_n) / (s_c + s_n)`` (flux
continuity across the face), every half-link ``l`` of cell ``c`` (weight ``w_l``: ``2h`` for half a
regular face, ``w`` for an electrode link) has a potential difference ``D_l``, and

    |E_c|^2 = sum_l w_l D_l^2 / h^3,

which is the exact |grad phi|^2 for a linear potential. The discrete energy
``J = sum_c h^3 W_c(|E_c|)`` with ``W_c'(E) = sigma_c(E) E`` has as gradient, for frozen sigma,
exactly this operator's residual; the nonlinear solver (:mod:`irelab.field.solver`) relies on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from irelab.field.conductivity import ConductivityModel
from irelab.field.geometry import CutGeometry, cut_geometry
from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []


@dataclass(eq=False)
class HalfDifferences:
    """Potential differences of every half-link (see module docstring), one state of the field.

    ``lower[axis]``/``upper[axis]`` are on the face arrays of ``axis`` (zero on closed faces):
    ``phi_f - phi_lower_cell`` and ``phi_f - phi_upper_cell``. ``link`` is ``V_e - phi_c``.
    """

    lower: tuple[np.ndarray, np.ndarray, np.ndarray]
    upper: tuple[np.ndarray, np.ndarray, np.ndarray]
    link: np.ndarray

    def combine(self, other: HalfDifferences, t: float) -> HalfDifferences:
        """``self + t (other - self)``."""
        return HalfDifferences(
            lower=tuple(a + t * (b - a) for a, b in zip(self.lower, other.lower, strict=True)),
            upper=tuple(a + t * (b - a) for a, b in zip(self.upper, other.upper, strict=True)),
            link=self.link + t * (other.link - self.link),
        )  # type: ignore[arg-type]


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
        self._build_pattern()

    # -- pattern --------------------------------------------------------------------------
    def _build_pattern(self) -> None:
        g = self.geometry
        shape = self.grid.shape
        flat = np.arange(self.n_cells).reshape(shape)
        self._face_pairs = []
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            mask = g.open_faces[axis]
            self._face_pairs.append((flat[lo][mask], flat[hi][mask]))
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
        self.matrix = m
        self.matrix.data = np.zeros_like(m.data)

    # -- conductivity ---------------------------------------------------------------------
    def sigma(self, e_cells: np.ndarray) -> np.ndarray:
        """sigma of every cell (S/m) at the cell fields ``e_cells`` (V/m), by tissue label."""
        out = np.empty(self.n_cells)
        for model, idx in zip(self.tissues, self._label_index, strict=True):
            out[idx] = model.sigma(e_cells[idx])
        return out

    def is_linear(self) -> bool:
        return all(getattr(m, "is_linear", False) for m in self.tissues)

    # -- assembly -------------------------------------------------------------------------
    def assemble(
        self, sigma: np.ndarray, driven: Mapping[int, float]
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """Matrix (values rewritten in place) and right-hand side for cell conductivities."""
        h = self.grid.spacing_m
        values = []
        diag = np.zeros(self.size)
        for a, b in self._face_pairs:
            sa, sb = sigma[a], sigma[b]
            gf = 2 * h * sa * sb / (sa + sb)
            values += [-gf, -gf]
            diag += np.bincount(a, weights=gf, minlength=self.size)
            diag += np.bincount(b, weights=gf, minlength=self.size)
        gl = sigma[self.group_cell] * self.group_weight
        node = self.n_cells + self.group_electrode
        is_driven = np.zeros(self.n_electrodes + 1, dtype=bool)
        potentials = np.zeros(self.n_electrodes + 1)
        for e, v in driven.items():
            is_driven[e] = True
            potentials[e] = v
        link_driven = is_driven[self.group_electrode]
        off = np.where(link_driven, 0.0, -gl)
        values += [off, off]
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
        values.append(diag)
        self.matrix.data[:] = np.concatenate(values)[self._perm]
        return self.matrix, rhs

    # -- field state ----------------------------------------------------------------------
    def half_differences(self, x: np.ndarray, sigma: np.ndarray) -> HalfDifferences:
        """Half-link differences of the state ``x`` with face potentials from ``sigma``."""
        shape = self.grid.shape
        phi = x[: self.n_cells].reshape(shape)
        s = sigma.reshape(shape)
        lower, upper = [], []
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            mask = self.geometry.open_faces[axis]
            sl, su = s[lo], s[hi]
            jump = np.where(mask, phi[hi] - phi[lo], 0.0)
            total = sl + su
            lower.append(su / total * jump)
            upper.append(-sl / total * jump)
        g = self.geometry
        link = x[self.n_cells + g.link_electrode] - x[g.link_cell]
        return HalfDifferences(tuple(lower), tuple(upper), link)  # type: ignore[arg-type]

    def cell_products(self, d1: HalfDifferences, d2: HalfDifferences) -> np.ndarray:
        """``sum_l w_l D1_l D2_l / h^3`` per cell (``|E|^2`` when ``d1 is d2``)."""
        h = self.grid.spacing_m
        shape = self.grid.shape
        out = np.zeros(shape)
        w_face = 2.0 / h**2
        for axis in range(3):
            lo, hi = _face_slices(axis, shape)
            out[lo] += w_face * d1.lower[axis] * d2.lower[axis]
            out[hi] += w_face * d1.upper[axis] * d2.upper[axis]
        out = out.ravel()
        g = self.geometry
        out += np.bincount(g.link_cell, weights=g.link_weight * d1.link * d2.link / h**3,
                           minlength=self.n_cells)
        return out

    def e_field(self, d: HalfDifferences) -> np.ndarray:
        """|E| (V/m) at every cell centre (zero in inactive cells)."""
        return np.sqrt(self.cell_products(d, d))

    def link_currents(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Current (A) leaving each electrode into the tissue."""
        gl = sigma[self.group_cell] * self.group_weight
        flow = gl * (x[self.n_cells + self.group_electrode] - x[self.group_cell])
        return np.bincount(self.group_electrode, weights=flow,
                           minlength=self.n_electrodes + 1)[: self.n_electrodes]

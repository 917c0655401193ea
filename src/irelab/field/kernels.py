"""The seven-point stencil kernels of the field solver, in two implementations.

Every sweep of the solver over the grid goes through these few functions: the flux of a
potential through all faces (the operator), the squared cell fields ``|E|^2`` per axis, the
Hessian of the energy applied to a vector, and a red-black Gauss-Seidel sweep. Written with
whole-array slicing they create several grid-sized temporaries per call, and profiling showed
those temporaries (not arithmetic) dominating the solve; so each exists twice:

* :class:`ArrayKernels`: whole-array expressions on an array module ``xp`` (NumPy, or CuPy
  on a GPU, which has the same interface). This is the reference and the fallback.
* :class:`NumbaKernels`: the same loops compiled with numba (one pass over memory, no
  temporaries), used on the CPU when numba is importable. Results agree with
  :class:`ArrayKernels` to rounding (tests/field/test_field_kernels.py); each implementation is
  deterministic (fixed loop order, no threads).

Layout: arrays have the grid's shape ``(nx, ny, nz)``. A face quantity along ``axis`` is stored
at its lower cell: ``G[axis][i, j, k]`` couples cell ``(i, j, k)`` with its neighbour at
``+1`` along ``axis``; the last plane along ``axis`` is zero (the insulated wall). Half-face
weights ``g_lo``/``g_hi`` (conductance per unit conductivity of the lower/upper cell's half, m)
give the face conductance ``G = s_lo g_lo + s_hi g_hi`` for cell conductivities ``s``, and the
energy weight of a half face is ``g / h^3``.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def _lo(axis: int, n: int = 1):
    s = [slice(None)] * 3
    s[axis] = slice(0, -n)
    return tuple(s)


def _hi(axis: int, n: int = 1):
    s = [slice(None)] * 3
    s[axis] = slice(n, None)
    return tuple(s)


class ArrayKernels:
    """Whole-array implementation on the array module ``xp`` (NumPy or CuPy)."""

    name = "array"

    def __init__(self, xp=np) -> None:
        self.xp = xp

    def face_conductance(self, s, g_lo, g_hi, out):
        """``out[axis] = s_axis(lower) g_lo + s_axis(upper) g_hi``; ``s`` one array per axis."""
        for axis in range(3):
            o = out[axis]
            o[_lo(axis)] = s[axis][_lo(axis)] * g_lo[axis][_lo(axis)]
            o[_lo(axis)] += s[axis][_hi(axis)] * g_hi[axis][_lo(axis)]
            o[_hi(axis, o.shape[axis] - 1)] = 0
        return out

    def apply(self, G, x, out):
        """``out = sum_faces G (x_c - x_n)`` (the operator, walls insulated)."""
        out[...] = 0
        for axis in range(3):
            flux = G[axis][_lo(axis)] * (x[_hi(axis)] - x[_lo(axis)])
            out[_lo(axis)] -= flux
            out[_hi(axis)] += flux
        return out

    def e2_axes(self, x, g_lo, g_hi, out):
        """``out[axis] = sum over the axis's two half faces of (g / h^3) j^2`` (without the
        ``1/h^3``: the caller scales)."""
        for axis in range(3):
            j = x[_hi(axis)] - x[_lo(axis)]
            j *= j
            o = out[axis]
            o[...] = 0
            o[_lo(axis)] += g_lo[axis][_lo(axis)] * j
            o[_hi(axis)] += g_hi[axis][_lo(axis)] * j
        return out

    def cross(self, x, y, g_lo, g_hi, out):
        """``out = sum_faces g_half jx jy`` per cell (all axes)."""
        out[...] = 0
        for axis in range(3):
            j = (x[_hi(axis)] - x[_lo(axis)]) * (y[_hi(axis)] - y[_lo(axis)])
            out[_lo(axis)] += g_lo[axis][_lo(axis)] * j
            out[_hi(axis)] += g_hi[axis][_lo(axis)] * j
        return out

    def hessian(self, x, v, sigma, beta, g_lo, g_hi, out):
        """``out = sum_faces [(s_lo g_lo + s_hi g_hi) j(v) + (b_lo g_lo + b_hi g_hi) j(x)]``
        with the signs of :meth:`apply`; ``beta`` is per cell (see the solver)."""
        out[...] = 0
        for axis in range(3):
            lo, hi = _lo(axis), _hi(axis)
            gl, gh = g_lo[axis][lo], g_hi[axis][lo]
            flux = (sigma[lo] * gl + sigma[hi] * gh) * (v[hi] - v[lo])
            flux += (beta[lo] * gl + beta[hi] * gh) * (x[hi] - x[lo])
            out[lo] -= flux
            out[hi] += flux
        return out

    def gauss_seidel(self, G, diag, x, b, colours=(0, 1)):
        """Red-black Gauss-Seidel on the seven-point stencil, colours in the given order
        (``(0, 1)`` forward, ``(1, 0)`` backward: the pair is a symmetric smoother)."""
        xp = self.xp
        shape = x.shape
        if not hasattr(self, "_parity") or self._parity[0].shape != shape:
            i, j, k = (xp.arange(n).reshape([-1 if a == b_ else 1 for b_ in range(3)])
                       for a, n in enumerate(shape))
            even = ((i + j + k) % 2) == 0
            self._parity = (even, ~even)
        for colour in colours:
            s = b.copy()
            for axis in range(3):
                lo, hi = _lo(axis), _hi(axis)
                s[lo] += G[axis][lo] * x[hi]
                s[hi] += G[axis][lo] * x[lo]
            mask = self._parity[colour]
            x[...] = xp.where(mask, s / diag, x)
        return x


def _numba_kernels():
    """Compile the loops (lazily: importing irelab must not need numba)."""
    import numba

    jit = numba.njit(cache=True, fastmath=False, nogil=True)

    @jit
    def face_conductance(sx, sy, sz, glx, gly, glz, ghx, ghy, ghz, gx, gy, gz):
        nx, ny, nz = sx.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    gx[i, j, k] = (sx[i, j, k] * glx[i, j, k] + sx[i + 1, j, k] * ghx[i, j, k]
                                   if i < nx - 1 else 0.0)
                    gy[i, j, k] = (sy[i, j, k] * gly[i, j, k] + sy[i, j + 1, k] * ghy[i, j, k]
                                   if j < ny - 1 else 0.0)
                    gz[i, j, k] = (sz[i, j, k] * glz[i, j, k] + sz[i, j, k + 1] * ghz[i, j, k]
                                   if k < nz - 1 else 0.0)

    @jit
    def apply(gx, gy, gz, x, out):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    c = x[i, j, k]
                    acc = 0.0
                    if i > 0:
                        acc += gx[i - 1, j, k] * (c - x[i - 1, j, k])
                    if i < nx - 1:
                        acc += gx[i, j, k] * (c - x[i + 1, j, k])
                    if j > 0:
                        acc += gy[i, j - 1, k] * (c - x[i, j - 1, k])
                    if j < ny - 1:
                        acc += gy[i, j, k] * (c - x[i, j + 1, k])
                    if k > 0:
                        acc += gz[i, j, k - 1] * (c - x[i, j, k - 1])
                    if k < nz - 1:
                        acc += gz[i, j, k] * (c - x[i, j, k + 1])
                    out[i, j, k] = acc

    @jit
    def e2_axes(x, glx, gly, glz, ghx, ghy, ghz, ex, ey, ez):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    c = x[i, j, k]
                    ax = 0.0
                    ay = 0.0
                    az = 0.0
                    if i > 0:
                        d = c - x[i - 1, j, k]
                        ax += ghx[i - 1, j, k] * d * d
                    if i < nx - 1:
                        d = x[i + 1, j, k] - c
                        ax += glx[i, j, k] * d * d
                    if j > 0:
                        d = c - x[i, j - 1, k]
                        ay += ghy[i, j - 1, k] * d * d
                    if j < ny - 1:
                        d = x[i, j + 1, k] - c
                        ay += gly[i, j, k] * d * d
                    if k > 0:
                        d = c - x[i, j, k - 1]
                        az += ghz[i, j, k - 1] * d * d
                    if k < nz - 1:
                        d = x[i, j, k + 1] - c
                        az += glz[i, j, k] * d * d
                    ex[i, j, k] = ax
                    ey[i, j, k] = ay
                    ez[i, j, k] = az

    @jit
    def cross(x, y, glx, gly, glz, ghx, ghy, ghz, out):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    cx = x[i, j, k]
                    cy = y[i, j, k]
                    acc = 0.0
                    if i > 0:
                        acc += ghx[i - 1, j, k] * (cx - x[i - 1, j, k]) * (cy - y[i - 1, j, k])
                    if i < nx - 1:
                        acc += glx[i, j, k] * (x[i + 1, j, k] - cx) * (y[i + 1, j, k] - cy)
                    if j > 0:
                        acc += ghy[i, j - 1, k] * (cx - x[i, j - 1, k]) * (cy - y[i, j - 1, k])
                    if j < ny - 1:
                        acc += gly[i, j, k] * (x[i, j + 1, k] - cx) * (y[i, j + 1, k] - cy)
                    if k > 0:
                        acc += ghz[i, j, k - 1] * (cx - x[i, j, k - 1]) * (cy - y[i, j, k - 1])
                    if k < nz - 1:
                        acc += glz[i, j, k] * (x[i, j, k + 1] - cx) * (y[i, j, k + 1] - cy)
                    out[i, j, k] = acc

    @jit
    def hessian(x, v, s, bt, glx, gly, glz, ghx, ghy, ghz, out):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    xc = x[i, j, k]
                    vc = v[i, j, k]
                    sc = s[i, j, k]
                    bc = bt[i, j, k]
                    acc = 0.0
                    if i > 0:
                        gl = glx[i - 1, j, k]
                        gh = ghx[i - 1, j, k]
                        acc += ((s[i - 1, j, k] * gl + sc * gh) * (vc - v[i - 1, j, k])
                                + (bt[i - 1, j, k] * gl + bc * gh) * (xc - x[i - 1, j, k]))
                    if i < nx - 1:
                        gl = glx[i, j, k]
                        gh = ghx[i, j, k]
                        acc -= ((sc * gl + s[i + 1, j, k] * gh) * (v[i + 1, j, k] - vc)
                                + (bc * gl + bt[i + 1, j, k] * gh) * (x[i + 1, j, k] - xc))
                    if j > 0:
                        gl = gly[i, j - 1, k]
                        gh = ghy[i, j - 1, k]
                        acc += ((s[i, j - 1, k] * gl + sc * gh) * (vc - v[i, j - 1, k])
                                + (bt[i, j - 1, k] * gl + bc * gh) * (xc - x[i, j - 1, k]))
                    if j < ny - 1:
                        gl = gly[i, j, k]
                        gh = ghy[i, j, k]
                        acc -= ((sc * gl + s[i, j + 1, k] * gh) * (v[i, j + 1, k] - vc)
                                + (bc * gl + bt[i, j + 1, k] * gh) * (x[i, j + 1, k] - xc))
                    if k > 0:
                        gl = glz[i, j, k - 1]
                        gh = ghz[i, j, k - 1]
                        acc += ((s[i, j, k - 1] * gl + sc * gh) * (vc - v[i, j, k - 1])
                                + (bt[i, j, k - 1] * gl + bc * gh) * (xc - x[i, j, k - 1]))
                    if k < nz - 1:
                        gl = glz[i, j, k]
                        gh = ghz[i, j, k]
                        acc -= ((sc * gl + s[i, j, k + 1] * gh) * (v[i, j, k + 1] - vc)
                                + (bc * gl + bt[i, j, k + 1] * gh) * (x[i, j, k + 1] - xc))
                    out[i, j, k] = acc

    @jit
    def gauss_seidel(gx, gy, gz, diag, x, b, first):
        nx, ny, nz = x.shape
        for colour in (first, 1 - first):
            for i in range(nx):
                for j in range(ny):
                    k0 = (colour + i + j) % 2
                    for k in range(k0, nz, 2):
                        acc = b[i, j, k]
                        if i > 0:
                            acc += gx[i - 1, j, k] * x[i - 1, j, k]
                        if i < nx - 1:
                            acc += gx[i, j, k] * x[i + 1, j, k]
                        if j > 0:
                            acc += gy[i, j - 1, k] * x[i, j - 1, k]
                        if j < ny - 1:
                            acc += gy[i, j, k] * x[i, j + 1, k]
                        if k > 0:
                            acc += gz[i, j, k - 1] * x[i, j, k - 1]
                        if k < nz - 1:
                            acc += gz[i, j, k] * x[i, j, k + 1]
                        x[i, j, k] = acc / diag[i, j, k]

    return {"face_conductance": face_conductance, "apply": apply, "e2_axes": e2_axes,
            "cross": cross, "hessian": hessian, "gauss_seidel": gauss_seidel}


class NumbaKernels(ArrayKernels):
    """The same kernels as compiled loops (CPU, NumPy arrays)."""

    name = "numba"

    def __init__(self) -> None:
        super().__init__(np)
        self._k = _numba_kernels()

    def face_conductance(self, s, g_lo, g_hi, out):
        self._k["face_conductance"](*s, *g_lo, *g_hi, *out)
        return out

    def apply(self, G, x, out):
        self._k["apply"](*G, x, out)
        return out

    def e2_axes(self, x, g_lo, g_hi, out):
        self._k["e2_axes"](x, *g_lo, *g_hi, *out)
        return out

    def cross(self, x, y, g_lo, g_hi, out):
        self._k["cross"](x, y, *g_lo, *g_hi, out)
        return out

    def hessian(self, x, v, sigma, beta, g_lo, g_hi, out):
        self._k["hessian"](x, v, sigma, beta, *g_lo, *g_hi, out)
        return out

    def gauss_seidel(self, G, diag, x, b, colours=(0, 1)):
        self._k["gauss_seidel"](*G, diag, x, b, colours[0])
        return x


def select_kernels(backend: str = "auto"):
    """Kernels for ``backend``: ``"numba"``, ``"numpy"``, ``"cupy"`` or ``"auto"`` (numba if it
    imports and compiles, else NumPy). CuPy is imported only when asked for."""
    if backend == "cupy":
        import cupy

        return ArrayKernels(cupy)
    if backend == "numpy":
        return ArrayKernels(np)
    if backend not in ("auto", "numba"):
        raise ValueError(f"unknown backend {backend!r}: expected auto, numba, numpy or cupy")
    try:
        return NumbaKernels()
    except Exception:  # numba missing or failing to compile: the NumPy path is complete
        if backend == "numba":
            raise
        return ArrayKernels(np)

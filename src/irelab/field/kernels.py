"""The seven-point stencil kernels of the field solver, in two implementations.

Every sweep of the solver over the grid goes through these few functions: the flux of a
potential through all faces (the operator), the squared cell fields ``|E|^2`` per axis, the
Hessian of the energy applied to a vector, and a red-black Gauss-Seidel sweep. Written with
whole-array slicing they create several grid-sized temporaries per call, and profiling showed
those temporaries (not arithmetic) dominating the solve; so each exists twice:

* :class:`ArrayKernels`: whole-array expressions on an array module ``xp`` (NumPy; the same
  code would run on CuPy, but the solver around it is NumPy/SciPy). This is the reference and
  the fallback when numba is not installed.
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

The module is longer than most (about 950 lines) because each kernel is written twice, side
by side, and the two must be read and changed together.
"""

from __future__ import annotations

from functools import cache

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

    def apply_sigma(self, x, sigma, g_lo, g_hi, out):
        """:meth:`apply` with the face conductances of the cell conductivities ``sigma``
        (:meth:`face_conductance`), without storing them."""
        faces = [self.xp.empty(x.shape) for _ in range(3)]
        return self.apply(self.face_conductance([sigma] * 3, g_lo, g_hi, faces), x, out)

    def e2_axes(self, x, g_lo, g_hi, out, divisor=1.0):
        """``out[axis] = sum over the axis's two half faces of g j^2``, divided by ``divisor``
        (``h^3`` gives the energy weight ``g / h^3``)."""
        for axis in range(3):
            j = x[_hi(axis)] - x[_lo(axis)]
            j *= j
            o = out[axis]
            o[...] = 0
            o[_lo(axis)] += g_lo[axis][_lo(axis)] * j
            o[_hi(axis)] += g_hi[axis][_lo(axis)] * j
        if divisor != 1.0:
            out /= divisor
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

    def gauss_seidel(self, G, diag, x, b, colours=(0, 1), zero=False):
        """Red-black Gauss-Seidel on the seven-point stencil, colours in the given order
        (``(0, 1)`` forward, ``(1, 0)`` backward: the pair is a symmetric smoother).
        ``zero`` promises that ``x`` is 0 on entry (the compiled version then skips the first
        colour's neighbour sums; the result is the same)."""
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

    def half_weights(self, labels, s0, apertures, h, g_lo, g_hi):
        """``g_lo = 2 h f kappa_lo^2``, ``g_hi = 2 h f kappa_hi^2`` per axis: the half-face
        weights for the resting conductivities ``s0[labels]`` and face apertures ``f``
        (``kappa_lo = s0_hi / (s0_lo + s0_hi)``, the lower cell's share)."""
        xp = self.xp
        s = s0[labels]
        for axis in range(3):
            lo, hi = _lo(axis), _hi(axis)
            total = s[lo] + s[hi]
            f = apertures[axis]
            for out, num in ((g_lo[axis], s[hi]), (g_hi[axis], s[lo])):
                k = num / total
                out[lo] = 2 * h * k * k * f
                out[_hi(axis, out.shape[axis] - 1)] = 0
        del xp
        return g_lo, g_hi

    def central_gradient(self, x, labels, s0, apertures, h, out):
        """Per axis the mean of the two one-sided gradients at each cell: ``kappa j / h`` from
        each open face (``j`` the potential jump), zero from a closed one (links excluded)."""
        s = s0[labels]
        for axis in range(3):
            lo, hi = _lo(axis), _hi(axis)
            total = s[lo] + s[hi]
            d = self.xp.where(apertures[axis] > 0, (x[hi] - x[lo]) / h, 0.0)
            o = out[axis]
            o[...] = 0
            o[lo] += s[hi] / total * d
            o[hi] += s[lo] / total * d
        return out

    def divide_scale(self, a, divisor, scale):
        """``a = a / divisor * scale`` in place (``scale`` per cell)."""
        a /= divisor
        a *= scale
        return a

    def field_norm(self, e2_axes, out):
        """``out = sqrt(e2_x + e2_y + e2_z)``: the cell field from its squares per axis."""
        self.xp.sqrt(e2_axes.sum(axis=0), out=out)
        return out

    def newton_metric(self, e2_axes, e, sigma, dsigma, coef):
        """The Newton step's conductivity per axis, in place of ``e2_axes``:
        ``coef = dsigma / e`` (0 where ``e = 0``) and ``e2_axis coef + sigma`` per axis."""
        xp = self.xp
        with np.errstate(divide="ignore", invalid="ignore"):
            coef[...] = xp.where(e > 0, dsigma / e, 0.0)
        xp.multiply(e2_axes, coef, out=e2_axes)
        for m in e2_axes:
            m += sigma
        return e2_axes

    def cg_step(self, x, r, p, ap, step) -> float:
        """``x += step p``, ``r -= step ap``; returns ``sum |r|``."""
        x += step * p
        r -= step * ap
        return float(self.xp.sum(self.xp.abs(r)))

    def cg_direction(self, p, z, beta):
        """``p = z + beta p``."""
        p *= beta
        p += z
        return p

    def residual(self, G, diag, x, b, out):
        """``out = b - diag x + sum_faces G x_neighbour`` (``diag`` holds all couplings)."""
        out[...] = b - diag * x
        for axis in range(3):
            lo, hi = _lo(axis), _hi(axis)
            out[lo] += G[axis][lo] * x[hi]
            out[hi] += G[axis][lo] * x[lo]
        return out

    def stencil_diag(self, G, out):
        """``out = sum of the face conductances around each cell``."""
        out[...] = 0
        for axis in range(3):
            lo, hi = _lo(axis), _hi(axis)
            out[lo] += G[axis][lo]
            out[hi] += G[axis][lo]
        return out

    def dot(self, u, v) -> float:
        return float(self.xp.sum(u * v))

    def smoothstep(self, e, nu, labels, table, sigma_out, dsigma_out=None):
        """sigma(nu e) (and d sigma(nu e)/de) of the smoothed step with per-label parameters
        ``table[label] = (sigma0, sigma1 - sigma0, e_rev, e_irr - e_rev)``."""
        xp = self.xp
        s0, ds, er, span = (table[:, i][labels] for i in range(4))
        t = xp.clip((e * nu - er) / span, 0.0, 1.0)
        sigma_out[...] = s0 + ds * t * t * (3 - 2 * t)
        if dsigma_out is not None:
            dsigma_out[...] = ds * 6 * t * (1 - t) / span * nu
        return sigma_out

    def slope(self, p0, p1, p2, t, nu, labels, table) -> float:
        """``sum sigma(nu sqrt(p0 + 2 t p1 + t^2 p2)) (p1 + t p2)``: the energy's slope along a
        line (without the cell volume)."""
        xp = self.xp
        e = xp.sqrt(xp.maximum(p0 + 2 * t * p1 + t * t * p2, 0.0))
        sigma = xp.empty_like(e)
        self.smoothstep(e, nu, labels, table, sigma)
        return float(xp.sum(sigma * (p1 + t * p2)))

    def prolong(self, c, fine_shape, maps):
        """Cell-centred trilinear prolongation: along each axis fine ``2c`` and ``2c + 1`` get
        3/4 of coarse ``c`` and 1/4 of its neighbour on their side (all of ``c`` at the walls).
        ``maps`` (:func:`transfer_maps`) serve the compiled version only."""
        for axis in range(3):
            c = self._prolong_axis(c, axis, fine_shape[axis])
        return c

    def restrict(self, f, coarse_shape, maps):
        """The transpose of :meth:`prolong`."""
        for axis in range(3):
            f = self._restrict_axis(f, axis, coarse_shape[axis])
        return f

    def _prolong_axis(self, c, axis: int, n_fine: int):
        n_c = c.shape[axis]
        shape = list(c.shape)
        shape[axis] = n_fine
        f = self.xp.empty(shape, dtype=c.dtype)
        n_odd = n_fine // 2
        fe = f[_part(axis, slice(0, None, 2))]
        fe[...] = c
        fe[_part(axis, slice(1, None))] *= 0.75
        fe[_part(axis, slice(1, None))] += 0.25 * c[_part(axis, slice(0, n_c - 1))]
        fo = f[_part(axis, slice(1, None, 2))]
        fo[...] = c[_part(axis, slice(0, n_odd))]
        m = min(n_odd, n_c - 1)  # odd cells with a neighbour on their side
        fo[_part(axis, slice(0, m))] *= 0.75
        fo[_part(axis, slice(0, m))] += 0.25 * c[_part(axis, slice(1, m + 1))]
        return f

    def _restrict_axis(self, f, axis: int, n_coarse: int):
        n_odd = f.shape[axis] // 2
        fe = f[_part(axis, slice(0, None, 2))]
        c = fe.copy()
        c[_part(axis, slice(1, None))] *= 0.75
        c[_part(axis, slice(0, n_coarse - 1))] += 0.25 * fe[_part(axis, slice(1, None))]
        fo = f[_part(axis, slice(1, None, 2))]
        m = min(n_odd, n_coarse - 1)
        c[_part(axis, slice(0, m))] += 0.75 * fo[_part(axis, slice(0, m))]
        c[_part(axis, slice(1, m + 1))] += 0.25 * fo[_part(axis, slice(0, m))]
        if n_odd > m:  # the last odd cell has no neighbour on its side: all to its own
            c[_part(axis, slice(m, m + 1))] += fo[_part(axis, slice(m, m + 1))]
        return c

    def block_mean(self, a, coarse_shape):
        """Mean of ``a`` over each coarse cell's (up to 8) children."""
        xp = self.xp
        total = a
        count = xp.ones(a.shape)
        for axis in range(3):
            pad = [(0, 0)] * 3
            pad[axis] = (0, 2 * coarse_shape[axis] - a.shape[axis])
            total, count = xp.pad(total, pad), xp.pad(count, pad)
            total = total[_along(axis, 0)] + total[_along(axis, 1)]
            count = count[_along(axis, 0)] + count[_along(axis, 1)]
        return total / count



def _along(axis: int, start: int):
    return _part(axis, slice(start, None, 2))


def _part(axis: int, sl: slice):
    s = [slice(None)] * 3
    s[axis] = sl
    return tuple(s)


def transfer_maps(fine_shape, coarse_shape, xp=np):
    """Per axis the cell-centred linear interpolation from coarse to fine cells: fine ``i``
    gets ``w0`` of coarse ``c0 = i // 2`` and ``w1`` of its neighbour ``c1`` on ``i``'s side
    (weights 3/4 and 1/4; all of ``c0`` at the walls)."""
    maps = []
    for nf, nc in zip(fine_shape, coarse_shape, strict=True):
        i = np.arange(nf)
        c0 = i // 2
        other = np.where(i % 2 == 0, c0 - 1, c0 + 1)
        ok = (other >= 0) & (other < nc)
        c1 = np.where(ok, other, c0)
        w1 = np.where(ok, 0.25, 0.0)
        maps.append(tuple(xp.asarray(v) for v in (c0, 1.0 - w1, c1, w1)))
    return maps


@cache
def _numba_kernels():
    """Compile the loops (lazily: importing irelab must not need numba; once per machine, the
    machine code is cached on disk by numba and loaded by each process).

    The helpers other kernels call are module globals, not local names: numba keys its cache
    by the contents of a function's closure, and a compiled function in a closure cell is
    identified anew in every process, so the Hessian, the weighted operator and the
    restriction missed the cache and were compiled again by every process (several seconds
    each; their cache index grew by an entry each time)."""
    global lateral_face, sources
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
        zr = np.zeros(nz, dtype=gx.dtype)
        for i in range(nx):
            for j in range(ny):
                xc = x[i, j]
                o = out[i, j]
                xim, gim = (x[i - 1, j], gx[i - 1, j]) if i > 0 else (xc, zr)
                xip, gip = (x[i + 1, j], gx[i, j]) if i < nx - 1 else (xc, zr)
                xjm, gjm = (x[i, j - 1], gy[i, j - 1]) if j > 0 else (xc, zr)
                xjp, gjp = (x[i, j + 1], gy[i, j]) if j < ny - 1 else (xc, zr)
                for k in range(nz):
                    c = xc[k]
                    o[k] = (gim[k] * (c - xim[k]) + gip[k] * (c - xip[k])
                            + gjm[k] * (c - xjm[k]) + gjp[k] * (c - xjp[k]))
                gk = gz[i, j]
                for k in range(nz - 1):
                    o[k] += gk[k] * (xc[k] - xc[k + 1])
                for k in range(1, nz):
                    o[k] += gk[k - 1] * (xc[k] - xc[k - 1])

    @jit
    def e2_axes(x, glx, gly, glz, ghx, ghy, ghz, ex, ey, ez, divisor):
        nx, ny, nz = x.shape
        zr = np.zeros(nz, dtype=glx.dtype)
        for i in range(nx):
            for j in range(ny):
                xc = x[i, j]
                xim, him = (x[i - 1, j], ghx[i - 1, j]) if i > 0 else (xc, zr)
                xip, lip = (x[i + 1, j], glx[i, j]) if i < nx - 1 else (xc, zr)
                xjm, hjm = (x[i, j - 1], ghy[i, j - 1]) if j > 0 else (xc, zr)
                xjp, ljp = (x[i, j + 1], gly[i, j]) if j < ny - 1 else (xc, zr)
                a = ex[i, j]
                b = ey[i, j]
                c = ez[i, j]
                for k in range(nz):
                    d1 = xc[k] - xim[k]
                    d2 = xip[k] - xc[k]
                    a[k] = him[k] * d1 * d1 + lip[k] * d2 * d2
                    d1 = xc[k] - xjm[k]
                    d2 = xjp[k] - xc[k]
                    b[k] = hjm[k] * d1 * d1 + ljp[k] * d2 * d2
                    c[k] = 0.0
                lk = glz[i, j]
                hk = ghz[i, j]
                for k in range(nz - 1):
                    d = xc[k + 1] - xc[k]
                    c[k] += lk[k] * d * d
                for k in range(1, nz):
                    d = xc[k] - xc[k - 1]
                    c[k] += hk[k - 1] * d * d
                if divisor != 1.0:
                    for k in range(nz):
                        a[k] /= divisor
                        b[k] /= divisor
                        c[k] /= divisor

    @jit
    def cross(x, y, glx, gly, glz, ghx, ghy, ghz, out):
        nx, ny, nz = x.shape
        zr = np.zeros(nz, dtype=glx.dtype)
        for i in range(nx):
            for j in range(ny):
                xc = x[i, j]
                yc = y[i, j]
                xim, yim, him = (x[i - 1, j], y[i - 1, j], ghx[i - 1, j]) if i > 0 else (
                    xc, yc, zr)
                xip, yip, lip = (x[i + 1, j], y[i + 1, j], glx[i, j]) if i < nx - 1 else (
                    xc, yc, zr)
                xjm, yjm, hjm = (x[i, j - 1], y[i, j - 1], ghy[i, j - 1]) if j > 0 else (
                    xc, yc, zr)
                xjp, yjp, ljp = (x[i, j + 1], y[i, j + 1], gly[i, j]) if j < ny - 1 else (
                    xc, yc, zr)
                o = out[i, j]
                for k in range(nz):
                    o[k] = (him[k] * (xc[k] - xim[k]) * (yc[k] - yim[k])
                            + lip[k] * (xip[k] - xc[k]) * (yip[k] - yc[k])
                            + hjm[k] * (xc[k] - xjm[k]) * (yc[k] - yjm[k])
                            + ljp[k] * (xjp[k] - xc[k]) * (yjp[k] - yc[k]))
                lk = glz[i, j]
                hk = ghz[i, j]
                for k in range(nz - 1):
                    o[k] += lk[k] * (xc[k + 1] - xc[k]) * (yc[k + 1] - yc[k])
                for k in range(1, nz):
                    o[k] += hk[k - 1] * (xc[k] - xc[k - 1]) * (yc[k] - yc[k - 1])

    @jit
    def lateral_face(glx, gly, ghx, ghy, i, j, ii, jj, along_x, lower):
        """The half-face weight rows (along z) of the face between cell ``(i, j)`` and its x
        or y neighbour ``(ii, jj)``: stored at the face's lower cell."""
        g_lo, g_hi = (glx, ghx) if along_x else (gly, ghy)
        return (g_lo[ii, jj], g_hi[ii, jj]) if lower else (g_lo[i, j], g_hi[i, j])

    @jit
    def hessian(x, v, s, bt, glx, gly, glz, ghx, ghy, ghz, out):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                xc, vc, sc, bc = x[i, j], v[i, j], s[i, j], bt[i, j]
                o = out[i, j]
                for k in range(nz):
                    o[k] = 0.0
                for di, dj, lower in ((-1, 0, True), (1, 0, False), (0, -1, True),
                                      (0, 1, False)):
                    ii, jj = i + di, j + dj
                    if ii < 0 or ii >= nx or jj < 0 or jj >= ny:
                        continue
                    gl, gh = lateral_face(glx, gly, ghx, ghy, i, j, ii, jj, di != 0, lower)
                    xn, vn, sn, bn = x[ii, jj], v[ii, jj], s[ii, jj], bt[ii, jj]
                    if lower:  # the neighbour is the face's lower cell
                        for k in range(nz):
                            o[k] += ((sn[k] * gl[k] + sc[k] * gh[k]) * (vc[k] - vn[k])
                                     + (bn[k] * gl[k] + bc[k] * gh[k]) * (xc[k] - xn[k]))
                    else:
                        for k in range(nz):
                            o[k] += ((sc[k] * gl[k] + sn[k] * gh[k]) * (vc[k] - vn[k])
                                     + (bc[k] * gl[k] + bn[k] * gh[k]) * (xc[k] - xn[k]))
                lk = glz[i, j]
                hk = ghz[i, j]
                for k in range(nz - 1):
                    o[k] += ((sc[k] * lk[k] + sc[k + 1] * hk[k]) * (vc[k] - vc[k + 1])
                             + (bc[k] * lk[k] + bc[k + 1] * hk[k]) * (xc[k] - xc[k + 1]))
                for k in range(1, nz):
                    o[k] += ((sc[k - 1] * lk[k - 1] + sc[k] * hk[k - 1]) * (vc[k] - vc[k - 1])
                             + (bc[k - 1] * lk[k - 1] + bc[k] * hk[k - 1])
                             * (xc[k] - xc[k - 1]))

    @jit
    def apply_sigma(x, s, glx, gly, glz, ghx, ghy, ghz, out):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                xc, sc = x[i, j], s[i, j]
                o = out[i, j]
                for k in range(nz):
                    o[k] = 0.0
                for di, dj, lower in ((-1, 0, True), (1, 0, False), (0, -1, True),
                                      (0, 1, False)):
                    ii, jj = i + di, j + dj
                    if ii < 0 or ii >= nx or jj < 0 or jj >= ny:
                        continue
                    gl, gh = lateral_face(glx, gly, ghx, ghy, i, j, ii, jj, di != 0, lower)
                    xn, sn = x[ii, jj], s[ii, jj]
                    if lower:  # the neighbour is the face's lower cell
                        for k in range(nz):
                            o[k] += (sn[k] * gl[k] + sc[k] * gh[k]) * (xc[k] - xn[k])
                    else:
                        for k in range(nz):
                            o[k] += (sc[k] * gl[k] + sn[k] * gh[k]) * (xc[k] - xn[k])
                lk = glz[i, j]
                hk = ghz[i, j]
                for k in range(nz - 1):
                    o[k] += (sc[k] * lk[k] + sc[k + 1] * hk[k]) * (xc[k] - xc[k + 1])
                for k in range(1, nz):
                    o[k] += (sc[k - 1] * lk[k - 1] + sc[k] * hk[k - 1]) * (xc[k] - xc[k - 1])

    @jit
    def gauss_seidel(gx, gy, gz, diag, x, b, first, zero):
        nx, ny, nz = x.shape
        zr = np.zeros(nz, dtype=gx.dtype)
        acc = np.empty(nz, dtype=x.dtype)  # the smoother's precision (measured 1.3x faster
        for colour in (first, 1 - first):  # in single than summing in double)
            if zero and colour == first:  # x = 0: the first colour's neighbours are all 0
                for i in range(nx):
                    for j in range(ny):
                        xc, bc, dc = x[i, j], b[i, j], diag[i, j]
                        for k in range((colour + i + j) % 2, nz, 2):
                            xc[k] = np.float64(bc[k]) / dc[k]
                continue
            for i in range(nx):
                for j in range(ny):
                    xc = x[i, j]
                    xim, gim = (x[i - 1, j], gx[i - 1, j]) if i > 0 else (xc, zr)
                    xip, gip = (x[i + 1, j], gx[i, j]) if i < nx - 1 else (xc, zr)
                    xjm, gjm = (x[i, j - 1], gy[i, j - 1]) if j > 0 else (xc, zr)
                    xjp, gjp = (x[i, j + 1], gy[i, j]) if j < ny - 1 else (xc, zr)
                    bc = b[i, j]
                    # the whole row's sums (contiguous, vectorised: faster than summing only
                    # this colour's cells with stride 2, measured), then this colour's cells
                    for k in range(nz):
                        acc[k] = (bc[k] + gim[k] * xim[k] + gip[k] * xip[k]
                                  + gjm[k] * xjm[k] + gjp[k] * xjp[k])
                    gk = gz[i, j]
                    for k in range(nz - 1):
                        acc[k] += gk[k] * xc[k + 1]
                    for k in range(1, nz):
                        acc[k] += gk[k - 1] * xc[k - 1]
                    dc = diag[i, j]
                    # the row's neighbours of this colour's cells are of the other colour
                    for k in range((colour + i + j) % 2, nz, 2):
                        xc[k] = acc[k] / dc[k]

    @jit
    def half_weights(labels, s0, fx, fy, fz, h, glx, gly, glz, ghx, ghy, ghz):
        nx, ny, nz = labels.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    sc = s0[labels[i, j, k]]
                    if i < nx - 1:
                        sn = s0[labels[i + 1, j, k]]
                        f = 2.0 * h * fx[i, j, k] / ((sc + sn) * (sc + sn))
                        glx[i, j, k] = f * sn * sn
                        ghx[i, j, k] = f * sc * sc
                    else:
                        glx[i, j, k] = 0.0
                        ghx[i, j, k] = 0.0
                    if j < ny - 1:
                        sn = s0[labels[i, j + 1, k]]
                        f = 2.0 * h * fy[i, j, k] / ((sc + sn) * (sc + sn))
                        gly[i, j, k] = f * sn * sn
                        ghy[i, j, k] = f * sc * sc
                    else:
                        gly[i, j, k] = 0.0
                        ghy[i, j, k] = 0.0
                    if k < nz - 1:
                        sn = s0[labels[i, j, k + 1]]
                        f = 2.0 * h * fz[i, j, k] / ((sc + sn) * (sc + sn))
                        glz[i, j, k] = f * sn * sn
                        ghz[i, j, k] = f * sc * sc
                    else:
                        glz[i, j, k] = 0.0
                        ghz[i, j, k] = 0.0

    @jit
    def central_gradient(x, labels, s0, fx, fy, fz, h, ox, oy, oz):
        nx, ny, nz = x.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    sc = s0[labels[i, j, k]]
                    c = x[i, j, k]
                    gx = 0.0
                    gy = 0.0
                    gz = 0.0
                    if i > 0 and fx[i - 1, j, k] > 0:
                        sn = s0[labels[i - 1, j, k]]
                        gx += sn / (sc + sn) * (c - x[i - 1, j, k]) / h
                    if i < nx - 1 and fx[i, j, k] > 0:
                        sn = s0[labels[i + 1, j, k]]
                        gx += sn / (sc + sn) * (x[i + 1, j, k] - c) / h
                    if j > 0 and fy[i, j - 1, k] > 0:
                        sn = s0[labels[i, j - 1, k]]
                        gy += sn / (sc + sn) * (c - x[i, j - 1, k]) / h
                    if j < ny - 1 and fy[i, j, k] > 0:
                        sn = s0[labels[i, j + 1, k]]
                        gy += sn / (sc + sn) * (x[i, j + 1, k] - c) / h
                    if k > 0 and fz[i, j, k - 1] > 0:
                        sn = s0[labels[i, j, k - 1]]
                        gz += sn / (sc + sn) * (c - x[i, j, k - 1]) / h
                    if k < nz - 1 and fz[i, j, k] > 0:
                        sn = s0[labels[i, j, k + 1]]
                        gz += sn / (sc + sn) * (x[i, j, k + 1] - c) / h
                    ox[i, j, k] = gx
                    oy[i, j, k] = gy
                    oz[i, j, k] = gz

    @jit
    def cg_step(x, r, p, ap, step):
        total = 0.0
        for start in range(0, x.size, 4096):
            block = 0.0
            for m in range(start, min(start + 4096, x.size)):
                x[m] += step * p[m]
                r[m] -= step * ap[m]
                block += abs(r[m])
            total += block
        return total

    @jit
    def divide_scale(a, divisor, scale):
        af = a.ravel()
        sf = scale.ravel()
        for m in range(af.size):
            af[m] = af[m] / divisor * sf[m]

    @jit
    def field_norm(e2x, e2y, e2z, out):
        a, b, c, o = e2x.ravel(), e2y.ravel(), e2z.ravel(), out.ravel()
        for m in range(o.size):
            o[m] = np.sqrt(a[m] + b[m] + c[m])

    @jit
    def newton_metric(e2x, e2y, e2z, e, sigma, dsigma, coef):
        a, b, c = e2x.ravel(), e2y.ravel(), e2z.ravel()
        ef, sf, df, cf = e.ravel(), sigma.ravel(), dsigma.ravel(), coef.ravel()
        for m in range(ef.size):
            k = df[m] / ef[m] if ef[m] > 0 else 0.0
            cf[m] = k
            a[m] = a[m] * k + sf[m]
            b[m] = b[m] * k + sf[m]
            c[m] = c[m] * k + sf[m]

    @jit
    def cg_direction(p, z, beta):
        for m in range(p.size):
            p[m] = z[m] + beta * p[m]

    @jit
    def residual(gx, gy, gz, diag, x, b, out):
        nx, ny, nz = x.shape
        zr = np.zeros(nz, dtype=gx.dtype)
        for i in range(nx):
            for j in range(ny):
                xc = x[i, j]
                xim, gim = (x[i - 1, j], gx[i - 1, j]) if i > 0 else (xc, zr)
                xip, gip = (x[i + 1, j], gx[i, j]) if i < nx - 1 else (xc, zr)
                xjm, gjm = (x[i, j - 1], gy[i, j - 1]) if j > 0 else (xc, zr)
                xjp, gjp = (x[i, j + 1], gy[i, j]) if j < ny - 1 else (xc, zr)
                bc = b[i, j]
                dc = diag[i, j]
                o = out[i, j]
                for k in range(nz):
                    o[k] = (bc[k] - dc[k] * xc[k] + gim[k] * xim[k] + gip[k] * xip[k]
                            + gjm[k] * xjm[k] + gjp[k] * xjp[k])
                gk = gz[i, j]
                for k in range(nz - 1):
                    o[k] += gk[k] * xc[k + 1]
                for k in range(1, nz):
                    o[k] += gk[k - 1] * xc[k - 1]

    @jit
    def stencil_diag(gx, gy, gz, out):
        nx, ny, nz = out.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    acc = gx[i, j, k] + gy[i, j, k] + gz[i, j, k]
                    if i > 0:
                        acc += gx[i - 1, j, k]
                    if j > 0:
                        acc += gy[i, j - 1, k]
                    if k > 0:
                        acc += gz[i, j, k - 1]
                    out[i, j, k] = acc

    @jit
    def dot(u, v):
        n = u.size
        uf = u.ravel()
        vf = v.ravel()
        total = 0.0
        for start in range(0, n, 4096):  # blocked sum: fixed order, small round-off
            block = 0.0
            for m in range(start, min(start + 4096, n)):
                block += uf[m] * vf[m]
            total += block
        return total

    @jit
    def smoothstep(e, nu, labels, table, sigma, dsigma, with_derivative):
        ef = e.ravel()
        nf = nu.ravel()
        lf = labels.ravel()
        sf = sigma.ravel()
        df = dsigma.ravel()
        for m in range(ef.size):
            lab = lf[m]
            s0 = table[lab, 0]
            ds = table[lab, 1]
            span = table[lab, 3]
            t = (ef[m] * nf[m] - table[lab, 2]) / span
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
            sf[m] = s0 + ds * t * t * (3.0 - 2.0 * t)
            if with_derivative:
                df[m] = ds * 6.0 * t * (1.0 - t) / span * nf[m]

    @jit
    def slope(p0, p1, p2, t, nu, labels, table):
        a0 = p0.ravel()
        a1 = p1.ravel()
        a2 = p2.ravel()
        nf = nu.ravel()
        lf = labels.ravel()
        n = a0.size
        total = 0.0
        for start in range(0, n, 4096):
            block = 0.0
            for m in range(start, min(start + 4096, n)):
                e2 = a0[m] + 2.0 * t * a1[m] + t * t * a2[m]
                e = np.sqrt(e2) if e2 > 0.0 else 0.0
                lab = lf[m]
                span = table[lab, 3]
                tt = (e * nf[m] - table[lab, 2]) / span
                if tt < 0.0:
                    tt = 0.0
                elif tt > 1.0:
                    tt = 1.0
                sig = table[lab, 0] + table[lab, 1] * tt * tt * (3.0 - 2.0 * tt)
                block += sig * (a1[m] + t * a2[m])
            total += block
        return total

    @jit
    def prolong(c, f, x0, xw0, x1, xw1, y0, yw0, y1, yw1, z0, zw0, z1, zw1):
        # separable: along z (within rows), then y (rows), then x (planes)
        nx, ny, nz = f.shape
        cx, cy, cz = c.shape
        a = np.empty((cx, cy, nz))
        for i in range(cx):
            for j in range(cy):
                row = c[i, j]
                out = a[i, j]
                for k in range(nz):
                    out[k] = zw0[k] * row[z0[k]] + zw1[k] * row[z1[k]]
        b = np.empty((cx, ny, nz))
        for i in range(cx):
            for j in range(ny):
                r0 = a[i, y0[j]]
                r1 = a[i, y1[j]]
                out = b[i, j]
                w0, w1 = yw0[j], yw1[j]
                for k in range(nz):
                    out[k] = w0 * r0[k] + w1 * r1[k]
        for i in range(nx):
            w0, w1 = xw0[i], xw1[i]
            for j in range(ny):
                r0 = b[x0[i], j]
                r1 = b[x1[i], j]
                out = f[i, j]
                for k in range(nz):
                    out[k] = w0 * r0[k] + w1 * r1[k]

    @jit
    def sources(c0, w0, c1, w1, n_coarse):
        # per coarse cell the fine cells that interpolate from it and their weights (at most
        # four: its two children and one neighbour each side), in fine order: the transpose of
        # the interpolation as a gather
        index = np.zeros((n_coarse, 4), dtype=np.int64)
        weight = np.zeros((n_coarse, 4))
        count = np.zeros(n_coarse, dtype=np.int64)
        for i in range(len(c0)):
            for c, w in ((c0[i], w0[i]), (c1[i], w1[i])):
                if w != 0.0:
                    index[c, count[c]] = i
                    weight[c, count[c]] = w
                    count[c] += 1
        return index, weight, count

    @jit
    def restrict(f, c, x0, xw0, x1, xw1, y0, yw0, y1, yw1, z0, zw0, z1, zw1):
        # separable gathers: along x (whole planes), then y (rows), then z (within rows)
        nx, ny, nz = f.shape
        cx, cy, cz = c.shape
        xi, xw, xn = sources(x0, xw0, x1, xw1, cx)
        yi, yw, yn = sources(y0, yw0, y1, yw1, cy)
        zi, zw, zn = sources(z0, zw0, z1, zw1, cz)
        a = np.zeros((cx, ny, nz))
        for i in range(cx):
            for q in range(xn[i]):
                w = xw[i, q]
                src = f[xi[i, q]]
                for j in range(ny):
                    row, out = src[j], a[i, j]
                    for k in range(nz):
                        out[k] += w * row[k]
        b = np.zeros((cx, cy, nz))
        for i in range(cx):
            for j in range(cy):
                out = b[i, j]
                for q in range(yn[j]):
                    w = yw[j, q]
                    row = a[i, yi[j, q]]
                    for k in range(nz):
                        out[k] += w * row[k]
        for i in range(cx):
            for j in range(cy):
                row, out = b[i, j], c[i, j]
                for k in range(cz):
                    total = 0.0
                    for q in range(zn[k]):
                        total += zw[k, q] * row[zi[k, q]]
                    out[k] = total

    @jit
    def block_mean(a, out):
        # per coarse row: its children's rows added in the fine cells' C order (as a scatter
        # over the fine grid would add them), then divided by the number of children
        nx, ny, nz = a.shape
        cx, cy, cz = out.shape
        for ci in range(cx):
            ni = min(2, nx - 2 * ci)
            for cj in range(cy):
                nj = min(2, ny - 2 * cj)
                o = out[ci, cj]
                for ck in range(cz):
                    o[ck] = 0.0
                for di in range(ni):
                    for dj in range(nj):
                        row = a[2 * ci + di, 2 * cj + dj]
                        for ck in range(cz):
                            o[ck] += row[2 * ck]
                            if 2 * ck + 1 < nz:
                                o[ck] += row[2 * ck + 1]
                for ck in range(cz):
                    o[ck] /= float(ni * nj * min(2, nz - 2 * ck))

    return {"face_conductance": face_conductance, "apply": apply, "e2_axes": e2_axes,
            "apply_sigma": apply_sigma, "divide_scale": divide_scale,
            "cross": cross, "hessian": hessian, "gauss_seidel": gauss_seidel,
            "residual": residual, "stencil_diag": stencil_diag, "dot": dot,
            "smoothstep": smoothstep, "slope": slope, "prolong": prolong,
            "restrict": restrict, "block_mean": block_mean, "half_weights": half_weights,
            "central_gradient": central_gradient, "cg_step": cg_step,
            "cg_direction": cg_direction, "field_norm": field_norm,
            "newton_metric": newton_metric}


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

    def e2_axes(self, x, g_lo, g_hi, out, divisor=1.0):
        self._k["e2_axes"](x, *g_lo, *g_hi, *out, float(divisor))
        return out

    def cross(self, x, y, g_lo, g_hi, out):
        self._k["cross"](x, y, *g_lo, *g_hi, out)
        return out

    def apply_sigma(self, x, sigma, g_lo, g_hi, out):
        self._k["apply_sigma"](x, sigma, *g_lo, *g_hi, out)
        return out

    def hessian(self, x, v, sigma, beta, g_lo, g_hi, out):
        self._k["hessian"](x, v, sigma, beta, *g_lo, *g_hi, out)
        return out

    def gauss_seidel(self, G, diag, x, b, colours=(0, 1), zero=False):
        self._k["gauss_seidel"](*G, diag, x, b, colours[0], bool(zero))
        return x

    def half_weights(self, labels, s0, apertures, h, g_lo, g_hi):
        self._k["half_weights"](labels, s0, *apertures, float(h), *g_lo, *g_hi)
        return g_lo, g_hi

    def central_gradient(self, x, labels, s0, apertures, h, out):
        self._k["central_gradient"](x, labels, s0, *apertures, float(h), *out)
        return out

    def divide_scale(self, a, divisor, scale):
        self._k["divide_scale"](a, float(divisor), scale)
        return a

    def field_norm(self, e2_axes, out):
        self._k["field_norm"](e2_axes[0], e2_axes[1], e2_axes[2], out)
        return out

    def newton_metric(self, e2_axes, e, sigma, dsigma, coef):
        self._k["newton_metric"](e2_axes[0], e2_axes[1], e2_axes[2], e, sigma, dsigma, coef)
        return e2_axes

    def cg_step(self, x, r, p, ap, step) -> float:
        return float(self._k["cg_step"](x, r, p, ap, float(step)))

    def cg_direction(self, p, z, beta):
        self._k["cg_direction"](p, z, float(beta))
        return p

    def residual(self, G, diag, x, b, out):
        self._k["residual"](*G, diag, x, b, out)
        return out

    def stencil_diag(self, G, out):
        self._k["stencil_diag"](*G, out)
        return out

    def dot(self, u, v) -> float:
        return float(self._k["dot"](u, v))

    def smoothstep(self, e, nu, labels, table, sigma_out, dsigma_out=None):
        self._k["smoothstep"](e, nu, labels, table, sigma_out,
                              sigma_out if dsigma_out is None else dsigma_out,
                              dsigma_out is not None)
        return sigma_out

    def slope(self, p0, p1, p2, t, nu, labels, table) -> float:
        return float(self._k["slope"](p0, p1, p2, float(t), nu, labels, table))

    def prolong(self, c, fine_shape, maps):
        f = np.empty(tuple(fine_shape), dtype=c.dtype)
        self._k["prolong"](c, f, *maps[0], *maps[1], *maps[2])
        return f

    def restrict(self, f, coarse_shape, maps):
        c = np.empty(tuple(coarse_shape), dtype=f.dtype)
        self._k["restrict"](f, c, *maps[0], *maps[1], *maps[2])
        return c

    def block_mean(self, a, coarse_shape):
        out = np.empty(tuple(coarse_shape))
        self._k["block_mean"](a, out)
        return out


BACKENDS = ("auto", "numba", "numpy")
"""Kernel implementations a solver can ask for (``auto``: numba if it imports, else NumPy)."""


def select_kernels(backend: str = "auto") -> ArrayKernels:
    """Kernels for ``backend``: ``"numba"``, ``"numpy"`` or ``"auto"`` (numba if it imports
    and compiles, else NumPy)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "numpy":
        return ArrayKernels(np)
    try:
        return NumbaKernels()
    except ImportError:  # numba missing: the NumPy path is complete, only slower
        if backend == "numba":
            raise
        return ArrayKernels(np)

"""The bioheat time stepping compiled: line solves in place, pulses and the damage sum.

:func:`irelab.thermal.simulate_heating` takes locally one-dimensional backward-Euler steps
between pulses: per axis, one tridiagonal system along every grid line, factorised once
(``rho c / dt`` times the field, forward substitution with the unit lower factor, the inverse
pivots, backward substitution), then the Arrhenius rate of every voxel for the damage sum. A
protocol of 30 pairs of 100 pulses is about 3000 steps over a box of ~0.2-0.3 M voxels. The
same arithmetic runs here as compiled loops (numba, already the field solver's kernel compiler)
in the same order of floating-point operations per voxel (no fast-math), so a step gives the
NumPy form's numbers bit for bit (tests/thermal compare the two). Importing irelab does not
need numba: :func:`split_step_kernel` returns None without it and the NumPy form runs.

How a step is laid out. Each substitution updates a voxel from its own value and its
predecessor on the same line, so it can run in place (the voxel is read before it is written):
the x solve writes the new state from the old one slab by slab (a slab of x lines per y index),
then the y and z solves, which couple voxels within one x plane only, run in place plane by
plane while the plane is in the cache. A z line's substitution is one chain of dependent
multiply-subtracts; four lines side by side keep the processor busy (measured on the demo's
61 x 61 x 67 box: 0.55 instead of 1.65 ms per z solve). The temperature and the damage are
separate kernels (:mod:`irelab.thermal.timeloop` runs them on two threads): ``step`` and
``pulse`` make the next temperature, ``damage_step`` and ``damage_pulse`` read it. Where the
rate is 0 before and after a step, Omega + 0.0 is Omega, so those voxels are not written.

The exponential is the compiler's, which may differ from NumPy's in the last bit: the two
forms agree to rounding, each is deterministic.

Factors are passed in the box's own layout ``(nx, ny, nz)``: ``mass`` (``rho c / dt``, the
same for every axis), ``lower[a]`` (the sub-diagonal of the unit lower factor along axis
``a``, entry 0 unused) and ``inv_pivot[a]``, stored in single precision
(:data:`irelab.thermal.bioheat.FACTOR_DTYPE`, as are the pulses' increments) and read into
double-precision arithmetic: on the demo's 65 x 65 x 68 box a pulse and a step took 4.13
instead of 5.63 ms (best of 15, load 4.2), the bytes streamed being most of a step's cost.
"""

from __future__ import annotations

from functools import cache

__all__: list[str] = []


@cache
def split_step_kernel():
    """The compiled kernels, or None without numba: ``step(src, dst, mass, lower,
    inv_pivot)``, ``dst`` one step after ``src``; ``pulse(src, increment, dst)``, ``dst = src +
    increment``; ``damage_step(theta, half_dt, omega, rate_now, body_c, onset_c, ln_a, ea,
    r_gas)``, the trapezoidal damage sum of :func:`irelab.thermal.simulate_heating` over a step
    that ended at ``theta`` (``omega`` and ``rate_now``, the Arrhenius rate at ``theta + body_c``
    and 0 below the onset, updated in place); ``damage_pulse(theta, peak, rate_now, body_c,
    ...)``, the running peak and the rate after a pulse. Compiled once per machine: numba
    caches the machine code on disk, and a process loads it.

    The helpers that the kernels call are module globals, not local names: numba keys its
    cache by the contents of a function's closure, and a compiled function held in a closure
    cell is identified anew in every process, so a kernel calling a local helper missed the
    cache and was compiled again by every process (and its index grew by one entry each
    time)."""
    global rate_at, _solve_x, _solve_z4, _solve_yz
    try:
        import numba
    except ImportError:  # the NumPy step is complete, only slower
        return None
    import numpy as np

    jit = numba.njit(cache=True, fastmath=False, nogil=True)

    @jit
    def rate_at(t_c, onset_c, ln_a, ea, r_gas):
        return np.exp(ln_a - ea / (r_gas * (t_c + 273.15))) if t_c >= onset_c else 0.0

    @jit
    def _solve_x(src, dst, j, mass, lower, inv_pivot):
        """The x lines of slab ``j`` (all z): ``dst`` from ``src`` (the same array: in place)."""
        nx, _, nz = src.shape
        for k in range(nz):
            dst[0, j, k] = mass[0, j, k] * src[0, j, k]
        for i in range(1, nx):
            for k in range(nz):
                dst[i, j, k] = mass[i, j, k] * src[i, j, k] - lower[i, j, k] * dst[i - 1, j, k]
        for k in range(nz):
            dst[nx - 1, j, k] *= inv_pivot[nx - 1, j, k]
        for i in range(nx - 2, -1, -1):
            for k in range(nz):
                dst[i, j, k] = (dst[i, j, k] * inv_pivot[i, j, k]
                                - lower[i + 1, j, k] * dst[i + 1, j, k])

    @jit
    def _solve_z4(lines, mass, lower, inv_pivot):
        """Up to four z lines side by side, in place: each line's substitution is a chain of
        dependent multiply-subtracts, so four chains at once keep the processor busy (the z
        solve, one chain at a time, was the slowest of the three)."""
        n, nz = lines.shape
        if n == 4:
            a0 = lines[0, 0] = mass[0, 0] * lines[0, 0]
            a1 = lines[1, 0] = mass[1, 0] * lines[1, 0]
            a2 = lines[2, 0] = mass[2, 0] * lines[2, 0]
            a3 = lines[3, 0] = mass[3, 0] * lines[3, 0]
            for k in range(1, nz):
                a0 = lines[0, k] = mass[0, k] * lines[0, k] - lower[0, k] * a0
                a1 = lines[1, k] = mass[1, k] * lines[1, k] - lower[1, k] * a1
                a2 = lines[2, k] = mass[2, k] * lines[2, k] - lower[2, k] * a2
                a3 = lines[3, k] = mass[3, k] * lines[3, k] - lower[3, k] * a3
            a0 = lines[0, nz - 1] = a0 * inv_pivot[0, nz - 1]
            a1 = lines[1, nz - 1] = a1 * inv_pivot[1, nz - 1]
            a2 = lines[2, nz - 1] = a2 * inv_pivot[2, nz - 1]
            a3 = lines[3, nz - 1] = a3 * inv_pivot[3, nz - 1]
            for k in range(nz - 2, -1, -1):
                a0 = lines[0, k] = lines[0, k] * inv_pivot[0, k] - lower[0, k + 1] * a0
                a1 = lines[1, k] = lines[1, k] * inv_pivot[1, k] - lower[1, k + 1] * a1
                a2 = lines[2, k] = lines[2, k] * inv_pivot[2, k] - lower[2, k + 1] * a2
                a3 = lines[3, k] = lines[3, k] * inv_pivot[3, k] - lower[3, k + 1] * a3
            return
        for m in range(n):
            a = lines[m, 0] = mass[m, 0] * lines[m, 0]
            for k in range(1, nz):
                a = lines[m, k] = mass[m, k] * lines[m, k] - lower[m, k] * a
            a = lines[m, nz - 1] = a * inv_pivot[m, nz - 1]
            for k in range(nz - 2, -1, -1):
                a = lines[m, k] = lines[m, k] * inv_pivot[m, k] - lower[m, k + 1] * a

    @jit
    def _solve_yz(theta, i, mass, lower_y, inv_y, lower_z, inv_z):
        """The y lines, then the z lines, of plane ``i``, in place."""
        _, ny, nz = theta.shape
        for k in range(nz):
            theta[i, 0, k] = mass[i, 0, k] * theta[i, 0, k]
        for j in range(1, ny):
            for k in range(nz):
                theta[i, j, k] = (mass[i, j, k] * theta[i, j, k]
                                  - lower_y[i, j, k] * theta[i, j - 1, k])
        for k in range(nz):
            theta[i, ny - 1, k] *= inv_y[i, ny - 1, k]
        for j in range(ny - 2, -1, -1):
            for k in range(nz):
                theta[i, j, k] = (theta[i, j, k] * inv_y[i, j, k]
                                  - lower_y[i, j + 1, k] * theta[i, j + 1, k])
        for j in range(0, ny, 4):
            _solve_z4(theta[i, j:j + 4], mass[i, j:j + 4], lower_z[i, j:j + 4],
                      inv_z[i, j:j + 4])

    @jit
    def step(src, dst, mass, lower, inv_pivot):
        nx, ny, _ = src.shape
        for j in range(ny):
            _solve_x(src, dst, j, mass, lower[0], inv_pivot[0])
        for i in range(nx):
            _solve_yz(dst, i, mass, lower[1], inv_pivot[1], lower[2], inv_pivot[2])

    @jit
    def pulse(src, increment, dst):
        s, inc, d = src.ravel(), increment.ravel(), dst.ravel()
        for n in range(s.size):
            d[n] = s[n] + inc[n]

    @jit
    def damage_step(theta, half_dt, omega, rate_now, body_c, onset_c, ln_a, ea, r_gas):
        t, om, r = theta.ravel(), omega.ravel(), rate_now.ravel()
        for n in range(t.size):
            new = rate_at(t[n] + body_c, onset_c, ln_a, ea, r_gas)
            if r[n] != 0.0 or new != 0.0:  # else Omega + 0.0: unchanged
                om[n] += half_dt * (r[n] + new)
                r[n] = new

    @jit
    def damage_pulse(theta, peak, rate_now, body_c, onset_c, ln_a, ea, r_gas):
        t, p, r = theta.ravel(), peak.ravel(), rate_now.ravel()
        for n in range(t.size):
            if t[n] > p[n]:
                p[n] = t[n]
            r[n] = rate_at(t[n] + body_c, onset_c, ln_a, ea, r_gas)

    return step, pulse, damage_step, damage_pulse

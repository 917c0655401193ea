"""The bioheat time stepping compiled: line solves and the damage sum without temporaries.

:func:`irelab.thermal.simulate_heating` takes locally one-dimensional backward-Euler steps
between pulses: per axis, one tridiagonal system along every grid line, factorised once
(``rho c / dt`` times the field, forward substitution with the unit lower factor, the inverse
pivots, backward substitution), then the Arrhenius rate of every voxel for the damage sum. A
protocol of 30 pairs of 100 pulses is about 3000 steps over a box of ~0.2 M voxels; profiled
on the segment-8 demo plan (cProfile, loaded machine), the NumPy form spent 41 % of its time in
the line solves, 34 % in the rate (an exponential of every voxel per step) and most of the rest
in the array temporaries of the damage sum. Here the same arithmetic runs as compiled loops
(numba, already the field solver's kernel compiler) in the same order of floating-point
operations (no fast-math, no threads), so a step gives the NumPy form's numbers bit for bit
(tests/thermal compare the two). Importing irelab does not need numba:
:func:`split_step_kernel` returns None without it and the NumPy form runs.

The damage integral runs in the same loop (the rate of every voxel after each step, with the
exponential evaluated only at or above the damage onset, where most voxels never are), so a
gap between pulses is one call. The exponential is the compiler's, which may differ from
NumPy's in the last bit: the two forms agree to rounding, each is deterministic.

Factors are passed in the box's own layout ``(nx, ny, nz)``: ``mass[a]`` (``rho c / dt``),
``lower[a]`` (the sub-diagonal of the unit lower factor along axis ``a``, entry 0 unused) and
``inv_pivot[a]``.
"""

from __future__ import annotations

from functools import cache

__all__: list[str] = []


@cache
def split_step_kernel():
    """The compiled kernels, or None without numba: ``step(theta, mass, lower, inv_pivot)``,
    ``theta`` one dt later (a new array); ``rate(theta, body_c, onset_c, ln_a, ea, r_gas,
    out)``, the Arrhenius damage rate at ``theta + body_c`` (0 below the onset) into ``out``;
    and ``advance(theta, mass, lower, inv_pivot, n_steps, dt, omega, rate_now, ...)``, that many
    steps with the trapezoidal damage sum of :func:`irelab.thermal.simulate_heating` in place
    (``omega`` and ``rate_now`` updated), returning ``theta``. Compiled once per process; numba
    caches the machine code on disk."""
    try:
        import numba
    except ImportError:  # the NumPy step is complete, only slower
        return None
    import numpy as np

    jit = numba.njit(cache=True, fastmath=False, nogil=True)

    @jit
    def _axis0(field, mass, lower, inv_pivot, out):
        nx, ny, nz = field.shape
        for j in range(ny):
            for k in range(nz):
                out[0, j, k] = mass[0, j, k] * field[0, j, k]
        for i in range(1, nx):
            for j in range(ny):
                for k in range(nz):
                    out[i, j, k] = (mass[i, j, k] * field[i, j, k]
                                    - lower[i, j, k] * out[i - 1, j, k])
        for j in range(ny):
            for k in range(nz):
                out[nx - 1, j, k] *= inv_pivot[nx - 1, j, k]
        for i in range(nx - 2, -1, -1):
            for j in range(ny):
                for k in range(nz):
                    out[i, j, k] = (out[i, j, k] * inv_pivot[i, j, k]
                                    - lower[i + 1, j, k] * out[i + 1, j, k])

    @jit
    def _axis1(field, mass, lower, inv_pivot, out):
        nx, ny, nz = field.shape
        for i in range(nx):
            for k in range(nz):
                out[i, 0, k] = mass[i, 0, k] * field[i, 0, k]
            for j in range(1, ny):
                for k in range(nz):
                    out[i, j, k] = (mass[i, j, k] * field[i, j, k]
                                    - lower[i, j, k] * out[i, j - 1, k])
            for k in range(nz):
                out[i, ny - 1, k] *= inv_pivot[i, ny - 1, k]
            for j in range(ny - 2, -1, -1):
                for k in range(nz):
                    out[i, j, k] = (out[i, j, k] * inv_pivot[i, j, k]
                                    - lower[i, j + 1, k] * out[i, j + 1, k])

    @jit
    def _axis2(field, mass, lower, inv_pivot, out):
        nx, ny, nz = field.shape
        for i in range(nx):
            for j in range(ny):
                out[i, j, 0] = mass[i, j, 0] * field[i, j, 0]
                for k in range(1, nz):
                    out[i, j, k] = (mass[i, j, k] * field[i, j, k]
                                    - lower[i, j, k] * out[i, j, k - 1])
                out[i, j, nz - 1] *= inv_pivot[i, j, nz - 1]
                for k in range(nz - 2, -1, -1):
                    out[i, j, k] = (out[i, j, k] * inv_pivot[i, j, k]
                                    - lower[i, j, k + 1] * out[i, j, k + 1])

    @jit
    def step(theta, mass, lower, inv_pivot):
        a = np.empty_like(theta)
        b = np.empty_like(theta)
        _axis0(theta, mass[0], lower[0], inv_pivot[0], a)
        _axis1(a, mass[1], lower[1], inv_pivot[1], b)
        _axis2(b, mass[2], lower[2], inv_pivot[2], a)
        return a

    @jit
    def rate_at(t_c, onset_c, ln_a, ea, r_gas):
        return np.exp(ln_a - ea / (r_gas * (t_c + 273.15))) if t_c >= onset_c else 0.0

    @jit
    def rate(theta, body_c, onset_c, ln_a, ea, r_gas, out):
        flat, r = theta.ravel(), out.ravel()
        for n in range(flat.size):
            r[n] = rate_at(flat[n] + body_c, onset_c, ln_a, ea, r_gas)

    @jit
    def advance(theta, mass, lower, inv_pivot, n_steps, dt, omega, rate_now, body_c, onset_c,
                ln_a, ea, r_gas):
        half_dt = 0.5 * dt
        om, r = omega.ravel(), rate_now.ravel()
        for _ in range(n_steps):
            theta = step(theta, mass, lower, inv_pivot)
            flat = theta.ravel()
            for n in range(flat.size):
                new = rate_at(flat[n] + body_c, onset_c, ln_a, ea, r_gas)
                om[n] += half_dt * (r[n] + new)
                r[n] = new
        return theta

    return step, rate, advance

"""The bioheat time stepping compiled: line solves, pulses and the damage sum in place, on threads.

:func:`irelab.thermal.simulate_heating` takes locally one-dimensional backward-Euler steps
between pulses: per axis, one tridiagonal system along every grid line, factorised once
(``rho c / dt`` times the field, forward substitution with the unit lower factor, the inverse
pivots, backward substitution), then the Arrhenius rate of every voxel for the damage sum. A
protocol of 30 pairs of 100 pulses is about 3000 steps over a box of ~0.2 M voxels; profiled
on the segment-8 demo plan (cProfile, loaded machine), the NumPy form spent 41 % of its time in
the line solves, 34 % in the rate (an exponential of every voxel per step) and most of the rest
in the array temporaries of the damage sum. Here the same arithmetic runs as compiled loops
(numba, already the field solver's kernel compiler) in the same order of floating-point
operations per voxel (no fast-math), so a step gives the NumPy form's numbers bit for bit
(tests/thermal compare the two). Importing irelab does not need numba:
:func:`split_step_kernel` returns None without it and the NumPy form runs.

How a step is laid out. Each substitution updates a voxel from its own value and its
predecessor on the same line, so it runs in place (the voxel is read before it is written) and
a step needs no buffer. The x solve couples voxels along x only, so it runs over the y indices
(each an x-z slab of lines along x); the y and z solves couple voxels within one x plane only,
so both run plane by plane, and the damage rate and sum of that plane follow while it is in
the cache: two passes over the box per step instead of five. Slabs and planes are independent,
so they are shared among threads (numba's ``prange``); every voxel gets the same operations in
the same order whatever the number of threads, so the result does not depend on it (the
planner's plan file is byte for byte the same on one thread and on two). A pulse (the
adiabatic jump, the running peak and the rate after it) is one pass as well.

The exponential is the compiler's, which may differ from NumPy's in the last bit: the two
forms agree to rounding, each is deterministic.

Factors are passed in the box's own layout ``(nx, ny, nz)``: ``mass`` (``rho c / dt``, the
same for every axis), ``lower[a]`` (the sub-diagonal of the unit lower factor along axis
``a``, entry 0 unused) and ``inv_pivot[a]``.
"""

from __future__ import annotations

from functools import cache

__all__: list[str] = []


@cache
def split_step_kernel():
    """The compiled kernels, or None without numba: ``advance(theta, mass, lower, inv_pivot,
    n_steps, dt, omega, rate_now, body_c, onset_c, ln_a, ea, r_gas)``, that many steps of
    ``theta`` in place with the trapezoidal damage sum of :func:`irelab.thermal.simulate_heating`
    (``omega`` and ``rate_now``, the Arrhenius damage rate at ``theta + body_c`` and 0 below the
    onset, updated in place); and ``pulse(theta, increment, peak, rate_now, body_c, onset_c,
    ln_a, ea, r_gas)``, ``theta += increment``, the running ``peak`` and ``rate_now`` after it,
    in place. Compiled once per process; numba caches the machine code on disk."""
    try:
        import numba
    except ImportError:  # the NumPy step is complete, only slower
        return None
    import numpy as np

    jit = numba.njit(cache=True, fastmath=False, nogil=True)
    threaded = numba.njit(cache=True, fastmath=False, nogil=True, parallel=False)
    prange = numba.prange

    @jit
    def rate_at(t_c, onset_c, ln_a, ea, r_gas):
        return np.exp(ln_a - ea / (r_gas * (t_c + 273.15))) if t_c >= onset_c else 0.0

    @jit
    def _solve_x(theta, j, mass, lower, inv_pivot):
        """The x lines of slab ``j`` (all z), in place."""
        nx, _, nz = theta.shape
        for k in range(nz):
            theta[0, j, k] = mass[0, j, k] * theta[0, j, k]
        for i in range(1, nx):
            for k in range(nz):
                theta[i, j, k] = (mass[i, j, k] * theta[i, j, k]
                                  - lower[i, j, k] * theta[i - 1, j, k])
        for k in range(nz):
            theta[nx - 1, j, k] *= inv_pivot[nx - 1, j, k]
        for i in range(nx - 2, -1, -1):
            for k in range(nz):
                theta[i, j, k] = (theta[i, j, k] * inv_pivot[i, j, k]
                                  - lower[i + 1, j, k] * theta[i + 1, j, k])

    @jit
    def _solve_z4(lines, mass, lower, inv_pivot):
        """Up to four z lines side by side: each line's substitution is a chain of dependent
        multiply-subtracts, so four chains at once keep the processor busy (the z solve was
        the slowest pass, waiting on one chain)."""
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
        for j in range(0, ny - ny % 4, 4):
            _solve_z4(theta[i, j:j + 4], mass[i, j:j + 4], lower_z[i, j:j + 4],
                      inv_z[i, j:j + 4])
        for j in range(ny - ny % 4, ny):
            _solve_z4(theta[i, j:j + 1], mass[i, j:j + 1], lower_z[i, j:j + 1],
                      inv_z[i, j:j + 1])

    @threaded
    def advance(theta, mass, lower, inv_pivot, n_steps, dt, omega, rate_now, body_c, onset_c,
                ln_a, ea, r_gas):
        half_dt = 0.5 * dt
        nx, ny, nz = theta.shape
        for _ in range(n_steps):
            for j in prange(ny):
                _solve_x(theta, j, mass, lower[0], inv_pivot[0])
            for i in prange(nx):
                _solve_yz(theta, i, mass, lower[1], inv_pivot[1], lower[2], inv_pivot[2])
                for j in range(ny):
                    for k in range(nz):
                        new = rate_at(theta[i, j, k] + body_c, onset_c, ln_a, ea, r_gas)
                        now = rate_now[i, j, k]
                        if now != 0.0 or new != 0.0:  # else Omega + 0.0: unchanged
                            omega[i, j, k] += half_dt * (now + new)
                            rate_now[i, j, k] = new
        return theta

    @threaded
    def pulse(theta, increment, peak, rate_now, body_c, onset_c, ln_a, ea, r_gas):
        nx, ny, nz = theta.shape
        for i in prange(nx):
            for j in range(ny):
                for k in range(nz):
                    t = theta[i, j, k] + increment[i, j, k]
                    theta[i, j, k] = t
                    if t > peak[i, j, k]:
                        peak[i, j, k] = t
                    rate_now[i, j, k] = rate_at(t + body_c, onset_c, ln_a, ea, r_gas)

    return advance, pulse

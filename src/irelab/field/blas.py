"""BLAS on one thread while the field solver runs.

The set-up and the solve call BLAS only for small dense blocks: the near-field calibration's
triangular solves with a few dozen right-hand sides and the coarsest grid's LU solves. OpenBLAS
would split each across every core; on our shared 2-core machine its spinning worker threads
cost more CPU than the work itself (measured with ``benchmarks/field_solve.py``: the set-up of
the two-needle example at 1 mm took 0.26 CPU s with the default threads, 0.08 s with one), and
a thread count that follows the machine would let the summation order, and so the last bits of
the calibration, depend on where the solver runs. threadpoolctl is the library made for
setting the thread pools of the loaded BLAS libraries.
"""

from __future__ import annotations

from functools import cache

from threadpoolctl import ThreadpoolController

__all__: list[str] = []


@cache
def _blas_threads() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (found once, when the first solver runs)."""
    return ThreadpoolController()


def single_threaded_blas():
    """Context in which the loaded BLAS libraries run on one thread (restored on exit)."""
    return _blas_threads().limit(limits=1, user_api="blas")

"""The compiled kernels are compiled once per machine, not once per process.

numba caches machine code on disk; a process that finds it loads it instead of compiling. A
kernel that called another compiled function held in a closure cell missed that cache in every
process (numba keys the cache by the closure's contents, and such a cell is identified anew in
each process): the field solver's Hessian, weighted operator and restriction and the bioheat
steps were compiled again by every planner worker, Dask worker and command, 5-8 s each time
on our 2-core machine. Here a small field solve and a small bioheat simulation run in two
fresh processes; in the second, every kernel they used must come from the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two-needles.yaml"

WORKLOAD = textwrap.dedent("""
    import json
    import sys

    import numpy as np

    from irelab.case import load_case
    from irelab.field import FieldSolver, SolverOptions
    from irelab.field.kernels import _numba_kernels
    from irelab.field.problem import Grid
    from irelab.field.raycast import _compiled
    from irelab.thermal import PulseSchedule, simulate_heating
    from irelab.thermal.kernels import split_step_kernel

    case = load_case(sys.argv[1])
    pair = case.protocol.pairs[0]
    FieldSolver(case.field_problem(spacing_mm=2.0), SolverOptions()).solve_pair(
        pair.anode, pair.cathode, pair.voltage_V)
    grid = Grid.centred((0.02,) * 3, 1e-3)
    power = np.zeros(grid.shape)
    power[8:12, 8:12, 8:12] = 2e11
    simulate_heating(grid, np.zeros(grid.shape, dtype=np.int8), ("liver",), [power],
                     PulseSchedule(pulses_per_pair=3, cooldown_s=2.0))
    kernels = {**_numba_kernels(), "first_hits": _compiled()}
    kernels.update(zip(("step", "pulse", "damage_step", "damage_pulse"), split_step_kernel()))
    used = {name: {"hits": sum(k.stats.cache_hits.values()),
                   "misses": sum(k.stats.cache_misses.values())}
            for name, k in kernels.items()}
    print(json.dumps({n: u for n, u in used.items() if u["hits"] + u["misses"]}))
""")


def _kernels_used(cache_dir: Path) -> dict[str, dict[str, int]]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    done = subprocess.run([sys.executable, "-c", WORKLOAD, str(EXAMPLE)], capture_output=True,
                          text=True, timeout=900, check=True, env=env)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_second_process_loads_every_kernel_it_uses_from_the_cache(tmp_path) -> None:
    """The first process compiles into an empty cache of its own (other processes of the
    suite cannot touch it); the second compiles nothing. The kernels that call helpers
    (Hessian, weighted operator, restriction, the bioheat step and damage sums) are among
    those used, so the check covers them."""
    first = _kernels_used(tmp_path)
    assert any(used["misses"] for used in first.values())  # the cache did start empty
    second = _kernels_used(tmp_path)
    assert {"hessian", "apply_sigma", "restrict", "step", "damage_step",
            "damage_pulse"} <= set(second)
    missed = {name for name, used in second.items() if used["misses"]}
    assert not missed, f"compiled again in a second process: {sorted(missed)}"

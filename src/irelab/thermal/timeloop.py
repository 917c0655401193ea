"""The compiled time loop on two threads: one steps the temperature, the other sums the damage.

The temperature never depends on the damage: each step and each pulse gives the next
temperature from the last one alone, while the damage sum (an Arrhenius rate, an exponential,
in every voxel above the damage onset, twice per heartbeat) only reads the temperatures. Timed
kernel by kernel on the segment-8 demo plan's first simulation (one thread, loaded machine),
the line solves took 64 % of the time, the damage sum and the peak 28 % (a third of the box's
voxels pass 43 C at some time) and the pulses 6 %. So the two run side by side as producer and
consumer: the calling thread writes each new temperature into the next slot of a ring of
:data:`RING_SLOTS` arrays, a second thread takes the slots in order, updates the running peak,
the rate and Omega, and frees the slot. Neither waits for the other at every step, only when
the ring is full or empty, so a machine whose other core is busy loses little (locked-step
threads, waiting for each other at every one of ~6000 passes, ran three times slower than one
thread on our shared 2-core machine at a load of 4-6, measured with numba's ``prange``). On the
segment-8 demo plan (seven simulations of 2291-3056 steps on boxes of 0.25-0.29 M voxels) at a
load of 1.1-1.6, the thermal stage took 61.7 s on two threads, against 107.3 s with the
one-thread kernels before this loop (load 1.1-1.8) and 102.2 s with this loop on one thread
(load 1.8-3.2); 260.8 against 268.3 s of CPU for the whole plan. So the damage half is nearer
half of the work than the 28 % of the profile on the loaded machine. With both cores busy the
gain vanishes: ``benchmarks/thermal.py`` (both forms side by side, 30 pair placements, 3056
steps) at a load of 2.3-3.1 gave 3.86 and 3.67 s on two threads against 3.63 and 3.77 s on one;
at a load of 1.3, 3.48 against 3.98 s.

Every voxel gets the same floating-point operations in the same order as in one thread (and
in the NumPy form of :mod:`irelab.thermal.bioheat`), so the result does not depend on the
threads' timing. A :class:`~irelab.thermal.bioheat.DamageBound` is checked by the damage thread
at the end of each gap between pulses, exactly where a single loop would check it; the
temperature thread may have run ahead and its extra states are dropped.

Written here because it is the product's time loop; the threads are the standard library's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from irelab.thermal.schedule import PulseEvent

__all__: list[str] = []

RING_SLOTS = 6
"""Temperature states the stepping thread may be ahead of the damage thread (design choice:
enough to ride over a few milliseconds of either thread being descheduled; 6 boxes of ~0.3 M
voxels are 14 MB)."""


@dataclass(frozen=True)
class State:
    """One temperature state of the time loop: after a step of ``dt`` with ``factors`` (the
    stepper's), or after a pulse of pair ``pair`` (``factors`` None). ``check_at_s``: the time
    of the end of a gap between pulses, where a damage bound is checked (None elsewhere)."""

    dt: float
    factors: tuple | None
    pair: int
    check_at_s: float | None


@dataclass
class Outcome:
    """What the damage thread leaves: the running peak, Omega, the rate, the final temperature
    and the states taken; ``stopped_at_s`` when the bound stopped the loop."""

    peak: np.ndarray
    omega: np.ndarray
    final: np.ndarray
    steps: int
    stopped_at_s: float | None


def schedule_states(events: Sequence[PulseEvent], duration: float, max_step_s: float,
                    factors: Callable[[float], object]) -> list[State]:
    """The time loop's states in order: the steps of at most ``max_step_s`` that fill each
    gap before a pulse (and the cool-down), each pulse; a damage bound is checked at the end of
    each gap before a pulse. ``factors(dt)``: what the stepping takes for a step of ``dt``."""
    out: list[State] = []
    t_now = 0.0
    times = [e.time_s for e in events] + [duration]
    for i, t_next in enumerate(times):
        gap = t_next - t_now
        if gap > 0:
            n_sub = int(np.ceil(gap / max_step_s - 1e-9))
            dt = round(gap / n_sub, 9)
            step = State(dt, factors(dt), -1, None)
            out += [step] * (n_sub - 1)
            out.append(replace(step, check_at_s=t_next if i < len(events) else None))
            t_now = t_next
        if i < len(events):
            out.append(State(0.0, None, events[i].pair, None))
    return out


def run(kernels, states: Sequence[State], increments: Sequence[np.ndarray],
        damage: tuple, reached: Callable[[], bool] | None, omega: np.ndarray,
        progress: Callable[[float], None] | None = None, threaded: bool = True) -> Outcome:
    """Run ``states`` from a box at body temperature; ``omega`` (zeros) is updated in place
    (``reached`` reads it). ``threaded=False``: both halves on this thread, state by state
    (the same numbers)."""
    step, pulse, damage_step, damage_pulse = kernels
    if not threaded:
        return _run_here(kernels, states, increments, damage, reached, omega, progress)
    shape = omega.shape
    ring = [np.zeros(shape) for _ in range(RING_SLOTS)]
    free = threading.Semaphore(RING_SLOTS - 1)  # slots the stepping thread may write
    filled = threading.Semaphore(0)
    stop = threading.Event()
    peak = np.zeros(shape)
    rate_now = np.zeros(shape)
    outcome = Outcome(peak, omega, ring[0], 0, None)
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            for n, state in enumerate(states, start=1):
                filled.acquire()
                if stop.is_set():
                    return
                theta = ring[n % RING_SLOTS]
                if state.factors is None:
                    damage_pulse(theta, peak, rate_now, *damage)
                else:
                    damage_step(theta, 0.5 * state.dt, omega, rate_now, *damage)
                    outcome.steps += 1
                if state.check_at_s is not None and reached is not None and reached():
                    outcome.final = theta.copy()
                    outcome.stopped_at_s = state.check_at_s
                    return
                if n == len(states):
                    outcome.final = theta.copy()
                free.release()
        except BaseException as error:  # handed to the calling thread
            failure.append(error)
        finally:
            stop.set()
            free.release()  # the stepping thread may wait for a slot

    worker = threading.Thread(target=consume, name="bioheat damage", daemon=True)
    worker.start()
    produced = False
    try:
        for n, state in enumerate(states, start=1):
            free.acquire()
            if stop.is_set():
                break
            src, dst = ring[(n - 1) % RING_SLOTS], ring[n % RING_SLOTS]
            if state.factors is None:
                pulse(src, increments[state.pair], dst)
            else:
                step(src, dst, *state.factors)
            filled.release()
            if progress is not None and n % 500 == 0:
                progress(n / len(states))
        produced = True
    finally:
        if not produced:  # this thread failed: the damage thread must not wait for it
            stop.set()
            filled.release()
        worker.join()
    if failure:
        raise failure[0]
    return outcome


def _run_here(kernels, states, increments, damage, reached, omega, progress) -> Outcome:
    step, pulse, damage_step, damage_pulse = kernels
    theta, after = np.zeros(omega.shape), np.zeros(omega.shape)
    outcome = Outcome(np.zeros(omega.shape), omega, theta, 0, None)
    rate_now = np.zeros(omega.shape)
    for n, state in enumerate(states, start=1):
        if state.factors is None:
            pulse(theta, increments[state.pair], after)
            damage_pulse(after, outcome.peak, rate_now, *damage)
        else:
            step(theta, after, *state.factors)
            damage_step(after, 0.5 * state.dt, omega, rate_now, *damage)
            outcome.steps += 1
        theta, after = after, theta
        if state.check_at_s is not None and reached is not None and reached():
            outcome.stopped_at_s = state.check_at_s
            break
        if progress is not None and n % 500 == 0:
            progress(n / len(states))
    outcome.final = theta
    return outcome

"""Bioheat solver against closed forms: adiabatic pulses, Gaussian diffusion, Arrhenius."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.delivery import GeneratorConfig
from irelab.field import Grid
from irelab.plan import PlanOptions
from irelab.thermal import (
    BODY_TEMPERATURE_C,
    LIVER_DAMAGE,
    DamageBound,
    PulseSchedule,
    ThermalTissue,
    damaged_volume_mm3,
    simulate_heating,
)

# liver density/heat capacity/conductivity (IT'IS) with perfusion switched off, so that the
# closed forms below (no Pennes sink) apply
NO_PERFUSION = ThermalTissue(1079.0, 3540.0, 0.52, 0.0)
RHO_C = NO_PERFUSION.volumetric_heat_capacity
ALPHA = NO_PERFUSION.conductivity_W_per_m_K / RHO_C  # thermal diffusivity, m^2/s


def _grid(n: int, h: float) -> Grid:
    return Grid.centred((n * h,) * 3, h)


def test_uniform_source_heats_adiabatically_and_damage_integrates_exactly() -> None:
    """Uniform Joule power: the centre of a large block heats by q tau / (rho c) per pulse.

    Reference: the adiabatic increment dT = sigma E^2 tau / (rho c) of a uniform source (no
    gradient, so no conduction at the centre; boundary cooling reaches sqrt(alpha t) ~ 1.5 mm
    in the 17 s simulated, far from the centre 15 mm away). The damage integral of the
    resulting piecewise-constant temperature is then
    sum_i (rate(T_i) - rate(37 C)) * (t_{i+1} - t_i) (the body-temperature rate is not counted),
    computed here independently from the schedule's pulse times.
    """
    grid = _grid(30, 1e-3)
    labels = np.zeros(grid.shape, dtype=np.int8)
    sched = PulseSchedule(pulses_per_pair=5, pulse_width_us=90, pulses_per_train=10,
                          heart_rate_bpm=60, cooldown_s=10.0)
    rise_per_pulse = 5.0  # K
    q = np.full(grid.shape, rise_per_pulse * RHO_C / 90e-6)
    res = simulate_heating(grid, labels, ("liver",), [q], sched,
                           tissues={"liver": NO_PERFUSION}, max_step_s=1.0)
    centre = tuple(s // 2 for s in grid.shape)
    tol_K = 1e-4  # round-off on ~30 K excess, plus far-boundary leakage
    assert res.peak_temperature_C[centre] == pytest.approx(BODY_TEMPERATURE_C + 25.0, abs=tol_K)
    assert res.final_temperature_C[centre] == pytest.approx(BODY_TEMPERATURE_C + 25.0,
                                                            abs=tol_K)
    times = [e.time_s for e in sched.events(1)] + [sched.duration_s(1)]
    temps = BODY_TEMPERATURE_C + rise_per_pulse * np.arange(1, 6)
    expected = sum(float(LIVER_DAMAGE.rate_per_s(np.asarray(t))) * (b - a)
                   for t, a, b in zip(temps, times[:-1], times[1:], strict=True))
    assert res.damage[centre] == pytest.approx(expected, rel=1e-3)
    assert expected > 1  # 62 C for 10 s: coagulated, so the test exercises Omega >= 1
    assert res.regions["liver"].damage_volume_cm3 > 0


def test_gaussian_pulse_diffuses_like_the_heat_kernel() -> None:
    """One pulse deposits a Gaussian; after t it is the Gaussian of variance s0^2 + 2 alpha t.

    Reference: the free-space heat-kernel solution
    theta(r, t) = theta0 (s0^2 / (s0^2 + 2 alpha t))^(3/2) exp(-r^2 / (2 (s0^2 + 2 alpha t))),
    valid while the box faces (15 mm away, theta = 0) see nothing (theta there < 1e-6 theta0).
    """
    h = 0.5e-3
    grid = _grid(48, h)
    x, y, z = grid.centres_m()
    r2 = x**2 + y**2 + z**2
    s0 = 2e-3
    theta0 = 10.0
    q = theta0 * RHO_C / 90e-6 * np.exp(-r2 / (2 * s0**2))
    t_end = 20.0
    sched = PulseSchedule(pulses_per_pair=1, cooldown_s=t_end)
    res = simulate_heating(grid, np.zeros(grid.shape, dtype=np.int8), ("liver",), [q], sched,
                           tissues={"liver": NO_PERFUSION}, max_step_s=0.25)
    var = s0**2 + 2 * ALPHA * t_end
    exact = theta0 * (s0**2 / var) ** 1.5 * np.exp(-r2 / (2 * var))
    got = res.final_temperature_C - BODY_TEMPERATURE_C
    # backward Euler (first order, dt = 0.25 s) and the 0.5 mm grid (s0 = 4 h): 2 % of the peak
    tol = 0.02 * exact.max()
    assert np.max(np.abs(got - exact)) < tol
    assert exact.max() < 0.4 * theta0  # the pulse really spread: the test can fail


def test_vessel_exchange_pulls_blood_back_to_body_temperature() -> None:
    """Blood voxels (fast exchange) end near 37 C while static tissue keeps its heat."""
    grid = _grid(20, 1e-3)
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[:10] = 1  # half the block is blood
    q = np.full(grid.shape, 2.0 * RHO_C / 90e-6)
    sched = PulseSchedule(pulses_per_pair=3, cooldown_s=5.0)
    res = simulate_heating(grid, labels, ("liver", "blood"), [q], sched,
                           tissues={"liver": NO_PERFUSION})
    assert res.final_temperature_C[3, 10, 10] < BODY_TEMPERATURE_C + 0.05
    assert res.final_temperature_C[16, 10, 10] > BODY_TEMPERATURE_C + 5.0
    assert res.regions["blood"].damage_volume_cm3 == 0.0


def test_schedule_timing() -> None:
    """Trains of 10 at one pulse per beat, train and pair pauses, pullback pause."""
    s = PulseSchedule(pulses_per_pair=20, pulses_per_train=10, heart_rate_bpm=60,
                      train_pause_s=3, pair_pause_s=5, reposition_pause_s=60)
    ev = s.events(3, position_starts=[2])
    assert len(ev) == 60
    assert ev[9].time_s == pytest.approx(9.0)
    assert ev[10].time_s == pytest.approx(13.0)  # 9 + 1 beat + 3 s train pause
    assert ev[20].time_s == pytest.approx(ev[19].time_s + 1 + 5)
    assert ev[40].time_s == pytest.approx(ev[39].time_s + 1 + 60)
    assert ev[40].pair == 2


def test_test_pulses_come_first_and_heat_like_the_others() -> None:
    """The generator's test pulses precede a pair's treatment pulses in the same trains: 10 test
    + 15 treatment pulses are 25 pulses in trains of 10 (two train pauses), and the planner's
    default schedule has the generator's 10."""
    s = PulseSchedule(pulses_per_pair=15, test_pulses=10, pulses_per_train=10,
                      heart_rate_bpm=60, train_pause_s=3, pair_pause_s=5)
    ev = s.events(2)
    assert s.pulses_delivered == 25 and len(ev) == 50
    assert ev[24].time_s == pytest.approx(24 + 2 * 3)
    assert ev[25].pair == 1 and ev[25].time_s == pytest.approx(ev[24].time_s + 1 + 5)
    assert PlanOptions().schedule.test_pulses == GeneratorConfig().test_pulses == 10
    with pytest.raises(ValueError):
        PulseSchedule(test_pulses=-1)


def test_no_damage_accrues_below_the_onset() -> None:
    """The coagulation rate is 0 below 43 C (the thermal-dose breakpoint) and the fitted
    Arrhenius rate from 43 C on; an exposure below the onset never damages."""
    onset = LIVER_DAMAGE.onset_C
    assert onset == 43.0
    rates = LIVER_DAMAGE.rate_per_s(np.array([BODY_TEMPERATURE_C, onset - 1e-9, onset, 50.0]))
    assert rates[0] == 0.0 and rates[1] == 0.0
    assert 0.0 < rates[2] < rates[3]
    assert LIVER_DAMAGE.time_to_damage_s(onset - 1.0) == float("inf")
    assert LIVER_DAMAGE.time_to_damage_s(50.0) == pytest.approx(61.0, rel=0.05)


def _columns_beside_a_vessel_and_a_duct():
    """Two pairs of Gaussian heating columns beside a vessel and a duct, two placements, on a
    box that is not a cube (each axis's line solve is exercised with its own length)."""
    grid = Grid.centred((0.024, 0.020, 0.016), 1e-3)
    x, y, z = np.broadcast_arrays(*grid.centres_m())
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[(np.abs(y - 0.005) < 1.5e-3) & (np.abs(z) < 1.5e-3)] = 1
    labels[np.abs(x - 0.008) < 1e-3] = 2
    power = [1e11 * np.exp(-((x - cx) ** 2 + y ** 2) / (2 * 1.5e-3**2))
             for cx in (-0.004, 0.002)]
    sched = PulseSchedule(pulses_per_pair=20, test_pulses=10, heart_rate_bpm=70,
                          reposition_pause_s=7.0, cooldown_s=12.0)
    return grid, labels, ("liver", "blood", "bile"), power * 2, sched


def test_the_compiled_steps_give_the_numpy_steps_numbers() -> None:
    """Heating columns beside a vessel and a duct: the compiled kernels (numba) give the NumPy
    form's temperatures bit for bit (same operations in the same order) and its damage to
    rounding (the exponential is the compiler's), so the same voxels are damaged."""
    pytest.importorskip("numba")
    grid, labels, names, power, sched = _columns_beside_a_vessel_and_a_duct()
    runs = [simulate_heating(grid, labels, names, power, sched, position_starts=[2],
                             compiled=compiled)
            for compiled in (True, False)]
    assert runs[0].regions["liver"].damage_volume_cm3 > 0  # the comparison covers damage
    assert np.array_equal(runs[0].peak_temperature_C, runs[1].peak_temperature_C)
    assert np.array_equal(runs[0].final_temperature_C, runs[1].final_temperature_C)
    np.testing.assert_allclose(runs[0].damage, runs[1].damage, rtol=1e-12, atol=0)
    assert np.array_equal(runs[0].damaged, runs[1].damaged)


def test_the_two_threaded_time_loop_gives_the_one_threaded_numbers() -> None:
    """The temperature thread runs ahead of the damage thread through a ring of states; every
    voxel gets the same operations in the same order, so peak, final temperature and damage
    are equal bit for bit to the loop run state by state on one thread, also when a damage
    bound stops it (the stop is taken where the single loop takes it)."""
    pytest.importorskip("numba")
    grid, labels, names, power, sched = _columns_beside_a_vessel_and_a_duct()
    for stop in (None, DamageBound(("liver",), 5.0)):
        runs = [simulate_heating(grid, labels, names, power, sched, position_starts=[2],
                                 stop=stop, threaded=threaded)
                for threaded in (True, False)]
        assert (runs[0].stopped_at_s is None) == (stop is None)
        assert runs[0].stopped_at_s == runs[1].stopped_at_s
        assert runs[0].steps == runs[1].steps
        for field in ("peak_temperature_C", "final_temperature_C", "damage"):
            assert np.array_equal(getattr(runs[0], field), getattr(runs[1], field))


@pytest.mark.parametrize("compiled", [True, False])
def test_a_damage_bound_stops_the_simulation_at_a_lower_bound_of_the_damage(compiled) -> None:
    """Omega never decreases, so the damaged volume when a bound stops the simulation is at
    most the complete simulation's: stopped at half of the liver's complete damaged volume, the
    result says when it stopped (before the end), its damaged volume has reached the bound, and
    every voxel's Omega and peak temperature are at most the complete run's. A bound above the
    complete volume never stops it, and then the result is the unbounded one's."""
    if compiled:
        pytest.importorskip("numba")
    grid, labels, names, power, sched = _columns_beside_a_vessel_and_a_duct()

    def run(stop=None):
        return simulate_heating(grid, labels, names, power, sched, position_starts=[2],
                                compiled=compiled, stop=stop)

    def liver_mm3(result):
        return damaged_volume_mm3(("liver",), {n: r.damage_volume_cm3
                                               for n, r in result.regions.items()})

    complete = run()
    assert complete.stopped_at_s is None
    full_mm3 = liver_mm3(complete)
    assert full_mm3 > 0
    stopped = run(DamageBound(("liver",), full_mm3 / 2))
    assert stopped.stopped_at_s is not None and stopped.stopped_at_s < complete.duration_s
    assert stopped.steps < complete.steps
    assert full_mm3 / 2 <= liver_mm3(stopped) <= full_mm3
    assert np.all(stopped.damage <= complete.damage)
    assert np.all(stopped.peak_temperature_C <= complete.peak_temperature_C)
    unreached = run(DamageBound(("liver", "bile"), full_mm3 * 2))
    assert unreached.stopped_at_s is None
    assert np.array_equal(unreached.damage, complete.damage)
    with pytest.raises(ValueError):
        DamageBound(("liver",), 0.0)

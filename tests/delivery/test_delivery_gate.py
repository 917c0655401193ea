"""The gate's rules at their boundaries. Every boundary is allowed (inclusive), as documented in
irelab.delivery.gate; one sample past it is refused. fs = 1000 Hz so that 1 sample = 1 ms."""

from __future__ import annotations

import pytest

from irelab.delivery import GateConfig, PulseGate, SkipReason
from irelab.ecg import Beat

FS = 1000.0
LATENCY_MS = 20  # well inside the latency limit of 45 ms


def beat(sample: int, latency: int = LATENCY_MS, searchback: bool = False) -> Beat:
    return Beat(sample, sample + latency, FS, searchback)


def learned_gate(rr: int = 1000, config: GateConfig | None = None) -> tuple[PulseGate, int]:
    """A gate that has learned a steady RR (ms); returns it and the last R sample."""
    gate = PulseGate(config)
    r = 0
    decisions = []
    for _ in range(gate.config.learn_beats + 1):
        r += rr
        decisions.append(gate.decide(beat(r)))
    assert all(d.reason == SkipReason.LEARNING for d in decisions)
    return gate, r


def test_steady_rhythm_pulses_at_r_plus_delay() -> None:
    gate, r = learned_gate()
    d = gate.decide(beat(r + 1000))
    assert d.allowed
    assert d.pulse_time_s == pytest.approx((r + 1000) / FS + 0.050, abs=1e-12)


def test_learning_needs_learn_beats_consistent_intervals() -> None:
    """The first beat has no RR; then learn_beats RR intervals are learned before a pulse."""
    gate = PulseGate()
    n = gate.config.learn_beats
    reasons = [gate.decide(beat(1000 * k)).reason for k in range(1, n + 3)]
    assert reasons[: n + 1] == [SkipReason.LEARNING] * (n + 1)
    assert reasons[n + 1] is None


@pytest.mark.parametrize(("latency", "allowed"), [(45, True), (46, False)])
def test_latency_boundary(latency: int, allowed: bool) -> None:
    """delay 50 ms - margin 5 ms = 45 ms: detection exactly 45 ms after R is allowed."""
    gate, r = learned_gate()
    d = gate.decide(beat(r + 1000, latency=latency))
    assert d.allowed is allowed
    assert allowed or d.reason == SkipReason.LATE


@pytest.mark.parametrize(("rr", "allowed"), [(400, True), (399, False)])
def test_rate_boundary(rr: int, allowed: bool) -> None:
    """RR exactly 400 ms (150/min) is allowed, 399 ms is tachycardia. The guard learned 440 ms
    so that the prematurity rule (10 %) is not what decides (400 and 399 are 9.1 and 9.3 %
    early)."""
    gate, r = learned_gate(rr=440)
    d = gate.decide(beat(r + rr))
    assert d.allowed is allowed
    assert allowed or d.reason == SkipReason.RATE


@pytest.mark.parametrize(("rr", "allowed"),
                         [(1200, True), (1201, False), (900, True), (899, False)])
def test_deviation_boundary(rr: int, allowed: bool) -> None:
    """Median 1000 ms: exactly 20 % late (1200 ms) or 10 % early (900 ms, the prematurity
    limit) is allowed, one ms more is not."""
    gate, r = learned_gate(rr=1000)
    d = gate.decide(beat(r + rr))
    assert d.median_rr_ms == 1000.0
    assert d.allowed is allowed
    assert allowed or d.reason == SkipReason.IRREGULAR


@pytest.mark.parametrize(("window_end", "allowed"), [(50.09, True), (50.089, False)])
def test_safe_window_boundary(window_end: float, allowed: bool) -> None:
    """A 90 us pulse at R + 50 ms ends at R + 50.09 ms: allowed iff it ends by the window end."""
    gate, r = learned_gate(config=GateConfig(safe_window_end_ms=window_end))
    d = gate.decide(beat(r + 1000))
    assert d.allowed is allowed
    assert allowed or d.reason == SkipReason.WINDOW


@pytest.mark.parametrize(("gap_ms", "held"), [(2000, True), (2001, False)])
def test_fibrillation_alarm_boundary(gap_ms: int, held: bool) -> None:
    """A flutter/fibrillation alarm sample exactly recovery_ms (2000 ms) before R holds with
    reason 'fibrillation' and resets the rhythm; 2001 ms before does not hold, but the guard,
    reset by the alarm's first hold, must then re-learn."""
    gate, r = learned_gate()
    r += 1000
    d = gate.decide(beat(r), last_fibrillation_sample=r - gap_ms)
    if held:
        assert d.reason == SkipReason.FIBRILLATION
        assert gate.learning_count == 0
    else:
        assert d.allowed


@pytest.mark.parametrize(("ratio", "allowed"), [(0.08, True), (0.0801, False)])
def test_noise_ratio_boundary(ratio: float, allowed: bool) -> None:
    """The detector's NPK/SPK exactly at max_noise_ratio (0.08) is allowed; above it the beat
    is skipped for noise and the rhythm must be re-learned."""
    gate, r = learned_gate()
    d = gate.decide(Beat(r + 1000, r + 1000 + LATENCY_MS, FS, noise_ratio=ratio))
    assert d.allowed is allowed
    if not allowed:
        assert d.reason == SkipReason.NOISE and gate.learning_count == 0


def test_fibrillation_outranks_quality_and_rhythm() -> None:
    """During an alarm the reason is 'fibrillation' even when the signal was also bad and the
    RR irregular: the log says why first."""
    gate, r = learned_gate()
    d = gate.decide(beat(r + 300), last_bad_sample=r, last_fibrillation_sample=r + 250)
    assert d.reason == SkipReason.FIBRILLATION


def test_ectopic_beat_and_compensatory_pause_are_skipped() -> None:
    """A premature beat (RR 600 ms) and its pause (1400 ms) both skip; so does the next normal
    beat, whose interval starts at the irregular one, and the one after it, whose previous beat
    followed an irregular one (verified_beats = 2); the next pulses again. With
    verified_beats = 1 the pulse comes one beat earlier."""
    gate, r = learned_gate()
    reasons = [gate.decide(beat(r + t)).reason for t in (600, 2000, 3000, 4000, 5000)]
    assert reasons == [SkipReason.IRREGULAR] * 4 + [None]
    gate, r = learned_gate(config=GateConfig(verified_beats=1))
    reasons = [gate.decide(beat(r + t)).reason for t in (600, 2000, 3000, 4000)]
    assert reasons == [SkipReason.IRREGULAR] * 3 + [None]


def test_beat_after_a_template_like_late_beat_is_held() -> None:
    """An irregular beat, then a beat whose interval and shape pass (a late-coupled
    ventricular beat that matches the template in one lead), then a normal beat: the normal
    beat is held, because the beat before it followed an irregular one."""
    gate, r = learned_gate()
    first = gate.decide(beat(r + 700), similarity=0.99)  # premature
    late = gate.decide(beat(r + 1700), similarity=0.95)  # RR 1000: passes, follows one
    after = gate.decide(beat(r + 2700), similarity=0.99)
    assert [first.reason, late.reason, after.reason] == [SkipReason.IRREGULAR] * 3
    assert gate.decide(beat(r + 3700), similarity=0.99).allowed


@pytest.mark.parametrize(("before_ms", "paced"), [(150, True), (151, False), (-30, True)])
def test_pace_spike_boundary(before_ms: int, paced: bool) -> None:
    """A pacemaker spike up to pace_lookback_ms (150 ms) before the R estimate, or after it
    (up to the decision), makes the beat paced: no pulse; 151 ms before does not. A paced beat
    does not reset the learned rhythm, but the next beat follows it as it would an ectopic
    beat (held), and the one after that too (verified_beats)."""
    gate, r = learned_gate()
    d = gate.decide(beat(r + 1000), last_pace_sample=r + 1000 - before_ms)
    assert (d.reason == SkipReason.PACED) is paced
    assert d.allowed is not paced
    if paced:
        reasons = [gate.decide(beat(r + 1000 * k)).reason for k in (2, 3, 4)]
        assert reasons == [SkipReason.IRREGULAR, SkipReason.IRREGULAR, None]


def test_bigeminy_interval_matching_the_median_is_still_held() -> None:
    """N-V-N-V with the V-to-N interval equal to the learned median: the N beats follow an
    irregular beat, so nothing pulses."""
    gate, r = learned_gate(rr=1000)
    reasons = []
    for _ in range(10):
        r += 500
        reasons.append(gate.decide(beat(r)).reason)  # V: premature
        r += 1000
        reasons.append(gate.decide(beat(r)).reason)  # N: RR 1000 = median, after a V
    assert None not in reasons


def test_sustained_new_rate_relearns() -> None:
    """After relearn_after irregular beats in a row the guard re-learns the new rate."""
    gate, r = learned_gate(rr=1000)
    n = gate.config.relearn_after
    reasons = []
    for _ in range(n + gate.config.learn_beats + 2):
        r += 600
        reasons.append(gate.decide(beat(r)).reason)
    assert reasons[:n] == [SkipReason.IRREGULAR] * n
    # the first beat after the reset only starts the run; then learn_beats intervals
    assert reasons[n:-1] == [SkipReason.LEARNING] * (gate.config.learn_beats + 1)
    assert reasons[-1] is None


def test_quality_hold_boundary_and_relearning() -> None:
    """A bad sample exactly recovery_ms (2000 ms) before R holds; 2001 ms before does not
    hold, but the guard had been reset and must re-learn."""
    gate, r = learned_gate()
    r += 1000
    d = gate.decide(beat(r), last_bad_sample=r - 2000)
    assert d.reason == SkipReason.QUALITY_HOLD
    reasons = []
    for _ in range(gate.config.learn_beats + 2):
        r += 1000
        reasons.append(gate.decide(beat(r), last_bad_sample=r - 2001 - 1000).reason)
    assert reasons[: gate.config.learn_beats] == [SkipReason.LEARNING] * gate.config.learn_beats
    assert reasons[-1] is None


def test_searchback_beats_never_pulse() -> None:
    """A search-back beat is refused even when reported inside the latency limit, and the
    beat after it gets no pulse either (its interval starts at a beat known only late);
    pulses resume once ``verified_beats`` beats have passed again (the third beat after)."""
    gate, r = learned_gate()
    assert gate.decide(beat(r + 1000, searchback=True)).reason == SkipReason.SEARCHBACK
    assert gate.decide(beat(r + 2000)).reason == SkipReason.IRREGULAR
    reasons = [gate.decide(beat(r + 1000 * k)).reason for k in (3, 4)]
    assert reasons == [SkipReason.IRREGULAR, None]


def test_learning_restarts_on_inconsistent_interval() -> None:
    """Bigeminy (alternating 600/1400 ms) never completes learning."""
    gate = PulseGate()
    r = 0
    for k in range(40):
        r += 600 if k % 2 else 1400
        assert not gate.decide(beat(r)).allowed


def test_learned_property_follows_learning_and_reset() -> None:
    """``learned`` is what the session reads to treat a beat without a QRS template as
    differently shaped (fail closed): false until learn_beats intervals, false after a reset."""
    gate = PulseGate()
    assert not gate.learned
    gate, _ = learned_gate()
    assert gate.learned
    gate.reset_rhythm()
    assert not gate.learned

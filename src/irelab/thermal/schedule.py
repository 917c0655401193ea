"""The pulse delivery schedule: when each pulse of each electrode pair is delivered.

Clinical IRE of the liver (NanoKnife) delivers, per electrode pair, 70-100 pulses of 70-90 us,
synchronised to the ECG (one pulse in the refractory period of each heartbeat), in trains of 10
pulses; the generator pauses between trains and between pairs, and a pullback repositions all
probes before the pair protocol is repeated (Scheffer HJ et al., Irreversible electroporation for
nonthermal tumor ablation in the clinical setting: a systematic review of safety and efficacy,
J Vasc Interv Radiol 25(7):997-1011, 2014, summarises these protocols). The exact pauses vary
by generator, operator and patient, so they are parameters here, with defaults stated below
(assumptions, chosen on the long-heating side: a short pause heats more).

Time runs on a beat clock: pulses fall on consecutive heartbeats, ``60 / heart_rate_bpm``
seconds apart; pauses are whole numbers of seconds added between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PulseSchedule", "PulseEvent"]


@dataclass(frozen=True)
class PulseEvent:
    """One pulse: its time (s from the start) and the index of its pair in delivery order."""

    time_s: float
    pair: int


@dataclass(frozen=True)
class PulseSchedule:
    """Pulse width and timing of a delivered protocol (all pairs share these settings).

    pulses_per_pair: pulses delivered to each pair (case protocol ``pulses``; 90 is typical).
    test_pulses: pulses at the pair's full voltage before them (the generator's current check;
        the planner sets the generator's 10, :class:`irelab.delivery.GeneratorConfig`): they heat
        like the others.
    pulse_width_us: width of one pulse (case protocol ``pulse_width_us``; 90 us typical).
    pulses_per_train: ECG-synchronised pulses per train (10 on NanoKnife).
    heart_rate_bpm: heart rate; one pulse per beat (assumed 70 bpm by default).
    train_pause_s: pause between trains of the same pair (assumed 3 s: capacitor recharge).
    pair_pause_s: pause between consecutive pairs (assumed 5 s).
    reposition_pause_s: pause before the first pair of a new pullback position (assumed 60 s,
        the time to pull the probes back and check them on imaging).
    cooldown_s: simulated time after the last pulse (damage keeps accruing while tissue cools).
    """

    pulses_per_pair: int = 90
    pulse_width_us: float = 90.0
    test_pulses: int = 0
    pulses_per_train: int = 10
    heart_rate_bpm: float = 70.0
    train_pause_s: float = 3.0
    pair_pause_s: float = 5.0
    reposition_pause_s: float = 60.0
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if self.pulses_per_pair < 1 or self.pulses_per_train < 1 or self.test_pulses < 0:
            raise ValueError("pulse counts must be positive (test pulses non-negative)")
        if not (self.pulse_width_us > 0 and self.heart_rate_bpm > 0):
            raise ValueError("pulse width and heart rate must be positive")
        if min(self.train_pause_s, self.pair_pause_s, self.reposition_pause_s,
               self.cooldown_s) < 0:
            raise ValueError("pauses must be non-negative")

    @property
    def pulses_delivered(self) -> int:
        """Pulses each pair receives: the test pulses and the treatment pulses."""
        return self.test_pulses + self.pulses_per_pair

    @property
    def beat_interval_s(self) -> float:
        return 60.0 / self.heart_rate_bpm

    @property
    def pulse_width_s(self) -> float:
        return self.pulse_width_us * 1e-6

    def events(self, n_pairs: int, position_starts: Sequence[int] = ()) -> list[PulseEvent]:
        """Every pulse of ``n_pairs`` pairs delivered in order.

        ``position_starts`` lists pair indices that start a new pullback position (they are
        preceded by ``reposition_pause_s`` instead of ``pair_pause_s``).
        """
        starts = set(position_starts)
        beat = self.beat_interval_s
        index = np.arange(self.pulses_delivered)
        # within a pair: one pulse per beat, plus a train pause after every full train
        within = index * beat + (index // self.pulses_per_train) * self.train_pause_s
        events: list[PulseEvent] = []
        t0 = 0.0
        for p in range(n_pairs):
            if p > 0:
                t0 += self.reposition_pause_s if p in starts else self.pair_pause_s
            events.extend(PulseEvent(float(t0 + t), p) for t in within)
            t0 += float(within[-1]) + beat
        return events

    def duration_s(self, n_pairs: int, position_starts: Sequence[int] = ()) -> float:
        """Time of the last pulse plus the cool-down."""
        ev = self.events(n_pairs, position_starts)
        return (ev[-1].time_s if ev else 0.0) + self.cooldown_s

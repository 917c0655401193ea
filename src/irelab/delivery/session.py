"""A delivery run: the ECG streamed in chunks through the quality monitor, the R-wave detector,
the gate and the generator, every event logged. The clock is the sample index (no sleeping).

Order of work inside a chunk (so the result does not depend on the chunking): quality flags and
beats are handled in sample order (a flag at its sample, a beat at its decision sample: when it
was detected, or later when the QRS morphology window reaches further, R + 35 ms by default;
beats whose decision sample lies in a later chunk wait for it); a beat's gate decision sees the
quality of the signal up to its decision sample. The latency rule applies to the decision.
A pulse allowed by the gate is fired at its time (R + delay) if the generator is delivering
then; the generator's recharge pause ends at a time, not at a beat.

Without ECG (:func:`run_unsynchronised`) the run refuses unless forced, and then logs every pulse
with ``synchronised: false``.

With a pre-arm :class:`~irelab.delivery.Checklist` the generator arms only when
:func:`~irelab.delivery.arming_refusal` finds nothing missing (each confirmation is logged as a
``check`` event); the train-of-four counts entered during delivery are applied in time order
before the next pulse or pause: a count above 0 pauses the generator (a ``pause`` event,
reason ``neuromuscular_block``) and only a later count of 0 lets it resume. Without a
checklist (bench runs of the gate; ``irelab deliver`` always has one) nothing is checked.
Moving to the next placement of the probe array is logged as a ``reposition`` event.

One module (just over 400 lines): the order of work inside a chunk is the safety argument and
reads as one sequence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from irelab.delivery.checklist import BLOCK_LOST, Checklist, TofEntry, arming_refusal
from irelab.delivery.gate import GateConfig, GateDecision, PulseGate, SkipReason
from irelab.delivery.generator import (
    CurrentModel,
    DeliveryPlan,
    GeneratorConfig,
    GeneratorState,
    GeneratorStateMachine,
    PairProtocol,
    suggested_voltage_V,
)
from irelab.delivery.log import DeliveryEvent, DeliverySummary, EventLog, EventType
from irelab.delivery.morphology import MorphologyConfig, MorphologyGuard
from irelab.ecg import Beat, StreamingRDetector
from irelab.ecg.fibrillation import FibrillationConfig, FibrillationDetector
from irelab.ecg.pacing import PaceConfig, PaceDetector
from irelab.ecg.quality import QualityConfig, QualityFlag, SignalQualityMonitor
from irelab.errors import InputError


class DeliveryOutcome(StrEnum):
    """How a run ended."""

    COMPLETE = "complete"
    """Every pair got all its pulses."""
    PAIRS_ABORTED = "pairs_aborted"
    """The protocol ran to its end but at least one pair was aborted (current limit)."""
    TRUNCATED = "truncated"
    """The ECG ended before the protocol was complete."""


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome, the stop reason (a sentence), the summary and the events of a run."""

    outcome: DeliveryOutcome
    reason: str
    summary: DeliverySummary
    events: tuple[DeliveryEvent, ...]
    final_state: GeneratorState


class _Run:
    """The generator walking through the plan; pulses are requested at times in seconds."""

    def __init__(self, plan: DeliveryPlan, config: GeneratorConfig, log: EventLog,
                 synchronised: bool, checklist: Checklist | None = None) -> None:
        plan.validate(config)
        if checklist is not None and (refusal := arming_refusal(checklist)) is not None:
            raise refusal
        self.plan, self.config, self.log, self.synchronised = plan, config, log, synchronised
        self.checklist = checklist
        self.counts = list(checklist.tof) if checklist is not None else []  # not yet entered
        self.block_lost: TofEntry | None = None  # the count that paused delivery
        self.resume_note: str | None = None
        self.machine = GeneratorStateMachine()
        self.pair_index = 0
        self.pulse_in_pair = 0  # pulses delivered to the current pair (test + treatment)
        self.ready_at_s = 0.0
        self.aborted_pairs: list[str] = []
        self.held_for: list[QualityFlag] = []  # quality flags since delivery was last paused

    # -- state -------------------------------------------------------------------------------
    def go(self, target: GeneratorState, t_s: float, reason: str) -> None:
        self.machine.transition(target)
        pair = self.pair if self.pair_index < len(self.plan.pairs) else None
        self.log.emit(DeliveryEvent(t_s * 1e3, EventType.STATE, state=str(target),
                                    reason=reason, **_pair_fields(pair)))

    @property
    def pair(self) -> PairProtocol:
        return self.plan.pairs[self.pair_index]

    @property
    def done(self) -> bool:
        return self.machine.state == GeneratorState.COMPLETE

    @property
    def pulses_per_pair(self) -> int:
        return self.config.test_pulses + self.plan.pulses

    def start(self, t_s: float) -> None:
        for c in self.checklist.confirmations if self.checklist is not None else ():
            tof = "" if c.tof_count is None else f", train-of-four count {c.tof_count}"
            self.log.emit(DeliveryEvent(
                t_s * 1e3, EventType.CHECK, item=str(c.item), confirmed_by=c.confirmed_by,
                confirmed_at=c.time.isoformat(), tof_count=c.tof_count,
                detail=f"{c.item.label} confirmed by {c.confirmed_by}{tof}"
                       + (f" ({c.note})" if c.note else "")))
        self.go(GeneratorState.ARMED, t_s, "pre-arm checks confirmed; plan checked; armed"
                if self.checklist is not None else "plan checked; armed")
        self._charge(t_s, "pair start")

    def _charge(self, t_s: float, reason: str, wait_s: float | None = None) -> None:
        """Charge for the next train: ready after ``wait_s`` (default: the pause before a
        train)."""
        self.go(GeneratorState.CHARGING, t_s, reason)
        self.ready_at_s = t_s + (self.plan.recharge_s(self.config) if wait_s is None
                                 else wait_s)

    def _advance(self, t_s: float) -> None:
        if self.machine.state == GeneratorState.CHARGING and t_s >= self.ready_at_s:
            self.go(GeneratorState.DELIVERING, self.ready_at_s, "charged")

    # -- events ------------------------------------------------------------------------------
    def pause(self, flag: QualityFlag, t_s: float) -> None:
        self.enter_counts(t_s)
        if self.machine.state != GeneratorState.PAUSED:
            self.held_for = []
        self.held_for.append(flag)
        if self.machine.can(GeneratorState.PAUSED):
            self.log.emit(DeliveryEvent(t_s * 1e3, EventType.PAUSE, reason=str(flag.reason),
                                        detail=flag.detail, **_pair_fields(_current_pair(self))))
            self.go(GeneratorState.PAUSED, t_s, f"quality: {flag.reason}")

    def enter_counts(self, t_s: float) -> None:
        """Apply the train-of-four counts entered up to ``t_s``, in time order: a count above 0
        pauses the generator; it stays paused until a count of 0 (module docstring)."""
        while self.counts and self.counts[0].at_s <= t_s and not self.done:
            entry = self.counts.pop(0)
            t = entry.at_s
            self.log.emit(DeliveryEvent(
                t * 1e3, EventType.TOF, tof_count=entry.count, confirmed_by=entry.entered_by,
                confirmed_at=entry.time.isoformat(),
                detail=f"train-of-four count {entry.count} entered by {entry.entered_by}"))
            if entry.count > 0 and self.block_lost is None:
                self.block_lost = entry
                text = (f"neuromuscular block lost: train-of-four count {entry.count} entered "
                        f"by {entry.entered_by}")
                self.log.emit(DeliveryEvent(t * 1e3, EventType.PAUSE,
                                            reason=BLOCK_LOST, detail=text,
                                            **_pair_fields(_current_pair(self))))
                if self.machine.can(GeneratorState.PAUSED):
                    self.go(GeneratorState.PAUSED, t, text)
            elif entry.count == 0 and self.block_lost is not None:
                self.block_lost = None
                self.resume_note = (f"neuromuscular block restored (train-of-four count 0 "
                                    f"entered by {entry.entered_by})")

    @property
    def stalled(self) -> bool:
        """Paused for a lost block with no count of 0 still to come."""
        return self.block_lost is not None and not any(e.count == 0 for e in self.counts)

    def try_pulse(self, t_s: float, beat_sample: int | None) -> SkipReason | None:
        """Fire one pulse at ``t_s`` if the generator can; otherwise the skip reason."""
        self.enter_counts(t_s)
        if self.block_lost is not None:
            return SkipReason.NOT_READY
        if self.machine.state == GeneratorState.PAUSED:
            note, self.resume_note = self.resume_note, None
            self._charge(t_s, f"{note}: resume" if note else
                         "signal recovered, rhythm re-learned: resume")
        self._advance(t_s)
        if self.machine.state != GeneratorState.DELIVERING:
            return SkipReason.NOT_READY
        pair = self.pair
        model = CurrentModel(pair.predicted_current_A, self.config.current_rise_fraction,
                             self.config.current_rise_pulses)
        self.pulse_in_pair += 1
        n = self.pulse_in_pair
        current = model.current_A(n)
        width_s = self.plan.pulse_width_us * 1e-6
        phase = "test" if n <= self.config.test_pulses else "treatment"
        self.log.emit(DeliveryEvent(
            t_s * 1e3, EventType.PULSE, **_pair_fields(pair), voltage_V=pair.voltage_V,
            current_A=round(current, 4), energy_J=pair.voltage_V * current * width_s,
            beat_sample=beat_sample, phase=phase, synchronised=self.synchronised))
        if current > self.config.current_limit_A:
            self._abort_pair(t_s, current, model)
        elif n == self.pulses_per_pair:
            self._next_pair(t_s)
        elif n % self.config.train_pulses == 0 or n == self.config.test_pulses:
            self._charge(t_s, "train done: recharge")
        return None

    def _abort_pair(self, t_s: float, current: float, model: CurrentModel) -> None:
        pair = self.pair
        volts = suggested_voltage_V(pair, model, self.config)
        text = (f"pair {pair.label}: current {current:.1f} A exceeds the "
                f"{self.config.current_limit_A:g} A limit at pulse {self.pulse_in_pair}; "
                f"lower the voltage from {pair.voltage_V:g} V to at most {volts:g} V")
        self.log.emit(DeliveryEvent(t_s * 1e3, EventType.ABORT, **_pair_fields(pair),
                                    voltage_V=pair.voltage_V, current_A=round(current, 4),
                                    reason="current_limit", detail=text))
        self.aborted_pairs.append(text)
        self.go(GeneratorState.ABORTED, t_s, "current_limit")
        self.go(GeneratorState.IDLE, t_s, "abort acknowledged")
        self.go(GeneratorState.ARMED, t_s, "next pair")
        self._next_pair(t_s, from_armed=True)

    def _next_pair(self, t_s: float, from_armed: bool = False) -> None:
        self.pair_index += 1
        self.pulse_in_pair = 0
        if self.pair_index == len(self.plan.pairs):
            self.go(GeneratorState.COMPLETE, t_s, "protocol complete")
            return
        if not from_armed:
            self.go(GeneratorState.ARMED, t_s, "pair complete")
        placement = self.pair.position
        if placement != self.plan.pairs[self.pair_index - 1].position:
            moves = self.plan.moves
            self.log.emit(DeliveryEvent(
                t_s * 1e3, EventType.REPOSITION, reason="next placement", **_pair_fields(self.pair),
                detail=f"placement {placement + 1}"
                       + (f": {moves[placement]}" if placement < len(moves) else "")))
        self._charge(t_s, "pair start", self.plan.pair_start_s(self.config))

    def finish(self, t_s: float, stream_reason: str) -> tuple[DeliveryOutcome, str]:
        self.enter_counts(t_s)
        if self.done:
            if self.aborted_pairs:
                return DeliveryOutcome.PAIRS_ABORTED, "; ".join(self.aborted_pairs)
            return DeliveryOutcome.COMPLETE, "all pulses delivered"
        reason = stream_reason
        if self.block_lost is not None:
            lost = self.block_lost
            reason += (f" while delivery was paused: neuromuscular block lost (train-of-four "
                       f"count {lost.count} entered at {lost.at_s:.1f} s by {lost.entered_by}) "
                       "and no count of 0 entered since")
        elif self.held_for and self.machine.state == GeneratorState.PAUSED:
            reason += " while delivery was held for " + "; ".join(
                f"{flag.reason}: {flag.detail}" for flag in self.held_for)
        self.log.emit(DeliveryEvent(t_s * 1e3, EventType.ABORT, reason="truncated",
                                    detail=reason))
        self.go(GeneratorState.ABORTED, t_s, "truncated")
        return DeliveryOutcome.TRUNCATED, reason


def _result(run: _Run, log: EventLog, outcome: DeliveryOutcome, reason: str) -> DeliveryResult:
    return DeliveryResult(outcome, reason, log.summary(), tuple(log.events), run.machine.state)


def run_synchronised(plan: DeliveryPlan, signal_mV: np.ndarray, fs_Hz: float,
                     *, chunk_samples: int = 256, gate: GateConfig | None = None,
                     generator: GeneratorConfig | None = None,
                     quality: QualityConfig | None = None,
                     morphology: MorphologyConfig | None = None,
                     fibrillation: FibrillationConfig | None = None,
                     pacing: PaceConfig | None = None,
                     log: EventLog | None = None,
                     checklist: Checklist | None = None) -> DeliveryResult:
    """Deliver ``plan`` synchronised to the ECG ``signal_mV``, streamed in ``chunk_samples``.

    ``signal_mV``: one lead, shape (n,), or several, shape (n, leads). The first lead feeds the
    R detector, the quality monitor, the pacemaker spike detector and the flutter/fibrillation
    alarm; the QRS morphology guard compares all leads at once.

    Stops as soon as the protocol is complete; if the ECG ends first the run is ``truncated``.
    With ``checklist``, arming is refused (InputError naming the item) unless every pre-arm
    check is confirmed, and its train-of-four counts pause and resume delivery.
    A ventricular flutter/fibrillation alarm pauses delivery like a quality flag (logged as a
    ``quality`` event with reason ``ventricular_fibrillation`` and its measurements), and the
    gate skips the beats around it with reason ``fibrillation``.
    """
    if chunk_samples < 1:
        raise ValueError("chunk_samples must be >= 1")
    log = log or EventLog()
    generator = generator or GeneratorConfig()
    run = _Run(plan, generator, log, synchronised=True, checklist=checklist)
    pulse_gate = PulseGate(gate, pulse_duration_s=plan.pulse_width_us * 1e-6)
    monitor = SignalQualityMonitor(fs_Hz, quality)
    detector = StreamingRDetector(fs_Hz)
    shape = MorphologyGuard(fs_Hz, morphology)
    rhythm = FibrillationDetector(fs_Hz, fibrillation, pacing)
    pace = PaceDetector(fs_Hz, pacing)
    run.start(0.0)
    signal = np.asarray(signal_mV, dtype=float)
    if signal.ndim not in (1, 2) or signal.shape[0] == 0:
        raise InputError("run_synchronised", "signal_mV", "shape (n,) or (n, leads)",
                         signal.shape)
    n = signal.shape[0]
    pending: list[Beat] = []
    for start in range(0, n, chunk_samples):
        leads = signal[start:start + chunk_samples]
        chunk = leads if leads.ndim == 1 else leads[:, 0]
        shape.feed(leads, start)
        flags = monitor.process(chunk) + rhythm.process(chunk)
        pace.process(chunk)
        beats = detector.process(chunk)
        if start + chunk.size == n:
            beats += detector.flush()
        pending += [_decision_beat(b, shape.reach) for b in beats]
        ready = [b for b in pending if b.detected_sample < start + chunk.size]
        pending = pending[len(ready):]
        _handle(run, pulse_gate, (monitor, rhythm, pace), shape, log, flags, ready, fs_Hz)
        shape.trim(start + chunk.size)
        if run.done:
            break
    end_flags = monitor.end_of_stream(complete=run.done)
    t_end = n / fs_Hz
    for flag in end_flags:
        _log_flag(log, flag, fs_Hz)
    outcome, reason = run.finish(t_end, end_flags[0].detail if end_flags else "")
    return _result(run, log, outcome, reason)


def _decision_beat(beat: Beat, reach: int) -> Beat:
    """The beat as the gate sees it: decided once the morphology window is complete, i.e. at
    max(detection, R + reach); ``detected_sample`` becomes that decision sample."""
    return replace(beat, detected_sample=max(beat.detected_sample, beat.sample + reach))


def _log_flag(log: EventLog, flag: QualityFlag, fs_Hz: float) -> None:
    log.emit(DeliveryEvent(flag.sample * 1e3 / fs_Hz, EventType.QUALITY, reason=str(flag.reason),
                           detail=flag.detail))


def _handle(run: _Run, gate: PulseGate,
            watch: tuple[SignalQualityMonitor, FibrillationDetector, PaceDetector],
            shape: MorphologyGuard, log: EventLog, flags: Iterable[QualityFlag],
            beats: Iterable[Beat], fs_Hz: float) -> None:
    monitor, rhythm, pace = watch
    items: list[tuple[int, int, QualityFlag | Beat]] = [(f.sample, 0, f) for f in flags]
    items += [(b.detected_sample, 1, b) for b in beats]
    for _, _, item in sorted(items, key=lambda x: (x[0], x[1])):
        if run.done:
            return
        if isinstance(item, QualityFlag):
            _log_flag(log, item, fs_Hz)
            gate.reset_rhythm()
            shape.reset()
            run.pause(item, item.sample / fs_Hz)
            continue
        beat = item
        t_known = beat.detected_sample / fs_Hz
        log.emit(DeliveryEvent(t_known * 1e3, EventType.BEAT, beat_sample=beat.sample,
                               detail=f"decided {beat.latency_ms:.1f} ms after R"))
        # no template yet (None) only while learning: the gate needs learn_beats to pulse;
        # should a learned gate meet a beat without a template, the shape counts as different
        similarity = shape.similarity(beat.sample, beat.detected_sample)
        if similarity is None and gate.learned:
            similarity = 0.0
        decision: GateDecision = gate.decide(
            beat, monitor.last_bad_sample(beat.detected_sample), similarity,
            rhythm.last_alarm_sample(beat.detected_sample),
            pace.last_spike_sample(beat.detected_sample))
        reason = decision.reason
        if reason == SkipReason.LEARNING and gate.learning_count <= 1:
            shape.reset()  # learning (re)started: the template restarts with this beat
        if reason in (None, SkipReason.LEARNING):
            shape.accept(beat.sample, beat.detected_sample)
        if reason is None:
            reason = run.try_pulse(decision.pulse_time_s, beat.sample)
        if reason is not None:
            rr = "" if decision.rr_ms is None else f"RR {decision.rr_ms:.0f} ms"
            if decision.median_rr_ms is not None:
                rr += f", median {decision.median_rr_ms:.0f} ms"
            log.emit(DeliveryEvent(t_known * 1e3, EventType.SKIP, beat_sample=beat.sample,
                                   reason=str(reason), detail=rr or None,
                                   **_pair_fields(_current_pair(run))))


def _current_pair(run: _Run) -> PairProtocol | None:
    return run.pair if run.pair_index < len(run.plan.pairs) else None


def _pair_fields(pair: PairProtocol | None) -> dict:
    """The log fields that name a pair at its placement (none without a pair)."""
    return {} if pair is None else {"pair": pair.name, "key": pair.key}


def run_unsynchronised(plan: DeliveryPlan, *, force: bool = False,
                       generator: GeneratorConfig | None = None,
                       log: EventLog | None = None,
                       checklist: Checklist | None = None) -> DeliveryResult:
    """Deliver without ECG, one pulse every ``unsynchronised_interval_s``: refused unless
    ``force`` (then every pulse is logged ``synchronised: false``). ``checklist`` as for
    :func:`run_synchronised`; a lost block with no later count of 0 ends the run."""
    if not force:
        raise InputError("command line", "--ecg", "an ECG record or --hr BPM for synchronised "
                         "delivery (or --force-unsynchronised to accept the arrhythmia risk)")
    log = log or EventLog()
    generator = generator or GeneratorConfig()
    run = _Run(plan, generator, log, synchronised=False, checklist=checklist)
    run.start(0.0)
    t = 0.0
    while not run.done and not run.stalled:
        t += generator.unsynchronised_interval_s
        if run.try_pulse(t, None) is not None:  # recharging or paused: the next slot comes
            continue
    outcome, reason = run.finish(t, "stopped")
    return _result(run, log, outcome, reason)

"""The pulse generator: an explicit state machine, the protocol it executes, its current model.

States and the only legal transitions (:data:`GENERATOR_TRANSITIONS`); anything else raises
:class:`IllegalTransitionError`:

- ``idle`` -> ``armed`` (plan checked, operator arms) | ``aborted``
- ``armed`` -> ``charging`` (start a pair) | ``idle`` (disarm) | ``complete`` | ``aborted``
- ``charging`` -> ``delivering`` (capacitors charged) | ``paused`` | ``aborted``
- ``delivering`` -> ``charging`` (train of pulses done: recharge) | ``armed`` (pair done, next
  pair) | ``complete`` (last pair done) | ``paused`` | ``aborted``
- ``paused`` (ECG not trustworthy) -> ``charging`` (resume) | ``aborted``
- ``aborted`` -> ``idle`` (operator acknowledges; the next pair may be armed)
- ``complete``: final.

Protocol per pair (:class:`GeneratorConfig`): ``test_pulses`` at the pair's full voltage, then the
plan's treatment pulses (default 90 x 90 us), all in trains of ``train_pulses`` with a recharge
pause between trains. The 10 test + 90 treatment pulses follow the clinical '10-90' protocol for
colorectal liver metastases (Ruarus AH et al., Cardiovasc Intervent Radiol 41(8):1257-1266, 2018),
where the first 10 pulses check the current before the rest are given. A plan whose thermal
safety needs longer pauses (:class:`DeliveryPlan` ``train_pause_s``, ``pair_pause_s``, from the
case protocol) gets them: the generator charges at least that long before each train and before
each pair's first.

Current model (:class:`CurrentModel`): tissue conductivity rises during a train (electroporation
and Joule heating; Ruarus et al. 2018 measured the current rise in patients and phantoms), so the
current of pulse n (1-based, counted over the pair's pulses) is

    I_n = I_inf - (I_inf - I_0) * exp(-(n - 1) / n_c),   I_inf = I_0 * (1 + rise_fraction)

with I_0 the field simulation's predicted current for the pair (``predicted_current_A``: the
nonlinear sigma(E) solve, i.e. the electroporated state of the first pulse), ``rise_fraction``
0.25 and ``n_c`` 30 pulses (see :class:`GeneratorConfig`). It is a deliberately simple
saturating rise; it is not fitted to data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from irelab.case.model import PairKey
from irelab.errors import InputError


class GeneratorState(StrEnum):
    """States of the simulated generator."""

    IDLE = "idle"
    ARMED = "armed"
    CHARGING = "charging"
    DELIVERING = "delivering"
    PAUSED = "paused"
    ABORTED = "aborted"
    COMPLETE = "complete"


_S = GeneratorState
GENERATOR_TRANSITIONS: dict[GeneratorState, frozenset[GeneratorState]] = {
    _S.IDLE: frozenset({_S.ARMED, _S.ABORTED}),
    _S.ARMED: frozenset({_S.CHARGING, _S.IDLE, _S.COMPLETE, _S.ABORTED}),
    _S.CHARGING: frozenset({_S.DELIVERING, _S.PAUSED, _S.ABORTED}),
    _S.DELIVERING: frozenset({_S.CHARGING, _S.ARMED, _S.COMPLETE, _S.PAUSED, _S.ABORTED}),
    _S.PAUSED: frozenset({_S.CHARGING, _S.ABORTED}),
    _S.ABORTED: frozenset({_S.IDLE}),
    _S.COMPLETE: frozenset(),
}
"""The complete table of legal transitions (source state -> allowed target states)."""


class IllegalTransitionError(RuntimeError):
    """A transition not in :data:`GENERATOR_TRANSITIONS` was requested (never pulse)."""


class GeneratorStateMachine:
    """Holds the generator's state and enforces :data:`GENERATOR_TRANSITIONS`."""

    def __init__(self, initial: GeneratorState = GeneratorState.IDLE) -> None:
        self.state = GeneratorState(initial)

    def can(self, target: GeneratorState) -> bool:
        return target in GENERATOR_TRANSITIONS[self.state]

    def transition(self, target: GeneratorState) -> GeneratorState:
        """Move to ``target``; return the previous state. Raises on an illegal transition."""
        target = GeneratorState(target)
        if target not in GENERATOR_TRANSITIONS[self.state]:
            raise IllegalTransitionError(f"generator: {self.state} -> {target} is not allowed")
        previous, self.state = self.state, target
        return previous


@dataclass(frozen=True)
class GeneratorConfig:
    """Limits and protocol constants of the simulated generator."""

    max_voltage_V: float = 3000.0
    """Highest pulse voltage (the limit of the clinical IRE generator, NanoKnife)."""
    current_limit_A: float = 50.0
    """A pulse whose current exceeds 50 A aborts the pair (the clinical generator's current
    limit)."""
    test_pulses: int = 10
    """Test pulses per pair before treatment: the first 10 of the '10-90' protocol (Ruarus et
    al. 2018, see module docstring)."""
    train_pulses: int = 10
    """Pulses per train, recharge between trains (trains of 10, as the clinical generator
    delivers them)."""
    recharge_s: float = 2.0
    """Pause between trains while the capacitors recharge. Design choice (no published figure
    found): two seconds, i.e. about two beats skipped as ``not_ready`` per train at 60/min."""
    current_rise_fraction: float = 0.25
    """I_inf / I_0 - 1. Design choice: a 30 A pair rises by 7.5 A, below the 12-15 A rise that
    Ruarus et al. (2018) found reached in only 13 % of ablations of colorectal liver
    metastases."""
    current_rise_pulses: float = 30.0
    """n_c, pulses for 63 % of the rise (design choice: most of the rise within the first
    third of a 100-pulse pair, as the rise is fastest early in the train)."""
    voltage_margin: float = 0.9
    """Suggested voltage after a current abort: V x limit / I_inf x 0.9 (current grows faster
    than linearly with voltage in electroporated tissue, so keep a 10 % margin)."""
    unsynchronised_interval_s: float = 1.0
    """Pulse interval when forced to run without ECG (design choice: 60/min, one pulse per
    average beat, the same pace as synchronised delivery)."""

    def __post_init__(self) -> None:
        if self.test_pulses < 0 or self.train_pulses < 1:
            raise ValueError("test_pulses >= 0 and train_pulses >= 1 required")
        if not (self.recharge_s >= 0 and self.current_limit_A > 0 and self.max_voltage_V > 0):
            raise ValueError("recharge_s >= 0, positive current limit and voltage required")


@dataclass(frozen=True)
class PairProtocol:
    """One electrode pair of the plan at one placement: ``anode`` -> ``cathode`` at
    ``voltage_V``; ``key`` says which pair of the case's protocol at which placement (a plan
    built directly numbers its pairs in order, all at the first placement)."""

    anode: str
    cathode: str
    voltage_V: float
    predicted_current_A: float
    key: PairKey | None = None

    @property
    def name(self) -> str:
        """``ANODE-CATHODE`` (what the log shows people)."""
        return f"{self.anode}-{self.cathode}"

    @property
    def label(self) -> str:
        """:attr:`name`, with ``@k`` (k from 1) at a placement after the first."""
        placement = self.key.placement if self.key is not None else 0
        return f"{self.name}@{placement + 1}" if placement else self.name

    @property
    def position(self) -> int:
        """The placement (from 0)."""
        return self.key.placement if self.key is not None else 0


@dataclass(frozen=True)
class DeliveryPlan:
    """What to deliver: pairs at their placements in delivery order, treatment pulses per pair,
    pulse width (from a case or plan: :func:`irelab.delivery.delivery_plan`)."""

    name: str
    pairs: tuple[PairProtocol, ...]
    pulses: int
    pulse_width_us: float
    source: str = "<plan>"
    moves: tuple[str, ...] = ()
    """How the probe array gets to each placement, for people (one per placement; empty: not
    described)."""
    train_pause_s: float | None = None
    """The least pause between trains the plan needs (its thermal safety; case protocol
    ``train_pause_s``); None: the generator's recharge alone."""

    pair_pause_s: float | None = None
    """The least pause between one pair's last pulse and the next pair's first the plan needs
    (its thermal safety; case protocol ``pair_pause_s``); None: the pause before a train."""

    def recharge_s(self, config: GeneratorConfig) -> float:
        """The pause before each train: the generator's recharge, or the plan's longer one."""
        return max(config.recharge_s, self.train_pause_s or 0.0)

    def pair_start_s(self, config: GeneratorConfig) -> float:
        """The pause before a pair's first train: that before any train, or the plan's longer
        pause between pairs."""
        return max(self.recharge_s(config), self.pair_pause_s or 0.0)

    def __post_init__(self) -> None:
        keyed = tuple(p if p.key is not None else replace(p, key=PairKey(i, 0))
                      for i, p in enumerate(self.pairs))
        object.__setattr__(self, "pairs", keyed)

    def validate(self, config: GeneratorConfig) -> None:
        """Raise InputError unless every pair can be given (before any pulse)."""
        if not self.pairs:
            raise InputError(self.source, "protocol.pairs", "at least one electrode pair", [])
        if self.pulses < 1:
            raise InputError(self.source, "protocol.pulses", "a positive number of pulses",
                             self.pulses)
        if not 0 < self.pulse_width_us <= 1000:
            raise InputError(self.source, "protocol.pulse_width_us", "0-1000 us",
                             self.pulse_width_us)
        for pair in self.pairs:
            key = f"protocol.pairs[{pair.key.pair}]"
            if not 0 < pair.voltage_V <= config.max_voltage_V:
                raise InputError(self.source, f"{key}.voltage_V",
                                 f"a voltage in (0, {config.max_voltage_V:g}] V", pair.voltage_V)
            if not (math.isfinite(pair.predicted_current_A) and pair.predicted_current_A > 0):
                raise InputError(self.source, f"{key}.predicted_current_A",
                                 "a positive current in A", pair.predicted_current_A)
            if pair.anode == pair.cathode:
                raise InputError(self.source, key, "two different probes", pair.name)


@dataclass(frozen=True)
class CurrentModel:
    """Pulse current of one pair: saturating rise from I_0 (module docstring)."""

    initial_A: float
    rise_fraction: float
    rise_pulses: float

    @property
    def final_A(self) -> float:
        return self.initial_A * (1.0 + self.rise_fraction)

    def current_A(self, n: int) -> float:
        """Current of the pair's n-th pulse (1-based)."""
        i_inf = self.final_A
        return i_inf - (i_inf - self.initial_A) * math.exp(-(n - 1) / self.rise_pulses)


def current_rise_factor(config: GeneratorConfig, pulses: int) -> float:
    """The largest pulse current of a pair over its first-pulse (predicted) current: the current
    model at the pair's last pulse (``test_pulses + pulses``), where it is highest. The planner
    keeps ``predicted current x this factor`` within the current limit, so that a plan it calls
    feasible is not aborted by the generator."""
    model = CurrentModel(1.0, config.current_rise_fraction, config.current_rise_pulses)
    return model.current_A(config.test_pulses + pulses)


def first_pulse_current_limit_A(config: GeneratorConfig, pulses: int) -> float:
    """The largest first-pulse (predicted) current a pair of ``pulses`` treatment pulses may
    draw without its current passing ``config``'s limit later in its train: the limit over
    :func:`current_rise_factor`."""
    return config.current_limit_A / current_rise_factor(config, pulses)


def suggested_voltage_V(pair: PairProtocol, model: CurrentModel,
                        config: GeneratorConfig) -> float:
    """Voltage to suggest after a current abort: scaled so the final current stays under the
    limit with the margin, rounded down to 10 V."""
    return _scaled_to_limit(pair.voltage_V, model.final_A, config)


def redelivery_voltage_V(voltage_V: float, first_pulse_current_A: float,
                         config: GeneratorConfig) -> float:
    """The voltage the generator suggests for a pair delivered at ``voltage_V`` whose first
    pulse drew ``first_pulse_current_A`` and whose rising current passed the limit: what
    :func:`suggested_voltage_V` gives for ``config``'s current model from that current."""
    model = CurrentModel(first_pulse_current_A, config.current_rise_fraction,
                         config.current_rise_pulses)
    return _scaled_to_limit(voltage_V, model.final_A, config)


def _scaled_to_limit(voltage_V: float, final_current_A: float, config: GeneratorConfig
                     ) -> float:
    """``voltage_V`` scaled so that a pair's final current stays under the limit with the
    margin, rounded down to 10 V."""
    volts = voltage_V * config.current_limit_A / final_current_A * config.voltage_margin
    return math.floor(volts / 10.0) * 10.0

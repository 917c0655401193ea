"""Bioheat (Pennes) with pulsed Joule heating and Arrhenius thermal damage."""

from irelab.thermal.bioheat import (
    DamageBound,
    RegionHeating,
    ThermalResult,
    damaged_volume_mm3,
    joule_power,
    simulate_heating,
    thermal_tissues,
)
from irelab.thermal.properties import (
    BODY_TEMPERATURE_C,
    LIVER_DAMAGE,
    THERMAL_TISSUES,
    ArrheniusDamage,
    ThermalTissue,
)
from irelab.thermal.schedule import PulseEvent, PulseSchedule

__all__ = [
    "BODY_TEMPERATURE_C",
    "LIVER_DAMAGE",
    "THERMAL_TISSUES",
    "ArrheniusDamage",
    "DamageBound",
    "PulseEvent",
    "PulseSchedule",
    "RegionHeating",
    "ThermalResult",
    "ThermalTissue",
    "damaged_volume_mm3",
    "joule_power",
    "simulate_heating",
    "thermal_tissues",
]

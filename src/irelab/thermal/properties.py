"""Thermal tissue properties and the Arrhenius thermal-damage model, each value with its source.

Tissue values (density, specific heat, thermal conductivity) are the IT'IS Foundation database
averages (Hasgall PA, Di Gennaro F, Baumgartner C, Neufeld E, Lloyd B, Gosselin MC, Payne D,
Klingenbock A, Kuster N. IT'IS Database for thermal and electromagnetic parameters of biological
tissues, v4.1, 2022, itis.swiss/database), which merges McIntosh RL, Anderson V, Biophys Rev Lett
5(3):129-151, 2010. They were taken from that table as we know it, not re-read during this
session: check them against the current release before clinical use.

Perfusion enters the Pennes term ``omega_b rho_b c_b (T_a - T)`` as the volumetric blood flow
rate ``omega_b`` (1/s: m^3 of blood per m^3 of tissue per second). Liver: 6.4e-3 1/s, the value
of the hepatic radiofrequency-ablation models (Tungjitkusolmun S et al., IEEE Trans Biomed Eng
49(1):3-9, 2002; reused by Chang IA, Nguyen UD, BioMed Eng OnLine 3:27, 2004, Table 1).

Large vessels are not perfused tissue but flowing blood: a blood voxel is flushed by fresh
blood at body temperature. We model that as a Pennes-like exchange with the rate
``VESSEL_EXCHANGE_PER_S`` (see there), which pulls blood voxels back to 37 C within a fraction of
a second, i.e. the vessel is a heat sink. Bile in a duct barely flows: no exchange (the
conservative choice for bile-duct heating).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ThermalTissue",
    "ArrheniusDamage",
    "THERMAL_TISSUES",
    "LIVER_DAMAGE",
    "DAMAGE_ONSET_C",
    "BODY_TEMPERATURE_C",
]

BODY_TEMPERATURE_C = 37.0
"""Arterial blood and initial tissue temperature (core body temperature)."""

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
"""Molar gas constant R (CODATA 2018, exact since the 2019 SI redefinition)."""

BLOOD_DENSITY_KG_PER_M3 = 1050.0
"""rho_b: IT'IS database v4.1, Blood (average)."""

BLOOD_HEAT_CAPACITY_J_PER_KG_K = 3617.0
"""c_b: IT'IS database v4.1, Blood (average)."""

VESSEL_EXCHANGE_PER_S = 10.0
"""Exchange rate of a large-vessel voxel with fresh 37 C blood (1/s).

Assumption stated here, not a measured constant: blood moving at ``v`` replaces the content of a
voxel of edge ``h`` in ``h / v``; hepatic venous flow runs at centimetres to tens of centimetres
per second, so for 1 mm voxels ``v / h`` is 10-300 1/s. We take the low end, 10 1/s (time
constant 0.1 s, still far shorter than the ~0.9 s between pulses), so vessel heating is not
understated.
"""


@dataclass(frozen=True)
class ThermalTissue:
    """Thermal properties of one tissue (SI).

    ``perfusion_per_s`` is the Pennes volumetric blood flow omega_b (1/s).
    """

    density_kg_per_m3: float
    heat_capacity_J_per_kg_K: float
    conductivity_W_per_m_K: float
    perfusion_per_s: float

    @property
    def volumetric_heat_capacity(self) -> float:
        """rho c in J/(m^3 K)."""
        return self.density_kg_per_m3 * self.heat_capacity_J_per_kg_K


THERMAL_TISSUES: dict[str, ThermalTissue] = {
    # IT'IS v4.1 Liver: rho 1079 kg/m^3, c 3540 J/(kg K), k 0.52 W/(m K);
    # perfusion 6.4e-3 1/s (Tungjitkusolmun et al. 2002, see module docstring).
    "liver": ThermalTissue(1079.0, 3540.0, 0.52, 6.4e-3),
    # Colorectal liver metastasis: the IT'IS database has no tumour entry; we use the liver's
    # density, heat capacity and conductivity and half the liver perfusion (colorectal
    # metastases are hypovascular relative to parenchyma on perfusion CT, e.g. Miles KA,
    # Radiology 1993; a stated simplification that slightly favours heating inside the tumour).
    "tumour": ThermalTissue(1079.0, 3540.0, 0.52, 3.2e-3),
    # IT'IS v4.1 Blood: rho 1050, c 3617, k 0.52; flowing vessel: VESSEL_EXCHANGE_PER_S.
    "blood": ThermalTissue(BLOOD_DENSITY_KG_PER_M3, BLOOD_HEAT_CAPACITY_J_PER_KG_K, 0.52,
                           VESSEL_EXCHANGE_PER_S),
    # IT'IS v4.1 Bile: rho 928, c 4037, k 0.58; no flow (static duct content).
    "bile": ThermalTissue(928.0, 4037.0, 0.58, 0.0),
}
"""Thermal presets by tissue name; unknown tissue names fall back to ``liver`` (documented in
:func:`irelab.thermal.bioheat.simulate_heating`)."""


@dataclass(frozen=True)
class ArrheniusDamage:
    """First-order thermal damage: ``Omega(t) = int A exp(-Ea / (R T(t))) dt`` (T in kelvin).

    ``Omega >= 1`` (63 % of the molecules/cells altered) is the usual threshold of thermal
    coagulation (Pearce J, Models for thermal damage in tissues: processes and applications,
    Crit Rev Biomed Eng 38(1):1-20, 2010).
    """

    frequency_factor_per_s: float
    activation_energy_J_per_mol: float
    onset_C: float = 43.0
    """Below this temperature no damage accrues (see :data:`DAMAGE_ONSET_C`)."""

    def rate_per_s(self, temperature_C: np.ndarray) -> np.ndarray:
        """Damage rate dOmega/dt at ``temperature_C`` (vectorised); 0 below the onset."""
        t_c = np.asarray(temperature_C, dtype=float)
        exponent = np.log(self.frequency_factor_per_s) - self.activation_energy_J_per_mol / (
            GAS_CONSTANT_J_PER_MOL_K * (t_c + 273.15)
        )
        return np.where(t_c >= self.onset_C, np.exp(exponent), 0.0)

    def time_to_damage_s(self, temperature_C: float) -> float:
        """Isothermal exposure for ``Omega = 1`` (for tests and reports); infinite below the
        onset."""
        rate = float(self.rate_per_s(np.asarray(temperature_C)))
        return 1.0 / rate if rate > 0.0 else float("inf")


DAMAGE_ONSET_C = 43.0
"""Temperature below which no thermal damage is counted. The coagulation kinetics below were
fitted at coagulation temperatures (50 C and above); extrapolated to a few kelvin above body
temperature they still rise only about 1.4-fold per kelvin and call tissue held at 40 C for
35 min coagulated. The thermal-dose model of hyperthermia (Sapareto SA, Dewey WC, Thermal dose
determination in cancer therapy, Int J Radiat Oncol Biol Phys 10(6):787-800, 1984) has its
breakpoint at 43 C, below which equivalent time falls fourfold per kelvin (R = 0.25): 3 h at 40 C
is under 3 equivalent minutes at 43 C, far below the tens of minutes at 43 C that tissue damage
thresholds need (Dewhirst MW et al., Int J Hyperthermia 19(3):267-294, 2003, abstract read).
Damage is therefore counted only while the tissue is at or above 43 C (design choice at the
sourced breakpoint; it removes the slow build-up over a long procedure that the extrapolated
kinetics predicted a few kelvin above 37 C)."""

LIVER_DAMAGE = ArrheniusDamage(frequency_factor_per_s=7.39e39, activation_energy_J_per_mol=2.577e5,
                              onset_C=DAMAGE_ONSET_C)
"""Liver coagulation kinetics A = 7.39e39 1/s, Ea = 2.577e5 J/mol as tabulated for liver by
Chang IA, Nguyen UD, Thermal modeling of lesion growth with radiofrequency ablation devices,
BioMed Eng OnLine 3:27, 2004 (Table 1; they cite Jacques SL et al. for the liver values). These
are liver values, not the Henriques-Moritz skin values. Isothermal exposure for Omega = 1:
about 61 s at 50 C, 14 s at 55 C, 3.4 s at 60 C."""

"""Case files: domain, anatomy (shapes or labelled images), tissues, probes and protocol."""

from irelab.case.case import (
    Case,
    Domain,
    Pair,
    Placement,
    Probe,
    Protocol,
    load_case,
    parse_case,
)
from irelab.case.tissues import TISSUE_PRESETS, Tissue

__all__ = [
    "TISSUE_PRESETS",
    "Case",
    "Domain",
    "Pair",
    "Placement",
    "Probe",
    "Protocol",
    "Tissue",
    "load_case",
    "parse_case",
]

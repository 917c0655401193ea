"""Case files: domain, anatomy (shapes or labelled images), tissues, probes and protocol.

:func:`load_case` / :func:`parse_case` read a case (a plan is a case) and :func:`write_case`
writes one; they are the only reader and writer of the format (:mod:`irelab.case.io`).
"""

from irelab.case.io import (
    case_text,
    load_case,
    load_tissues,
    parse_case,
    write_case,
    write_tissue_file,
)
from irelab.case.model import (
    Case,
    Domain,
    Pair,
    PairKey,
    Placement,
    Probe,
    Protocol,
    ReplanChange,
    ReplanRecord,
)
from irelab.case.probes import conductor_mask, probe_conductors
from irelab.case.tissues import TISSUE_PRESETS, Tissue

__all__ = [
    "TISSUE_PRESETS",
    "Case",
    "Domain",
    "Pair",
    "PairKey",
    "Placement",
    "Probe",
    "Protocol",
    "ReplanChange",
    "ReplanRecord",
    "Tissue",
    "case_text",
    "conductor_mask",
    "load_case",
    "load_tissues",
    "parse_case",
    "probe_conductors",
    "write_case",
    "write_tissue_file",
]

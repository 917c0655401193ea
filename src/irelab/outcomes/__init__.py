"""Outcome analysis of the IRE registry: efficacy, local control, survival, harms, evidence.

Definitions follow the image-guided tumour ablation reporting standard (Ahmed M et al.,
Radiology 2014;273:241-260); survival uses lifelines, intervals and pooling use statsmodels.
"""

from __future__ import annotations

from irelab.outcomes.analysis import OutcomeReport, analyse
from irelab.outcomes.data import StudyData
from irelab.outcomes.report import write_report
from irelab.outcomes.synthetic import synthetic_cohort

__all__ = ["OutcomeReport", "StudyData", "analyse", "synthetic_cohort", "write_report"]

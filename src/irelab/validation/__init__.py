"""Predictions against real ablations: the published validation set (``irelab validate``), one
procedure's predicted against achieved zone (``irelab compare``) and the site calibration of the
lethal threshold (``irelab calibrate``), with a synthetic study of known truth to test them.

Images are read and written only by :mod:`irelab.validation.images` (SimpleITK; LPS inside).
"""

from irelab.validation.calibrate import MIN_COMPARISONS, Calibration, calibrate, dice_curves
from irelab.validation.compare import (
    Comparison,
    DeliveredPair,
    achieved_on_grid,
    compare_procedure,
    delivered_pairs,
)
from irelab.validation.comparison_file import (
    StoredComparison,
    comparison_json,
    read_comparison,
    write_comparison,
)
from irelab.validation.dataset import AXES, DataPoint, Measure, load_validation_set
from irelab.validation.figures import write_comparison_figure
from irelab.validation.images import (
    read_grid_array,
    read_scan,
    resample_to_grid,
    write_grid_array,
)
from irelab.validation.metrics import (
    ZoneAgreement,
    dice,
    hd95_mm,
    minimal_margin_mm,
    signed_distance_mm,
    zone_agreement,
)
from irelab.validation.registration import RigidRegistration, register_rigid
from irelab.validation.synthetic import SyntheticProcedure, synthetic_study
from irelab.validation.zones import (
    ACCEPT_SD,
    PointResult,
    PointRun,
    ThresholdFit,
    extent_mm,
    fit_lethal_threshold,
    predict_point,
)

__all__ = [
    "ACCEPT_SD",
    "AXES",
    "MIN_COMPARISONS",
    "Calibration",
    "Comparison",
    "DataPoint",
    "DeliveredPair",
    "Measure",
    "PointResult",
    "PointRun",
    "RigidRegistration",
    "StoredComparison",
    "SyntheticProcedure",
    "ThresholdFit",
    "ZoneAgreement",
    "achieved_on_grid",
    "calibrate",
    "compare_procedure",
    "comparison_json",
    "delivered_pairs",
    "dice",
    "dice_curves",
    "extent_mm",
    "fit_lethal_threshold",
    "hd95_mm",
    "load_validation_set",
    "minimal_margin_mm",
    "predict_point",
    "read_comparison",
    "read_grid_array",
    "read_scan",
    "register_rigid",
    "resample_to_grid",
    "signed_distance_mm",
    "synthetic_study",
    "write_comparison",
    "write_comparison_figure",
    "write_grid_array",
    "zone_agreement",
]

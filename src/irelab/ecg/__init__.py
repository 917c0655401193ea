"""ECG input and R-wave detection: readers, a causal streaming detector (one lead, or two fused),
EC57-style scoring, the signal-quality monitor, the ventricular flutter/fibrillation alarm and
the noise stress harness."""

from irelab.ecg.fibrillation import FibrillationConfig, FibrillationDetector
from irelab.ecg.fusion import FusionConfig, MultiLeadDetector, detect_beats_multilead
from irelab.ecg.io import read_record
from irelab.ecg.noise import NoiseKind, NoiseStress, add_noise
from irelab.ecg.qrs import Beat, DetectorConfig, StreamingRDetector, detect_beats
from irelab.ecg.quality import (
    QualityConfig,
    QualityFlag,
    QualityReason,
    SignalQualityMonitor,
)
from irelab.ecg.record import BEAT_SYMBOLS, BeatAnnotations, EcgRecord
from irelab.ecg.scoring import Score, latency_vs_reference_ms, score_detections

__all__ = [
    "BEAT_SYMBOLS",
    "Beat",
    "BeatAnnotations",
    "DetectorConfig",
    "EcgRecord",
    "FibrillationConfig",
    "FibrillationDetector",
    "FusionConfig",
    "MultiLeadDetector",
    "NoiseKind",
    "NoiseStress",
    "QualityConfig",
    "QualityFlag",
    "QualityReason",
    "Score",
    "SignalQualityMonitor",
    "StreamingRDetector",
    "add_noise",
    "detect_beats",
    "detect_beats_multilead",
    "latency_vs_reference_ms",
    "read_record",
    "score_detections",
]

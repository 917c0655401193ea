"""ECG input and R-wave detection: readers, a causal streaming detector, EC57-style scoring,
and the signal-quality monitor (quality.py, owned by the delivery work)."""

from irelab.ecg.io import read_record
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
    "QualityConfig",
    "QualityFlag",
    "QualityReason",
    "Score",
    "SignalQualityMonitor",
    "StreamingRDetector",
    "detect_beats",
    "latency_vs_reference_ms",
    "read_record",
    "score_detections",
]

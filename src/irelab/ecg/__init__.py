"""ECG input and R-wave detection: readers, a causal streaming detector, EC57-style scoring."""

from irelab.ecg.io import read_record
from irelab.ecg.qrs import Beat, DetectorConfig, StreamingRDetector, detect_beats
from irelab.ecg.record import BEAT_SYMBOLS, BeatAnnotations, EcgRecord
from irelab.ecg.scoring import Score, latency_vs_reference_ms, score_detections

__all__ = [
    "BEAT_SYMBOLS",
    "Beat",
    "BeatAnnotations",
    "DetectorConfig",
    "EcgRecord",
    "Score",
    "StreamingRDetector",
    "detect_beats",
    "latency_vs_reference_ms",
    "read_record",
    "score_detections",
]

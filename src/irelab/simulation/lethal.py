"""The lethal (IRE) zone: the one rule the simulation, the planner and the comparison use.

A voxel is in the lethal zone when the largest |E| it sees over all pairs and placements reaches
its tissue's lethal threshold. Voxels inside a probe are conductor, not tissue, and never count.
The planner asks for a small factor above the threshold when it counts coverage (so that a fresh
solve of the written plan cannot find less); the zone itself uses the threshold.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lethal_zone"]


def lethal_zone(e_max_V_per_m: np.ndarray, threshold_V_per_m: np.ndarray,
                conductor: np.ndarray | None = None, factor: float = 1.0) -> np.ndarray:
    """Voxels where ``e_max`` reaches ``factor`` times the local threshold, outside
    ``conductor``."""
    lethal = e_max_V_per_m >= factor * threshold_V_per_m
    if conductor is not None:
        lethal &= ~conductor
    return lethal

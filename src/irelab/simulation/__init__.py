"""Run a case: every pair at every pullback position, the lethal zone, and the written results."""

from irelab.simulation.lethal import lethal_zone
from irelab.simulation.output import write_outputs
from irelab.simulation.run import PairResult, RegionResult, SimulationResult, simulate_case

__all__ = ["PairResult", "RegionResult", "SimulationResult", "lethal_zone", "simulate_case",
           "write_outputs"]

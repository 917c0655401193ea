"""Pair solves on several processes, with exactly the results one process gives.

The pairs of one placement are independent solves; the planner hands them to worker processes
(``PlanOptions.workers``; the field solver itself runs on one core). A worker keeps a
:class:`~irelab.field.FieldSolver` per geometry, as the evaluator does in one process, and what a
solve returns depends on its solver's history (a pair's coarse multigrid cycle is built at its
first solve and reused later). Three rules make every solve start from the same state whatever
the number of workers, so the plan never depends on it (tested: one process and two give the
same plan file byte for byte):

1. every solve of a pair (its two probe indices) goes to the same worker;
2. a geometry the evaluator forgets (its least recently used cache) is forgotten by every
   worker at once, so each worker's solver exists exactly when the one-process solver would;
3. the inputs of a solve (problem, tolerance, voltage, warm start) are fixed before it is sent;
   results are taken in the order the jobs were made, never in the order they finish.

A worker gets one job at a time (the next once its result is read), so neither side can block
on a full pipe. Workers are forked when the pool opens, before the planner allocates its large
arrays, and run only the solver (``spawn`` would re-import the caller's ``__main__``, which a
script without a main guard cannot survive). Standard-library :mod:`multiprocessing` is enough
here: one machine, a handful of long jobs.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from irelab.field.problem import FieldProblem, PairSolution
from irelab.field.solver import FieldSolver, SolverOptions

__all__ = ["SolveJob", "SolverPool", "worker_of"]


@dataclass(frozen=True)
class SolveJob:
    """One pair solve: on the geometry ``key`` (its ``problem``), with ``options``."""

    key: Hashable
    problem: FieldProblem
    options: SolverOptions
    pair: tuple[int, int]
    anode: str
    cathode: str
    voltage_V: float
    initial: PairSolution | None


def worker_of(pair: tuple[int, int], workers: int) -> int:
    """The worker that solves ``pair`` (probe indices), always the same one: ``(i + 2 j) mod
    workers`` with ``i < j``, which alternates between two workers along a polygon's sides
    (i, i + 1), its diagonals (i, i + 2) and its spokes to a centre probe (i, m), so the pairs
    of a layout are shared about evenly."""
    i, j = sorted(pair)
    return (i + 2 * j) % workers


def _serve(conn: Connection) -> None:
    """A worker's loop: ('solve', job) -> PairSolution; ('forget', key); ('stop',)."""
    solvers: dict[Hashable, FieldSolver] = {}
    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        if message[0] == "forget":
            solvers.pop(message[1], None)
            continue
        job: SolveJob = message[1]
        try:
            solver = solvers.get(job.key)
            if solver is None:
                solver = solvers[job.key] = FieldSolver(job.problem, job.options)
            conn.send(("ok", solver.solve_pair(job.anode, job.cathode, job.voltage_V,
                                               initial=job.initial)))
        except Exception as exc:  # returned to the planner, which raises it there
            conn.send(("error", exc))


class SolverPool:
    """``workers`` processes solving pairs (module doc); use as a context manager."""

    def __init__(self, workers: int) -> None:
        if workers < 2:
            raise ValueError("a pool needs at least two workers (one process solves alone)")
        context = multiprocessing.get_context("fork")
        self._conns: list[Connection] = []
        self._procs = []
        for _ in range(workers):
            here, there = context.Pipe()
            proc = context.Process(target=_serve, args=(there,), daemon=True)
            proc.start()
            there.close()
            self._conns.append(here)
            self._procs.append(proc)

    @property
    def workers(self) -> int:
        return len(self._conns)

    def solve(self, jobs: Sequence[SolveJob]) -> list[PairSolution]:
        """The solutions of ``jobs``, in their order."""
        queues = [deque() for _ in self._conns]
        for index, job in enumerate(jobs):
            queues[worker_of(job.pair, self.workers)].append(index)
        results: list[PairSolution | None] = [None] * len(jobs)
        busy: dict[Connection, int] = {}
        for w, conn in enumerate(self._conns):
            if queues[w]:
                index = queues[w].popleft()
                conn.send(("solve", jobs[index]))
                busy[conn] = index
        error = None
        while busy:
            for conn in wait(list(busy)):
                status, value = conn.recv()
                index = busy.pop(conn)
                if status == "error":
                    error = error or value
                else:
                    results[index] = value
                w = self._conns.index(conn)
                if queues[w]:
                    nxt = queues[w].popleft()
                    conn.send(("solve", jobs[nxt]))
                    busy[conn] = nxt
        if error is not None:
            raise error
        return results  # type: ignore[return-value]

    def forget(self, key: Hashable) -> None:
        """Every worker drops its solver of geometry ``key``."""
        for conn in self._conns:
            conn.send(("forget", key))

    def close(self) -> None:
        for conn, proc in zip(self._conns, self._procs, strict=True):
            try:
                conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
            conn.close()
        self._conns, self._procs = [], []

    def __enter__(self) -> SolverPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

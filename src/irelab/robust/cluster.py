"""Samples as Dask tasks: on a local cluster of processes, or on an existing Dask cluster.

Dask distributed (https://distributed.dask.org) schedules the tasks, moves their inputs and
results, and reruns the tasks of a worker that is lost mid-run on the workers that remain (the
scheduler's ``allowed-failures``); we do not write our own. Each sample task is self-contained:
the plan's case text (:func:`irelab.case.case_text`), its source and base directory, the
sample's :class:`~irelab.robust.sampling.Perturbation` and the evaluation settings. One further
task solves the unperturbed plan, beside the samples; only when the samples start from its
solution (``EvaluationSettings.warm_start``) does every sample task take its result as an
argument, so Dask sends those warm starts to each worker once (and recomputes them if the
worker holding them is lost). Results stream back with :func:`distributed.as_completed` and
are handed to the caller as they arrive; the caller files them by sample index, so the outcome
does not depend on which worker finished first.

Where the tasks run: ``scheduler`` (or the ``IRELAB_DASK_SCHEDULER`` environment variable), the
address of a running scheduler (``tcp://HOST:PORT``), else a :class:`distributed.LocalCluster`
of single-threaded worker processes on this machine, started and stopped here. An unreachable
scheduler is one :class:`~irelab.errors.InputError` after ``timeout_s``.

Dask is an optional dependency (``pip install 'irelab[robust]'``); it is imported only here,
when samples are run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from irelab.errors import InputError
from irelab.extras import require_extra
from irelab.robust.evaluate import (
    EvaluationSettings,
    SampleOutcome,
    nominal_task,
    sample_task,
)
from irelab.robust.sampling import Perturbation

__all__ = ["SCHEDULER_ENV", "ClusterSettings", "dask_client", "require_dask", "run_samples"]

SCHEDULER_ENV = "IRELAB_DASK_SCHEDULER"
"""Environment variable naming the scheduler when ``--scheduler`` is not given."""

DEFAULT_TIMEOUT_S = 10.0
"""How long to wait for a scheduler before giving up (design choice: a scheduler on a local
network answers in milliseconds; ten seconds leaves room for a busy one without hanging)."""

TASK_RETRIES = 1
"""A task that raised is run once more (a worker short of memory, say); a task whose worker was
lost is rerun by the scheduler regardless (its ``allowed-failures``, default 3)."""

NANNY_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its default
``distributed.nanny.pre-spawn-environ``, to hand freed memory back to the system). Setting it
turns off glibc's dynamic mmap threshold, so every grid-sized temporary of a field solve is a
fresh ``mmap`` whose pages fault in on first touch: measured on the 30 mm demo plan at 1 mm, one
sample took 4.7 million page faults and 9 s of system time on top of 16 s of user time (2
shared cores, load 5.9; without the variable: 2,800 faults, no system time), and a worker spent
about twice the CPU of the same sample solved in the parent process. The local cluster's
workers start without it (None removes the key). Workers of an existing cluster are started by
whoever runs it: ``dask worker`` with a nanny sets it too, unless run with ``--no-nanny`` or
with ``MALLOC_TRIM_THRESHOLD_: null`` under ``distributed.nanny.pre-spawn-environ`` in its Dask
configuration file."""

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s]+$")


@dataclass(frozen=True)
class ClusterSettings:
    """Where samples run: a scheduler address, or a local cluster of ``workers`` processes
    (default: one per CPU core)."""

    scheduler: str | None = None
    workers: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def address(self) -> str | None:
        return self.scheduler or os.environ.get(SCHEDULER_ENV) or None


def require_dask() -> None:
    """Raise one clear error when an optional dependency of the study (Dask distributed for
    the samples, SALib for the sensitivity indices) is missing."""
    require_extra("robust", "irelab robust (Dask distributed runs the samples, SALib the "
                  "sensitivity indices)")


@contextmanager
def dask_client(settings: ClusterSettings) -> Iterator[object]:
    """A connected :class:`distributed.Client` (and its local cluster, stopped on exit)."""
    require_dask()
    from distributed import Client, LocalCluster

    address = settings.address()
    if address is not None:
        key = "--scheduler" if settings.scheduler else SCHEDULER_ENV
        if not _ADDRESS.match(address):
            raise InputError("irelab robust", key, "a Dask scheduler address such as "
                             "tcp://HOST:PORT", address)
        try:
            client = Client(address, timeout=settings.timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError("irelab robust", key, f"a Dask scheduler answering within "
                             f"{settings.timeout_s:g} s", f"{address} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    workers = settings.workers or os.cpu_count() or 1
    # loopback only; no dashboard, and the scheduler's HTTP routes (health, metrics) on a free
    # port rather than 8787, which another cluster on the machine may hold
    with dask.config.set({NANNY_MALLOC_TRIM: None}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard": False,
                                                 "dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def run_samples(client, case_text: str, source: str, base_dir: str,
                perturbations: Sequence[Perturbation], settings: EvaluationSettings,
                on_result: Callable[[SampleOutcome], bool | None],
                thermal_samples: int = 0) -> SampleOutcome:
    """Run the unperturbed plan and every sample on ``client``'s cluster; ``on_result`` gets
    each sample's outcome as it arrives, and when it returns True the samples not yet
    finished are cancelled. The thermal model runs on the samples with index below
    ``thermal_samples``. Returns the unperturbed plan's outcome."""
    from dataclasses import replace
    from operator import itemgetter

    from distributed import as_completed

    # no thermal model here: with warm starts every sample waits for this one
    nominal = client.submit(nominal_task, case_text, source, base_dir,
                            replace(settings, thermal=False), pure=False, retries=TASK_RETRIES)
    start = nominal if settings.warm_start else None
    futures = [client.submit(sample_task, case_text, source, base_dir, p,
                             replace(settings, thermal=p.index < thermal_samples), start,
                             pure=False, retries=TASK_RETRIES) for p in perturbations]
    nominal_outcome = client.submit(itemgetter(0), nominal, pure=False)
    try:
        for future in as_completed(futures, loop=client.loop):
            outcome = future.result()
            future.release()
            if on_result(outcome):
                break
        return nominal_outcome.result()
    finally:
        client.cancel([*futures, nominal, nominal_outcome])

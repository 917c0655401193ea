"""Samples on Dask: a local cluster, a real distributed cluster on loopback (a scheduler and two
workers started as separate processes), a worker lost mid-run, and unreachable schedulers.

The same seed must give the same result wherever the samples run and whichever worker finishes
first: outcomes are filed by sample index and the lethal zones summed in integers.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest

from irelab.errors import InputError
from irelab.robust import (
    ClusterSettings,
    RobustOptions,
    UncertaintyModel,
    dask_client,
    robust_study,
)
from irelab.robust.output import robust_json, write_robust

SAMPLES = 8
"""Enough for every worker to hold queued samples when one is killed; each solves in about a
tenth of a second on the small plan."""

def _options(**cluster) -> RobustOptions:
    return RobustOptions(samples=SAMPLES, thermal_samples=2, cluster=ClusterSettings(**cluster))


def _comparable(result) -> dict:
    data = robust_json(result)
    data["model"].pop("sources")
    return data


@pytest.fixture(scope="module")
def local_result(request):
    from robust_cases import SMALL_PLAN

    from irelab.case import parse_case

    case = parse_case(SMALL_PLAN, source="<small plan>")
    return robust_study(case, UncertaintyModel.for_case(case), _options(workers=2))


def test_local_cluster_runs_every_sample(local_result) -> None:
    stats = local_result.statistics
    assert stats.samples == SAMPLES and len(local_result.outcomes) == SAMPLES
    assert [o.index for o in local_result.outcomes] == list(range(SAMPLES))
    assert local_result.nominal.covered
    assert 0 < stats.coverage_probability.successes < SAMPLES  # the small plan is not robust
    assert [o.covered for o in local_result.outcomes] == [
        o.field_reserve >= 1.0 for o in local_result.outcomes]
    assert stats.thermal is not None and stats.thermal["any"].trials == 2


@pytest.mark.slow
def test_same_seed_same_files(local_result, tmp_path) -> None:
    """A second local run on one worker writes the same files (the distributed test checks a
    second run on another cluster too)."""
    from robust_cases import SMALL_PLAN

    from irelab.case import parse_case

    case = parse_case(SMALL_PLAN, source="<small plan>")
    again = robust_study(case, UncertaintyModel.for_case(case), _options(workers=1))
    first = write_robust(local_result, tmp_path / "a")
    second = write_robust(again, tmp_path / "b")
    assert (tmp_path / "a" / "robust.json").read_bytes() == \
        (tmp_path / "b" / "robust.json").read_bytes()
    import nibabel as nib

    np.testing.assert_array_equal(nib.load(first[0]).get_fdata(),
                                  nib.load(second[0]).get_fdata())


def test_distributed_cluster_equals_local_run_even_when_a_worker_dies(local_result, scheduler,
                                                                      tmp_path) -> None:
    """The first arriving result kills one worker (SIGKILL: no goodbye to the scheduler); its
    tasks are rerun on the other and the study equals the local one."""
    from robust_cases import SMALL_PLAN

    from irelab.case import parse_case

    address, workers = scheduler
    case = parse_case(SMALL_PLAN, source="<small plan>")
    killed = []

    def kill_one(done, total, outcome) -> None:
        if not killed:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(done)

    remote = robust_study(case, UncertaintyModel.for_case(case), _options(scheduler=address),
                          progress=kill_one)
    assert killed == [1] and workers[0].wait(timeout=30) == -signal.SIGKILL
    assert _comparable(remote) == _comparable(local_result)
    np.testing.assert_array_equal(remote.statistics.probability,
                                  local_result.statistics.probability)
    # the same seed writes the same files, wherever the samples ran
    write_robust(local_result, tmp_path / "local")
    write_robust(remote, tmp_path / "remote")
    for name in ("robust.json", "probability.nii.gz"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes()


def test_a_stop_rule_ends_the_study_at_the_same_sample_on_another_cluster(local_result,
                                                                          scheduler) -> None:
    """Stopped at the first miss, on the distributed cluster: the study holds the samples up to
    and including the local run's first miss, and their statistics are the local run's first
    samples' ones."""
    from robust_cases import SMALL_PLAN

    from irelab.case import parse_case

    case = parse_case(SMALL_PLAN, source="<small plan>")
    first_miss = next(k for k, o in enumerate(local_result.outcomes) if not o.covered) + 1
    stopped = robust_study(case, UncertaintyModel.for_case(case),
                           _options(scheduler=scheduler[0]),
                           stop=lambda first: not first[-1].covered)
    assert stopped.stopped_after == first_miss == stopped.statistics.samples
    assert [o.index for o in stopped.outcomes] == list(range(first_miss))
    np.testing.assert_array_equal(stopped.statistics.coverage_values,
                                  local_result.statistics.coverage_values[:first_miss])
    lethal = np.mean([o.lethal() for o in local_result.outcomes[:first_miss]], axis=0)
    np.testing.assert_allclose(stopped.statistics.probability, lethal, rtol=0, atol=1e-12)
    data = robust_json(stopped)
    assert (data["samples"], data["samples_drawn"], data["stopped_after"]) == (
        first_miss, SAMPLES, first_miss)


def test_local_workers_keep_the_dynamic_mmap_threshold() -> None:
    """Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` in the workers it starts, which turns off
    glibc's dynamic mmap threshold and made every sample about twice as costly in a worker (the
    measurement is in :data:`irelab.robust.cluster.NANNY_MALLOC_TRIM`); the local cluster's
    workers must start without it (unless this process itself has it)."""
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:
        pytest.skip("this process sets MALLOC_TRIM_THRESHOLD_; its workers inherit it")
    with dask_client(ClusterSettings(workers=1)) as client:
        seen = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert list(seen.values()) == [None]


def test_environment_variable_names_the_scheduler(monkeypatch, scheduler) -> None:
    address, _ = scheduler
    monkeypatch.setenv("IRELAB_DASK_SCHEDULER", address)
    assert ClusterSettings().address() == address
    with dask_client(ClusterSettings(timeout_s=30)) as client:
        assert client.scheduler.address == address


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_error_after_the_timeout() -> None:
    settings = ClusterSettings(scheduler=f"tcp://127.0.0.1:{_closed_port()}", timeout_s=1.0)
    with pytest.raises(InputError) as err:
        with dask_client(settings):
            pass
    assert err.value.key == "--scheduler" and "answering within 1 s" in str(err.value)


def test_malformed_scheduler_address_is_one_error() -> None:
    with pytest.raises(InputError, match="tcp://HOST:PORT"):
        with dask_client(ClusterSettings(scheduler="localhost 8786")):
            pass


def test_outputs_are_ras_nifti_and_pictures(local_result, tmp_path: Path) -> None:
    """SimpleITK reads NIfTI into its LPS world: the map's voxel centres must land where the
    case frame (LPS) puts them, and the tumour centre must hold a high probability."""
    import SimpleITK as sitk

    files = write_robust(local_result, tmp_path)
    assert {f.name for f in files} == {"probability.nii.gz", "probability_axial.png",
                                       "probability_coronal.png", "probability_sagittal.png",
                                       "robust.json"}
    image = sitk.ReadImage(str(tmp_path / "probability.nii.gz"))
    grid = local_result.grid
    for index in ((0, 0, 0), (3, 5, 7), tuple(s - 1 for s in grid.shape)):
        lps = np.asarray(grid.origin_m) * 1e3 + np.asarray(index) * grid.spacing_m * 1e3
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(index), lps, atol=1e-4)
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # SimpleITK arrays are z, y, x
    np.testing.assert_allclose(array, local_result.statistics.probability, atol=1e-6)


def test_missing_optional_dependency_is_one_clear_error(monkeypatch) -> None:
    """An install without the extra stands in as the metadata reporting 'distributed' missing."""
    from importlib import metadata

    real = metadata.distribution

    def distribution(name: str):
        if name == "distributed":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    with pytest.raises(InputError, match=r"pip install 'irelab\[robust\]'"):
        with dask_client(ClusterSettings()):
            pass

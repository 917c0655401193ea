"""Alignment of a plan with the scan it came from, measured on the synthetic abdomen CT.

For the axial (1 x 1 x 2.5 mm) and the oblique (1 x 1 x 3 mm, tilted 12 degrees, turned 15)
series, and each segmentation format, the tumour's centroid in patient LPS mm is compared with
the phantom's analytic centre (-48, -28, -6) at each stage:

- input: the segmentation read onto the CT lattice;
- case: the case's tumour on its 1 mm solver grid (read back from case.yaml);
- plan NIfTI: the plan's labels.nii.gz read back by SimpleITK (RAS -> LPS);
- plan SEG: the exported DICOM SEG's tumour read back by highdicom (its own volume affine);

and the probe tips of the plan are compared with those in the exported 3D Slicer markups and
the CSV. The plan is four anterior probes placed by hand around the tumour (as in the tests),
so no planner run is needed. Run:

    .venv/bin/python benchmarks/imaging_alignment.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from irelab.case import Pair, Probe, Protocol, load_case
from irelab.imaging import (
    PHANTOM_FORMATS,
    PHANTOM_TUMOUR_CENTRE_MM,
    ImageGeometry,
    case_from_images,
    read_line_markup,
    read_trajectory_csv,
    write_phantom,
    write_plan_exports,
)

TRUTH_MM = np.asarray(PHANTOM_TUMOUR_CENTRE_MM)


def centroid_mm(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    return geometry.to_world(np.argwhere(mask)).mean(axis=0)


def anterior_plan(case):
    """Four anterior probes 9 mm around the tumour's centre, tips 12 mm behind it."""
    probes = tuple(Probe(f"P{k + 1}", (float(TRUTH_MM[0] + dx), float(TRUTH_MM[1] + 12),
                                       float(TRUTH_MM[2] + dz)), (0.0, -1.0, 0.0), 1.1, 24.0)
                   for k, (dx, dz) in enumerate([(-9, 0), (9, 0), (0, -9), (0, 9)]))
    return case.with_plan(probes, Protocol(pairs=(Pair("P1", "P2", 2500.0),)))


def _measure(variant: str, out: Path) -> list[dict]:
    import highdicom as hd
    import SimpleITK as sitk

    from irelab.imaging import open_segmentation

    files = write_phantom(out / variant, oblique=variant == "oblique")
    tumour = next(s for s in files.anatomy.structures if s.key == "tumour")
    names = {fmt: tumour.names["slicer" if fmt == "labelmap" else fmt]
             for fmt in PHANTOM_FORMATS}
    half = max(files.series.geometry.spacing_mm) / 2
    rows = []
    for fmt in PHANTOM_FORMATS:
        work = out / f"{variant}-{fmt}"
        case_from_images(files.ct, [files.files[fmt]], names[fmt], work / "case.yaml")
        case = load_case(work / "case.yaml")
        seg = open_segmentation(files.files[fmt], files.series)
        index = [s.name for s in seg.segments].index(names[fmt])
        found = {"input": centroid_mm(seg.mask(index), files.series.geometry)}
        grid = case.grid()
        found["case"] = centroid_mm(case.region_masks(grid)["tumour"],
                                    ImageGeometry.of_grid(grid))
        plan = anterior_plan(case)
        g = plan.grid()
        x, y, z = (c * 1e3 - t for c, t in zip(g.centres_m(), TRUTH_MM, strict=True))
        lethal = x * x + y * y + z * z < 16.0 ** 2
        write_plan_exports(plan, lethal, np.zeros(g.shape), work / "plan", 5.0,
                           created=datetime(2026, 1, 2, tzinfo=UTC))
        image = sitk.ReadImage(str(work / "plan" / "labels.nii.gz"))
        labels = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))
        found["plan NIfTI"] = centroid_mm(labels == plan.tissue_names.index("tumour"),
                                          ImageGeometry.from_sitk(image))
        dseg = hd.seg.segread(str(work / "plan" / "plan-seg.dcm"))
        number = next(n for n in dseg.get_segment_numbers()
                      if dseg.get_segment_description(n).segment_label == "Tumour")
        volume = dseg.get_volume(segment_numbers=[number], combine_segments=True)
        voxels = np.argwhere(np.asarray(volume.array) > 0)
        found["plan SEG"] = (volume.affine @ np.column_stack(
            [voxels, np.ones(len(voxels))]).T)[:3].mean(axis=1)
        csv = {t.probe: t for t in read_trajectory_csv(work / "plan" / "trajectories.csv")}
        tips = max(max(np.linalg.norm(np.asarray(read_line_markup(
            work / "plan" / "trajectories" / f"{p.name}-placement1.mrk.json")[1]) - p.tip_mm),
            np.linalg.norm(np.asarray(csv[p.name].tip_mm) - p.tip_mm)) for p in plan.probes)
        rows.append({"series": variant, "format": fmt, "half_voxel_mm": half,
                     **{k: float(np.linalg.norm(v - TRUTH_MM)) for k, v in found.items()},
                     "tip plan vs markups/CSV": float(tips)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [r for v in ("axial", "oblique") for r in _measure(v, Path(tmp))]
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "load": load}))
        return
    keys = ["input", "case", "plan NIfTI", "plan SEG", "tip plan vs markups/CSV"]
    print("tumour centroid distance from the analytic centre (mm); tips: largest difference (mm)")
    print(f"{'series':8} {'format':10} {'half voxel':>10} " + " ".join(f"{k:>12}" for k in keys))
    for r in rows:
        print(f"{r['series']:8} {r['format']:10} {r['half_voxel_mm']:10.2f} "
              + " ".join(f"{r[k]:12.3f}" for k in keys))
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores)")


if __name__ == "__main__":
    main()

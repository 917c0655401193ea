"""Label-map segmentations read with SimpleITK: one labelled volume, or a folder of one binary
NIfTI file per structure (as TotalSegmentator writes: ``liver.nii.gz``, ``rib_right_7.nii.gz``).

A label map's segment names come from a 3D Slicer colour table beside it (``NAME.ctbl``,
``NAME.txt`` or ``NAME_ColorTable.ctbl`` for ``NAME.nii.gz``: :mod:`irelab.imaging.colours`);
without one, segments are named by their label value (``"3"``), which ``--map 3=liver`` maps.
A folder's segment names are its file names without the suffix. SimpleITK converts NIfTI's RAS
affine to the LPS lattice (:class:`~irelab.imaging.geometry.ImageGeometry`); masks are resampled
onto the CT lattice by nearest neighbour (exact for files on the scan's own lattice).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.colours import read_colour_table
from irelab.imaging.ct import CtSeries
from irelab.imaging.geometry import ImageGeometry
from irelab.imaging.segmentations import (
    LABEL_MAP_SUFFIXES,
    NIFTI_SUFFIXES,
    SegmentInfo,
    check_overlap,
    on_ct,
)

__all__: list[str] = []


def _stem(path: Path, suffixes=LABEL_MAP_SUFFIXES) -> str:
    name = path.name
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read(path: Path):
    """(array ``[i, j, k]``, lattice) of a single-component 3-D label image."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(str(path), "", "a readable label image (NIfTI, NRRD or MetaImage)") \
            from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(str(path), "", "a 3-D single-component label image",
                         f"{image.GetDimension()}-D, {image.GetNumberOfComponentsPerPixel()} "
                         "components")
    array = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))
    if np.issubdtype(array.dtype, np.floating):
        if not np.array_equal(array, np.round(array)):
            raise InputError(str(path), "", "integer labels (a label map, not an intensity "
                             "image)")
        array = array.astype(np.int32)
    return array, ImageGeometry.from_sitk(image)


class LabelMap:
    """A labelled volume; segment names from a colour table beside it, else label values.
    A label the table names but the volume lacks is an empty segment."""

    kind = "label map"

    def __init__(self, path: Path, ct: CtSeries) -> None:
        self.path, self._ct = path, ct
        self._array, self._geometry = _read(path)
        check_overlap(self._geometry, ct, str(path))
        self._present = {int(v) for v in np.unique(self._array) if v != 0}
        names = {}
        for candidate in (f"{_stem(path)}.ctbl", f"{_stem(path)}.txt",
                          f"{_stem(path)}_ColorTable.ctbl"):
            table = path.with_name(candidate)
            if table.is_file():
                names = {e.value: e.name for e in read_colour_table(table)}
                break
        values = sorted(self._present | set(names))
        self._values = tuple(values)
        self.segments = tuple(SegmentInfo(names.get(v, str(v))) for v in values)
        self._on_ct: np.ndarray | None = None

    def mask(self, index: int) -> np.ndarray:
        if self._on_ct is None:
            self._on_ct = self._ct.geometry.resample_labels(self._array, self._geometry)
        value = self._values[index]
        out = self._on_ct == value
        if value in self._present and not out.any():
            raise InputError(str(self.path), f"label {value}", "a segment with voxels inside "
                             "the CT scan's field of view", "all of it outside")
        return out


class NiftiFolder:
    """One binary NIfTI file per structure; the file name is the segment's name."""

    kind = "per-structure NIfTI folder"

    def __init__(self, path: Path, ct: CtSeries) -> None:
        self.path, self._ct = path, ct
        self._files = tuple(sorted(p for p in path.iterdir()
                                   if p.is_file() and p.name.lower().endswith(NIFTI_SUFFIXES)))
        self.segments = tuple(SegmentInfo(_stem(p, NIFTI_SUFFIXES)) for p in self._files)

    def mask(self, index: int) -> np.ndarray:
        file = self._files[index]
        array, geometry = _read(file)
        check_overlap(geometry, self._ct, str(file))
        return on_ct(array != 0, geometry, self._ct, str(file), self.segments[index].name)

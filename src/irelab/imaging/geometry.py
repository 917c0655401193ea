"""Where an image's voxels are in the patient: the voxel lattice in patient LPS millimetres.

DICOM and ITK place voxel ``(i, j, k)`` at ``origin + D @ (spacing * (i, j, k))`` in the
patient's LPS frame (x towards the patient's left, y posterior, z superior), where the columns of
the direction matrix ``D`` are the index axes' directions (DICOM PS3.3 C.7.6.2.1.1, Image
Position and Orientation (Patient)). An oblique acquisition has a ``D`` that is not a signed
permutation. Arrays are indexed ``[i, j, k]`` (``i`` along a row, ``j`` down the columns, ``k``
across slices), as the solver's grid is.

NIfTI files are RAS; this module never writes one (the one NIfTI writer is
:mod:`irelab.simulation.output`) and reads them only through SimpleITK, which converts to LPS.
Resampling between lattices is SimpleITK's (nearest neighbour for labels); where two lattices
coincide it is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from irelab.field.problem import Grid

__all__ = ["ImageGeometry"]

AXIS_TOLERANCE = 1e-4
"""Direction cosines within this of 0 or +-1 count as axis-aligned (DICOM stores them as
decimal strings of up to 16 characters; scanners write 1e-6 to 1e-5 round-off)."""


@dataclass(frozen=True)
class ImageGeometry:
    """An image's voxel lattice in patient LPS millimetres.

    ``origin_mm`` is the centre of voxel ``(0, 0, 0)``; ``direction`` is the direction matrix
    row by row (ITK's ``GetDirection()`` order): its column ``a`` is the unit vector of index
    axis ``a``.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        d = self.matrix
        if not np.allclose(d.T @ d, np.eye(3), atol=1e-3):
            raise ValueError("the direction matrix must be orthonormal")
        if any(s <= 0 for s in self.spacing_mm):
            raise ValueError("voxel spacing must be positive")

    @classmethod
    def from_affine(cls, shape: Sequence[int], affine_lps: np.ndarray) -> ImageGeometry:
        """The lattice of a 4x4 index-to-LPS affine (the columns carry spacing and direction)."""
        a = np.asarray(affine_lps, dtype=float)
        spacing = np.linalg.norm(a[:3, :3], axis=0)
        direction = a[:3, :3] / spacing
        return cls(tuple(int(n) for n in shape), tuple(float(s) for s in spacing),
                   tuple(float(o) for o in a[:3, 3]), tuple(float(v) for v in direction.ravel()))

    @classmethod
    def of_grid(cls, grid: Grid) -> ImageGeometry:
        """The solver grid as an image lattice (axis-aligned, cubic voxels)."""
        h = grid.spacing_m * 1e3
        return cls(tuple(grid.shape), (h, h, h), tuple(o * 1e3 for o in grid.origin_m))

    @classmethod
    def from_sitk(cls, image) -> ImageGeometry:
        return cls(tuple(int(n) for n in image.GetSize()),
                   tuple(float(s) for s in image.GetSpacing()),
                   tuple(float(o) for o in image.GetOrigin()),
                   tuple(float(v) for v in image.GetDirection()))

    @property
    def matrix(self) -> np.ndarray:
        """The direction matrix (columns: index axes in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def affine(self) -> np.ndarray:
        """The 4x4 affine from ``(i, j, k, 1)`` to LPS mm."""
        out = np.eye(4)
        out[:3, :3] = self.matrix * np.asarray(self.spacing_mm)
        out[:3, 3] = self.origin_mm
        return out

    def to_world(self, index: np.ndarray) -> np.ndarray:
        """LPS mm of (continuous) indices ``(..., 3)``."""
        a = self.affine()
        return np.asarray(index, dtype=float) @ a[:3, :3].T + a[:3, 3]

    def to_index(self, world_mm: np.ndarray) -> np.ndarray:
        """Continuous indices of LPS points ``(..., 3)`` (voxel centres are integers)."""
        a = self.affine()
        return (np.asarray(world_mm, dtype=float) - a[:3, 3]) @ np.linalg.inv(a[:3, :3]).T

    def corners_mm(self) -> np.ndarray:
        """The 8 outer corners of the image (voxel faces, not centres), LPS mm."""
        n = np.asarray(self.shape)
        corners = np.array([[i, j, k] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5)
                            for k in (-0.5, n[2] - 0.5)])
        return self.to_world(corners)

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper LPS corner of the axis-aligned box holding the image."""
        corners = self.corners_mm()
        return corners.min(axis=0), corners.max(axis=0)

    def world_axis(self, index_axis: int) -> int | None:
        """The LPS axis that index axis ``index_axis`` runs along, or None when it is oblique."""
        column = np.abs(self.matrix[:, index_axis])
        best = int(np.argmax(column))
        return best if abs(column[best] - 1.0) <= AXIS_TOLERANCE else None

    @property
    def axis_aligned(self) -> bool:
        """Whether every index axis runs along an LPS axis (a signed permutation)."""
        return all(self.world_axis(a) is not None for a in range(3))

    def contains(self, world_mm: np.ndarray) -> np.ndarray:
        """Whether LPS points lie inside the image (within its outer voxel faces)."""
        idx = self.to_index(world_mm)
        return np.all((idx >= -0.5) & (idx <= np.asarray(self.shape) - 0.5), axis=-1)

    def sample(self, volume: np.ndarray, world_mm: np.ndarray, outside: int = 0) -> np.ndarray:
        """The value of the voxel holding each LPS point (nearest neighbour), ``outside``
        beyond the image."""
        idx = np.rint(self.to_index(world_mm)).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < np.asarray(self.shape)), axis=-1)
        out = np.full(idx.shape[:-1], outside, dtype=volume.dtype)
        ok = idx[inside]
        out[inside] = volume[ok[:, 0], ok[:, 1], ok[:, 2]]
        return out

    def overlaps(self, other: ImageGeometry) -> bool:
        """Whether the two images' bounding boxes share some volume."""
        lo, hi = self.bounds_mm()
        olo, ohi = other.bounds_mm()
        return bool(np.all(hi > olo) and np.all(ohi > lo))

    def to_sitk(self, array: np.ndarray):
        """A SimpleITK image of ``array`` (indexed ``[i, j, k]``) on this lattice."""
        import SimpleITK as sitk

        if tuple(array.shape) != tuple(self.shape):
            raise ValueError(f"array of shape {array.shape} on a lattice of {self.shape}")
        image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array, (2, 1, 0))))
        image.SetSpacing(self.spacing_mm)
        image.SetOrigin(self.origin_mm)
        image.SetDirection(self.direction)
        return image

    def resample_labels(self, image, source_geometry: ImageGeometry | None = None) -> np.ndarray:
        """A label image (SimpleITK, or an ``[i, j, k]`` array on ``source_geometry``) on this
        lattice by nearest neighbour (0 outside it), indexed ``[i, j, k]``.

        Exact where the lattices coincide (a sub-box of the same scan, as Slicer and
        TotalSegmentator write); otherwise each voxel takes the label of the source voxel
        holding its centre, so boundaries move by at most half a source voxel per axis.
        """
        import SimpleITK as sitk

        if source_geometry is not None:
            image = source_geometry.to_sitk(image)
        reference = sitk.Image([int(n) for n in self.shape], image.GetPixelID())
        reference.SetSpacing(self.spacing_mm)
        reference.SetOrigin(self.origin_mm)
        reference.SetDirection(self.direction)
        if ImageGeometry.from_sitk(image) == self:
            resampled = image
        else:
            resampled = sitk.Resample(image, reference, sitk.Transform(),
                                      sitk.sitkNearestNeighbor, 0, image.GetPixelID())
        return np.transpose(sitk.GetArrayFromImage(resampled), (2, 1, 0))

    def resample_mask(self, mask: np.ndarray, source_geometry: ImageGeometry) -> np.ndarray:
        """A mask on ``source_geometry`` brought onto this lattice as the case reader brings
        labels onto the solver grid: its indicator interpolated linearly, kept where it reaches
        one half (ties inside, so a structure keeps its centroid; exact where the lattices'
        centres coincide)."""
        import SimpleITK as sitk

        image = source_geometry.to_sitk(mask.astype(np.float32))
        reference = sitk.Image([int(n) for n in self.shape], sitk.sitkFloat32)
        reference.SetSpacing(self.spacing_mm)
        reference.SetOrigin(self.origin_mm)
        reference.SetDirection(self.direction)
        resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                                  sitk.sitkFloat32)
        return np.transpose(sitk.GetArrayFromImage(resampled), (2, 1, 0)) >= 0.5 - 1e-6

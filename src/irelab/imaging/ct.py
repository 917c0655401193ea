"""CT scans: the one reader (a DICOM series, or a NIfTI/NRRD/MetaImage volume) and the one
DICOM CT series writer (the synthetic phantom's).

A DICOM directory may hold other objects (a SEG or RTSTRUCT beside the slices): only CT Image
Storage instances count. The reader refuses, each with one :class:`~irelab.errors.InputError`
naming the path: no CT (another modality), more than one CT series (mixed series), slices of
different size or orientation, slices not stacked along their normal (gantry tilt), two slices
at one position, missing slices (a gap that is a whole multiple of the others) and otherwise
non-uniform spacing. Oblique series (any orthonormal Image Orientation (Patient)) are read as
they are: the lattice carries their direction cosines (:class:`ImageGeometry`).

Geometry (DICOM PS3.3 C.7.6.2.1.1): index ``i`` runs along a row (the first three direction
cosines, spaced by the second Pixel Spacing value), ``j`` down the columns (the last three,
spaced by the first value), ``k`` across slices along their normal, in increasing order of
position. Pixel values become Hounsfield units through each slice's Rescale Slope and Intercept.
pydicom reads the headers and pixels (SimpleITK's series reader would sort and stack too, but
hides the reasons a series is refused, which are what a person needs to fix it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.geometry import ImageGeometry

__all__ = ["CtSeries", "read_ct", "write_ct_series"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
"""CT Image Storage SOP Class UID (DICOM PS3.4, Annex B.5)."""
IMAGE_MODALITIES = {"MR", "PT", "NM", "US", "CR", "DX", "XA", "RF", "MG", "OT", "SC"}
"""Image modalities that are refused with their name (a SEG, RTSTRUCT or SR beside the CT slices
is skipped instead)."""

POSITION_TOLERANCE_MM = 0.01
"""Slice positions agree when within 0.01 mm (DICOM decimal strings carry 16 characters; scanners
round positions to 1e-3 to 1e-5 mm), or 0.1 % of the spacing when that is larger."""

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass(frozen=True, eq=False)
class CtSeries:
    """A CT scan in Hounsfield units on its lattice, with the DICOM identities exports refer to.

    ``headers`` holds one pydicom dataset per slice in ``k`` order (without pixel data), empty
    when the scan was not DICOM (then no DICOM object can reference it).
    """

    geometry: ImageGeometry
    hu: np.ndarray
    source: str
    series_uid: str | None = None
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    description: str = ""
    headers: tuple = field(default=(), repr=False)

    @property
    def is_dicom(self) -> bool:
        return bool(self.headers)

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        return tuple(str(h.SOPInstanceUID) for h in self.headers)


def _is_volume_file(path: Path) -> bool:
    return path.is_file() and any(path.name.lower().endswith(s) for s in VOLUME_SUFFIXES)


def read_ct(path: str | Path) -> CtSeries:
    """Read a CT: a DICOM directory, one DICOM file of a series (its directory's slices of that
    series are read), or a NIfTI/NRRD/MetaImage volume in Hounsfield units."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(source, "", "an existing DICOM directory, DICOM file or CT volume file")
    if _is_volume_file(path):
        return _read_volume(path)
    headers = _dicom_headers(path)
    return _read_series(headers, source)


def _read_volume(path: Path) -> CtSeries:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(str(path), "", "a readable CT volume (NIfTI, NRRD or MetaImage)") \
            from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(str(path), "", "a 3-D single-component CT volume")
    geometry = ImageGeometry.from_sitk(image)
    hu = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)).astype(np.float32)
    return CtSeries(geometry, hu, str(path), description=path.name)


def _dicom_headers(path: Path) -> list:
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    headers = []
    for file in files:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue
        ds.filename = str(file)
        headers.append(ds)
    if not headers:
        raise InputError(str(path), "", "a DICOM CT series (no DICOM file found)")
    if path.is_file():
        chosen = headers[0]
        modality = str(chosen.get("Modality", ""))
        if modality != "CT":
            raise InputError(str(path), "Modality", "a CT image (modality CT)", modality)
        siblings = _dicom_headers(path.parent)
        headers = [h for h in siblings if h.get("SeriesInstanceUID") == chosen.SeriesInstanceUID]
    return headers


def _read_series(headers: list, source: str) -> CtSeries:
    cts = [h for h in headers if h.get("Modality") == "CT" and "PixelSpacing" in h]
    if not cts:
        others = sorted({str(h.get("Modality", "?")) for h in headers
                         if str(h.get("Modality", "")) in IMAGE_MODALITIES})
        raise InputError(source, "Modality", "a CT series (modality CT)",
                         ", ".join(others) if others else "no image slices")
    series = {}
    for h in cts:
        series.setdefault(str(h.SeriesInstanceUID), []).append(h)
    if len(series) > 1:
        listed = "; ".join(f"{uid} ({len(s)} slices, "
                           f"{str(s[0].get('SeriesDescription', '')) or 'no description'})"
                           for uid, s in series.items())
        raise InputError(source, "SeriesInstanceUID", "one CT series (mixed series: give the "
                         "directory of one series, or one of its files)", listed)
    slices = next(iter(series.values()))
    if str(slices[0].get("SOPClassUID", "")) != CT_IMAGE_STORAGE or \
            int(slices[0].get("NumberOfFrames", 1) or 1) != 1:
        raise InputError(source, "SOPClassUID", "single-frame CT Image Storage slices "
                         "(enhanced multi-frame CT is not supported)")
    geometry, order = _stack(slices, source)
    slices = [slices[i] for i in order]
    hu = _pixels(slices, source)
    first = slices[0]
    return CtSeries(geometry=geometry, hu=hu, source=source,
                    series_uid=str(first.SeriesInstanceUID),
                    study_uid=str(first.get("StudyInstanceUID", "")) or None,
                    frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")) or None,
                    description=str(first.get("SeriesDescription", "")),
                    headers=tuple(slices))


def _same(values: Sequence, what: str, source: str) -> np.ndarray:
    arrays = np.array([np.asarray(v, dtype=float) for v in values])
    if not np.allclose(arrays, arrays[0], atol=1e-4):
        raise InputError(source, what, f"one {what} for every slice of the series",
                         f"{len(np.unique(arrays.round(4), axis=0))} different values")
    return arrays[0]


def _stack(slices: list, source: str) -> tuple[ImageGeometry, np.ndarray]:
    """The series' lattice and the slice order along the normal (checks stacking and gaps)."""
    iop = _same([s.ImageOrientationPatient for s in slices], "ImageOrientationPatient", source)
    spacing = _same([s.PixelSpacing for s in slices], "PixelSpacing", source)
    size = _same([(s.Rows, s.Columns) for s in slices], "Rows/Columns", source)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    if abs(np.linalg.norm(normal) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise InputError(source, "ImageOrientationPatient", "two orthogonal unit vectors",
                         iop.tolist())
    positions = np.array([np.asarray(s.ImagePositionPatient, dtype=float) for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    in_plane = positions - np.outer(along, normal)
    if len(slices) > 1 and np.abs(in_plane - in_plane[0]).max() > POSITION_TOLERANCE_MM:
        raise InputError(source, "ImagePositionPatient", "slices stacked along the normal of "
                         "their orientation (a gantry-tilted or sheared series is not supported)")
    if len(slices) < 2:
        raise InputError(source, "", "a CT series of at least two slices", len(slices))
    gaps = np.diff(along)
    step = float(np.median(gaps))
    tol = max(POSITION_TOLERANCE_MM, 1e-3 * step)
    if gaps.min() <= tol:
        k = int(np.argmin(gaps))
        raise InputError(source, "ImagePositionPatient", "one slice per position",
                         f"two slices at {along[k]:.3f} mm along the normal")
    bad = np.flatnonzero(np.abs(gaps - step) > tol)
    if bad.size:
        k = int(bad[0])
        ratio = gaps[k] / step
        if abs(ratio - round(ratio)) * step <= tol and round(ratio) >= 2:
            raise InputError(source, "ImagePositionPatient", "a series without missing slices",
                             f"{round(ratio) - 1} slice(s) missing between {along[k]:.2f} and "
                             f"{along[k + 1]:.2f} mm along the normal")
        raise InputError(source, "ImagePositionPatient", f"uniform slice spacing ({step:g} mm)",
                         f"{gaps[k]:.3f} mm between {along[k]:.2f} and {along[k + 1]:.2f} mm")
    direction = np.column_stack([row, col, normal])
    geometry = ImageGeometry(shape=(int(size[1]), int(size[0]), len(slices)),
                             spacing_mm=(float(spacing[1]), float(spacing[0]), step),
                             origin_mm=tuple(float(v) for v in positions[0]),
                             direction=tuple(float(v) for v in direction.ravel()))
    return geometry, order


def _pixels(slices: list, source: str) -> np.ndarray:
    import pydicom

    planes = []
    for header in slices:
        ds = pydicom.dcmread(header.filename)
        try:
            pixels = ds.pixel_array.astype(np.float32)
        except (AttributeError, ValueError, RuntimeError, NotImplementedError) as exc:
            raise InputError(header.filename, "PixelData", "pixel data pydicom can decode",
                             str(exc).splitlines()[0]) from None
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        planes.append((pixels * slope + intercept).T)  # (rows, columns) -> [i, j]
    return np.ascontiguousarray(np.stack(planes, axis=-1))


def write_ct_series(hu: np.ndarray, geometry: ImageGeometry, out_dir: str | Path, *,
                    study_uid: str, series_uid: str, frame_of_reference_uid: str,
                    patient_id: str, description: str, study_date: str,
                    slice_thickness_mm: float | None = None) -> list[Path]:
    """Write ``hu`` (indexed ``[i, j, k]``) as single-frame CT Image Storage slices
    ``ct_0001.dcm``... under ``out_dir``: stored unsigned with Rescale Intercept -1024 (the usual
    scanner encoding), UIDs derived from the series UID so that the same input gives the same
    files."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    d = geometry.matrix
    if not np.allclose(np.cross(d[:, 0], d[:, 1]), d[:, 2], atol=1e-6):
        raise ValueError("a DICOM slice stack needs k along the normal of (i, j)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stored = np.clip(np.rint(hu + 1024), 0, 4095).astype(np.uint16)
    files = []
    for k in range(geometry.shape[2]):
        sop_uid = generate_uid(entropy_srcs=[series_uid, str(k)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, sop_uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PatientName, ds.PatientID = f"{patient_id}^", patient_id
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
        ds.Modality, ds.Manufacturer = "CT", "irelab synthetic phantom"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.SeriesDescription = description
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.PositionReferenceIndicator = ""
        ds.ImageOrientationPatient = [float(v) for v in (*d[:, 0], *d[:, 1])]
        ds.ImagePositionPatient = [float(v) for v in geometry.to_world(np.array([0, 0, k]))]
        ds.PixelSpacing = [float(geometry.spacing_mm[1]), float(geometry.spacing_mm[0])]
        ds.SliceThickness = float(slice_thickness_mm or geometry.spacing_mm[2])
        ds.Rows, ds.Columns = int(geometry.shape[1]), int(geometry.shape[0])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 60, 400
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        path = out_dir / f"ct_{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files

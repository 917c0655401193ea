"""The ``irelab case`` commands: cases from patient images.

``irelab case from-images --ct CT --seg SEG [--seg SEG2 ...] --tumour NAME [--map NAME=KEY ...]
--out case.yaml`` reads a CT and its segmentations and writes a case (and its label volume)
cropped around the tumour in the patient's LPS millimetres. ``irelab case approaches case.yaml``
lists the feasible insertion approaches of such a case. Results go to stdout (``--json`` for
machines), notes to stderr. Exit codes: 0 done, 2 bad input (one line naming the file and what
was expected).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

case_app = typer.Typer(help="Cases from patient images: a CT and its segmentations.",
                       no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _mapping(pairs: list[str]) -> dict[str, str]:
    from irelab.errors import InputError

    out = {}
    for text in pairs:
        name, sep, key = text.rpartition("=")
        if not sep or not name.strip() or not key.strip():
            raise InputError("--map", "", "NAME=STRUCTURE (a segment name, then liver, tumour, "
                             "portal_vein, ..., obstacle names, body or ignore)", text)
        out[name.strip()] = key.strip()
    return out


@case_app.command("from-images")
def from_images(
    ct: Annotated[Path, typer.Option("--ct", help="CT: a DICOM series directory or file, or a "
                                     "NIfTI/NRRD volume.")],
    seg: Annotated[list[Path], typer.Option("--seg", help="Segmentation: DICOM SEG, RTSTRUCT, "
                                            "Slicer .seg.nrrd, label map, or a folder of "
                                            "per-structure NIfTI files (repeatable).")],
    tumour: Annotated[str, typer.Option("--tumour", help="Name of the tumour segment "
                                        "(the target).")],
    out: Annotated[Path, typer.Option("--out", help="Case file to write (its label volume "
                                      "NAME-labels.seg.nrrd goes beside it).")],
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="NAME=STRUCTURE: what a segment is (liver, tumour, portal_vein, "
        "hepatic_vein, ivc, bile_duct, rib, bowel, body, ..., or ignore); repeatable.")] = None,
    margin_mm: Annotated[float, typer.Option("--margin-mm", help="Target margin (mm).")] = 5.0,
    pad_mm: Annotated[float, typer.Option("--pad-mm", help="Room around tumour + margin for "
                                          "probes and zone (mm).")] = 15.0,
    spacing_mm: Annotated[float, typer.Option("--spacing-mm", help="Solver grid spacing "
                                              "(mm).")] = 1.0,
    as_json: Json = False,
) -> None:
    """Make a case from a CT and its segmentations, cropped around the tumour."""
    from rich.console import Console

    from irelab.imaging import ImageCaseOptions, case_from_images

    console = Console(stderr=True)
    with console.status("reading the CT and segmentations"):
        made = case_from_images(ct, seg, tumour, out, _mapping(mapping or []),
                                ImageCaseOptions(margin_mm, pad_mm, spacing_mm))
    data = made.to_json()
    for ignored in made.ignored:
        console.print(f"[yellow]note[/yellow]: segment {ignored} matches no known structure "
                      "and is left out (--map NAME=STRUCTURE to use it)")
    if made.outside_liver_fraction:
        console.print(f"[yellow]note[/yellow]: {made.outside_liver_fraction:.0%} of the domain "
                      "lies outside the segmented tissues and is modelled as liver")
    if as_json:
        print(json.dumps(data))
        return
    _print_summary(data)


def _print_summary(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    d = data["domain"]
    aligned = "".join("xyz"[a] for a, ok in enumerate(data["aligned_with_ct"]) if ok)
    console.print(f"wrote {data['case']} and {data['labels']}")
    console.print(f"domain {' x '.join(f'{v:g}' for v in d['size_mm'])} mm at "
                  f"{d['spacing_mm']:g} mm, centred at {d['center_mm']} (patient LPS); grid "
                  f"aligned with the CT's voxels along {aligned or 'no axis'}")
    console.print(f"tumour {data['tumour']['volume_cm3']} cm3, centroid "
                  f"{data['tumour']['centroid_mm']} mm")
    table = Table("label", "segment", "structure", "from")
    for s in data["structures"]:
        table.add_row(str(s["label"]), s["name"], s["structure"], Path(s["source"]).name)
    console.print(table)


@case_app.command("approaches")
def approaches(
    case_file: Annotated[Path, typer.Argument(help="A case made by case from-images.")],
    margin_mm: Annotated[float, typer.Option("--margin-mm", help="Target margin (mm).")] = 5.0,
    as_json: Json = False,
) -> None:
    """List feasible insertion approaches (clear of obstacles and critical structures)."""
    from rich.console import Console
    from rich.table import Table

    from irelab.case import load_case
    from irelab.imaging import propose_approaches

    proposals = propose_approaches(load_case(case_file), margin_mm)
    if as_json:
        print(json.dumps([a.to_json() for a in proposals]))
        return
    if not proposals:
        Console(stderr=True).print("no feasible approach: every direction tried crosses an "
                                   "obstacle or a critical structure, or is too deep")
        return
    table = Table("approach", "direction (LPS)", "skin to target centre (mm)")
    for a in proposals:
        table.add_row(a.label, ",".join(f"{v:.3f}" for v in a.direction), f"{a.depth_mm:.0f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``irelab case``."""
    app.add_typer(case_app, name="case")

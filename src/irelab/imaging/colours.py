"""Legends of label volumes: the one reader and writer of 3D Slicer colour tables (``.ctbl``).

Format (3D Slicer developer guide, Colors module, "Color table file format (.txt, .ctbl)"): a
header line ``# Color table file ...``, then one line per label ``value name R G B A`` with
integer colours 0-255 and spaces in names replaced by underscores. Slicer applies such a table
to a label volume loaded beside it, so a written ``labels.nii.gz`` shows named, coloured tissues.
Label-map segmentations given to ``irelab case from-images`` may carry their names in a table
next to them (``labels.nii.gz`` + ``labels.ctbl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from irelab.errors import InputError

__all__ = ["LegendEntry", "read_colour_table", "write_colour_table", "colour_of"]

FALLBACK_COLOURS = ((128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210),
                    (216, 101, 79), (221, 130, 101), (144, 238, 144), (192, 104, 88))
"""Colours for names no known structure matches (3D Slicer's first generic anatomy colours,
a display choice)."""


@dataclass(frozen=True)
class LegendEntry:
    """One label of a label volume: its value, name and display colour (0-255 RGB)."""

    value: int
    name: str
    colour: tuple[int, int, int]


def colour_of(name: str, index: int = 0) -> tuple[int, int, int]:
    """The display colour of a structure or tissue called ``name``."""
    from irelab.imaging.terms import match_term

    term = match_term(name)
    return term.colour if term is not None else FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]


def write_colour_table(path: str | Path, entries: Sequence[LegendEntry]) -> Path:
    """Write ``entries`` (label 0 is written as transparent background when not given)."""
    path = Path(path)
    rows = list(entries)
    if all(e.value != 0 for e in rows):
        rows.insert(0, LegendEntry(0, "background", (0, 0, 0)))
    lines = [f"# Color table file {path.name}", f"# {len(rows)} values"]
    for e in sorted(rows, key=lambda e: e.value):
        alpha = 0 if e.value == 0 else 255
        name = "_".join(e.name.split()) or f"label_{e.value}"
        lines.append(f"{e.value} {name} {e.colour[0]} {e.colour[1]} {e.colour[2]} {alpha}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_colour_table(path: str | Path) -> tuple[LegendEntry, ...]:
    """The labels of a colour table (background 0 left out)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise InputError(str(path), "", "a readable UTF-8 3D Slicer colour table") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            value = int(fields[0])
            colour = tuple(int(v) for v in fields[2:5])
        except ValueError:
            value, colour = -1, ()
        if len(fields) < 5 or value < 0 or len(colour) != 3:
            raise InputError(str(path), f"line {number}", "'value name R G B [A]'", line)
        if value:
            entries.append(LegendEntry(value, fields[1], colour))
    return tuple(entries)

"""The probes as placed, read from tips CSV, Slicer line markups or pair spacings: the same probe
from each form, deviations by hand, the spacing reconstruction against known arrangements, and
bad input refused with the file and row named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from irelab.case import load_case
from irelab.errors import InputError
from irelab.procedure import MeasuredKind, read_measured

TILT = math.radians(3.0)
HEADER_TIPS = "name,tip_x_mm,tip_y_mm,tip_z_mm,entry_x_mm,entry_y_mm,entry_z_mm\n"
PLANNED = {"P1": (5, 5, -8), "P2": (-5, 5, -8), "P3": (-5, -5, -8), "P4": (5, -5, -8)}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _tips(tmp_path: Path, rows: dict[str, tuple], name: str = "measured.csv") -> Path:
    """Tips with an entry point 20 mm up the (possibly tilted) shaft."""
    lines = []
    for probe, (tip, u) in rows.items():
        entry = np.asarray(tip) + 20 * np.asarray(u)
        lines.append(",".join([probe, *(f"{c:.6f}" for c in (*tip, *entry))]))
    return _write(tmp_path, name, HEADER_TIPS + "\n".join(lines) + "\n")


def _as_placed(moved: dict[str, tuple] | None = None) -> dict[str, tuple]:
    rows = {n: (tip, (0.0, 0.0, 1.0)) for n, tip in PLANNED.items()}
    rows.update(moved or {})
    return rows


P1_MOVED = ((7.0, 5.0, -7.0), (math.sin(TILT), 0.0, math.cos(TILT)))


def test_entry_points_and_directions_give_the_same_probes(square, tmp_path) -> None:
    by_entry = read_measured(_tips(tmp_path, _as_placed({"P1": P1_MOVED})), square)
    u = P1_MOVED[1]
    text = "name,tip_x_mm,tip_y_mm,tip_z_mm,direction_x,direction_y,direction_z\n" + "".join(
        f"{n},{t[0]},{t[1]},{t[2]},{d[0]},{d[1]},{d[2]}\n"
        for n, (t, d) in _as_placed({"P1": (P1_MOVED[0], tuple(5 * c for c in u))}).items())
    by_direction = read_measured(_write(tmp_path, "dir.csv", text), square)
    assert by_entry.kind == by_direction.kind == MeasuredKind.TIPS
    for a, b in zip(by_entry.probes, by_direction.probes, strict=True):
        assert np.allclose(a.tip_mm, b.tip_mm) and np.allclose(a.direction, b.direction)
        assert a.exposed_mm == 16 and a.diameter_mm == 1.1  # the plan's electrode


def test_deviations_by_hand(square, tmp_path) -> None:
    """P1's tip moved 2 mm across its axis and 1 mm towards the entry, tilted 3 degrees."""
    measured = read_measured(_tips(tmp_path, _as_placed({"P1": P1_MOVED})), square)
    first, *others = measured.deviations(square)
    assert (first.lateral_mm, first.depth_mm) == pytest.approx((2.0, 1.0))
    assert first.angle_deg == pytest.approx(3.0, abs=1e-6)
    assert all(d.lateral_mm == d.depth_mm == d.angle_deg == 0 for d in others)


def _markups(points: dict[str, list[dict]], frame: str = "LPS", units: str = "mm") -> str:
    """Slicer markups JSON (markups-schema-v1.0.3 keys) with one line per probe."""
    return json.dumps({
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                   "Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{"type": "Fiducial", "coordinateSystem": "LPS", "controlPoints": []}] + [
            {"type": "Line", "name": name, "coordinateSystem": frame, "coordinateUnits": units,
             "controlPoints": cps} for name, cps in points.items()]})


def _line(tip, entry, scale=(1, 1, 1), labels=True) -> list[dict]:
    tip = [c * s for c, s in zip(tip, scale, strict=True)]
    entry = [c * s for c, s in zip(entry, scale, strict=True)]
    if labels:  # tip first, labelled: order does not matter then
        return [{"label": "tip", "position": tip, "positionStatus": "defined"},
                {"label": "entry", "position": entry, "positionStatus": "defined"}]
    return [{"label": "L-1", "position": entry}, {"label": "L-2", "position": tip}]


def test_slicer_lines_in_lps_mm_or_ras_um_give_the_same_probes(square, tmp_path) -> None:
    rows = _as_placed({"P1": P1_MOVED})
    ends = {n: (t, tuple(np.asarray(t) + 20 * np.asarray(u))) for n, (t, u) in rows.items()}
    lps = _markups({n: _line(*e) for n, e in ends.items()})
    ras = _markups({n: _line(*e, scale=(-1000, -1000, 1000), labels=False)
                    for n, e in ends.items()}, frame="RAS", units="um")
    csv = read_measured(_tips(tmp_path, rows), square)
    for text in (lps, ras):
        got = read_measured(_write(tmp_path, "probes.mrk.json", text), square)
        assert got.kind == MeasuredKind.MARKUPS
        for a, b in zip(got.probes, csv.probes, strict=True):
            assert np.allclose(a.tip_mm, b.tip_mm) and np.allclose(a.direction, b.direction)


def _spacings(tmp_path: Path, rows: list[tuple[str, str, float]]) -> Path:
    return _write(tmp_path, "spacings.csv", "anode,cathode,spacing_mm\n" + "".join(
        f"{a},{c},{d}\n" for a, c, d in rows))


def _all_spacings(points: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
    names = list(points)
    return [(a, b, float(np.linalg.norm(points[a] - points[b])))
            for i, a in enumerate(names) for b in names[i + 1:]]


def test_the_planned_spacings_leave_the_probes_where_planned(square, tmp_path) -> None:
    planned = {n: np.asarray(t[:2], dtype=float) for n, t in PLANNED.items()}
    got = read_measured(_spacings(tmp_path, _all_spacings(planned)), square)
    assert got.kind == MeasuredKind.SPACINGS and got.residual_mm == pytest.approx(0, abs=1e-9)
    for probe, planned_probe in zip(got.probes, square.probes, strict=True):
        assert np.allclose(probe.tip_mm, planned_probe.tip_mm, atol=1e-9)


def test_spacings_of_a_moved_probe_are_reproduced_and_fit_the_plan_best(square,
                                                                      tmp_path) -> None:
    """All six spacings of the square with P1 moved 2 mm out and 1 mm sideways: the
    arrangement has exactly those spacings (any rigid placement does) and, placed by
    Procrustes, lies no further from the plan than the true one (least squares)."""
    truth = {n: np.asarray(t[:2], dtype=float) for n, t in PLANNED.items()}
    truth["P1"] = truth["P1"] + np.array([2.0, 1.0])
    got = read_measured(_spacings(tmp_path, _all_spacings(truth)), square)
    tips = {p.name: np.asarray(p.tip_mm) for p in got.probes}
    for a, b, d in _all_spacings(truth):
        assert np.linalg.norm(tips[a] - tips[b]) == pytest.approx(d, abs=1e-9)
    assert all(t[2] == -8 for t in tips.values())  # depth as planned
    moved = sum(np.sum((tips[n][:2] - np.asarray(PLANNED[n][:2])) ** 2) for n in PLANNED)
    true_moved = sum(np.sum((truth[n] - np.asarray(PLANNED[n][:2])) ** 2) for n in PLANNED)
    assert moved <= true_moved + 1e-9


def test_one_measured_spacing_of_two_probes_moves_both_apart(tmp_path) -> None:
    path = _write(tmp_path, "pair.yaml", """\
name: pair
domain: {size_mm: [40, 40, 40], spacing_mm: 1.0}
probes:
  - {name: A, tip_mm: [-5, 0, -8], direction: [0, 0, 1], exposed_mm: 16}
  - {name: B, tip_mm: [5, 0, -8], direction: [0, 0, 1], exposed_mm: 16}
protocol:
  pairs: [{anode: A, cathode: B, voltage_V: 1500}]
""")
    got = read_measured(_spacings(tmp_path, [("B", "A", 12.0)]), load_case(path))
    assert [p.tip_mm for p in got.probes] == [pytest.approx((-6, 0, -8)),
                                              pytest.approx((6, 0, -8))]


def _bad(text: str) -> str:
    return HEADER_TIPS + text


OK = {n: f"{n},{t[0]},{t[1]},{t[2]},{t[0]},{t[1]},{t[2] + 20}" for n, t in PLANNED.items()}


@pytest.mark.parametrize(("rows", "key"), [
    ([OK["P1"].replace(",5,5,-8,", ",nan,5,-8,"), OK["P2"], OK["P3"], OK["P4"]],
     "line 2.tip_x_mm"),
    ([OK["P1"], "P9,0,0,-8,0,0,12", OK["P3"], OK["P4"]], "line 3.name"),
    ([OK["P1"], OK["P1"], OK["P3"], OK["P4"]], "line 3.name"),
    ([OK["P1"], OK["P2"], OK["P3"]], ""),
    ([OK["P1"], "P2,4.5,5,-8,4.5,5,12", OK["P3"], OK["P4"]], "line 3"),
    (["P1,5,5,-8,5,5,-28", OK["P2"], OK["P3"], OK["P4"]], "line 2"),
    (["P1,5,5,-8,5,5,-8", OK["P2"], OK["P3"], OK["P4"]], "line 2"),
    (["P1,20.5,5,-8,20.5,5,12", OK["P2"], OK["P3"], OK["P4"]], "line 2"),
    ([OK["P1"], OK["P2"] + ",7", OK["P3"], OK["P4"]], "line 3"),
])
def test_bad_tips_name_the_file_and_row(square, tmp_path, rows, key) -> None:
    """NaN, unknown probe, a probe twice, one missing, P2 inside P1 (0.5 mm apart), tip and
    entry swapped, entry on the tip, a tip outside the 40 mm domain, a row too long."""
    path = _write(tmp_path, "bad.csv", _bad("\n".join(rows) + "\n"))
    with pytest.raises(InputError) as bad:
        read_measured(path, square).placed_case(square)
    assert (bad.value.source, bad.value.key) == (str(path), key)


@pytest.mark.parametrize(("rows", "key"), [
    ([("P1", "P2", 10), ("P2", "P3", 10), ("P1", "P3", 25), ("P3", "P4", 10)], "line 4"),
    ([("P1", "P2", 0.9), ("P3", "P4", 10)], "line 2.spacing_mm"),
    ([("P1", "P9", 10), ("P3", "P4", 10)], "line 2.cathode"),
    ([("P1", "P2", "nan"), ("P3", "P4", 10)], "line 2.spacing_mm"),
    ([("P1", "P2", 10), ("P2", "P1", 10), ("P3", "P4", 10)], "line 3"),
    ([("P1", "P2", 10), ("P2", "P3", 10)], ""),
    ([("P1", "P1", 10), ("P3", "P4", 10)], "line 2.cathode"),
])
def test_bad_spacings_name_the_file_and_row(square, tmp_path, rows, key) -> None:
    """A triangle P1-P2-P3 with P1-P3 longer than the other two sides together, probes
    touching, an unknown probe, NaN, a pair twice, no spacing to P4, a probe paired with
    itself."""
    path = _spacings(tmp_path, rows)
    with pytest.raises(InputError) as bad:
        read_measured(path, square)
    assert (bad.value.source, bad.value.key) == (str(path), key)


def test_spacings_that_need_four_dimensions_are_refused(tmp_path) -> None:
    """Five probes all 10 mm from each other: a regular 4-simplex, with no arrangement in space
    (every triangle is fine: only the Gram matrix shows it)."""
    angles = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    probes = "".join(f"  - {{name: Q{k}, tip_mm: [{8 * np.cos(a):.3f}, {8 * np.sin(a):.3f}, -8], "
                     "direction: [0, 0, 1], exposed_mm: 16}\n" for k, a in enumerate(angles))
    plan = load_case(_write(tmp_path, "five.yaml", "name: five\ndomain: {size_mm: [40, 40, 40], "
                                                   "spacing_mm: 1.0}\nprobes:\n" + probes))
    rows = [(f"Q{i}", f"Q{j}", 10.0) for i in range(5) for j in range(i + 1, 5)]
    with pytest.raises(InputError) as bad:
        read_measured(_spacings(tmp_path, rows), plan)
    assert bad.value.key.startswith("line ") and "arrangement" in bad.value.expected


@pytest.mark.parametrize(("change", "key"), [
    (lambda m: m["markups"][1]["controlPoints"][1].update(positionStatus="undefined"),
     "markups[1].controlPoints[1].positionStatus"),
    (lambda m: m["markups"][1].update(coordinateSystem="XYZ"), "markups[1].coordinateSystem"),
    (lambda m: m["markups"][1]["controlPoints"].pop(), "markups[1].controlPoints"),
    (lambda m: m["markups"][2].update(name="P1"), "markups[2].name"),
    (lambda m: m["markups"][1]["controlPoints"][0].update(position=[1, "x", 2]),
     "markups[1].controlPoints[0].position"),
])
def test_bad_markups_name_the_markup(square, tmp_path, change, key) -> None:
    ends = {n: (t, (t[0], t[1], t[2] + 20)) for n, t in PLANNED.items()}
    mapping = json.loads(_markups({n: _line(*e) for n, e in ends.items()}))
    change(mapping)
    path = _write(tmp_path, "bad.mrk.json", json.dumps(mapping))
    with pytest.raises(InputError) as bad:
        read_measured(path, square)
    assert (bad.value.source, bad.value.key) == (str(path), key)

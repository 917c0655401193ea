"""The plan report: one self-contained HTML page with tables and figures (matplotlib, lazily).

Figures: orthogonal slices through the target with max |E|, the target, lethal and critical
outlines and the probes; the field-volume histogram (fraction of the target at or above each
|E|); the peak-temperature slice; a 3-D view of the target surface, critical structures and
probes (voxel-surface points, since scikit-image's marching cubes is not a dependency).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.plan.output import plan_json
from irelab.plan.pipeline import PlanResult

__all__ = ["write_report"]

_CRITICAL_COLOURS = {"blood": "tab:blue", "bile": "tab:green"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _centre_index(result: PlanResult) -> tuple[int, int, int]:
    idx = np.argwhere(result.fine.counted)
    return tuple(int(round(v)) for v in idx.mean(axis=0))  # type: ignore[return-value]


def _slices(result: PlanResult) -> str:
    import matplotlib.pyplot as plt

    grid = result.target.grid
    ci = _centre_index(result)
    e = result.fine.max_e_V_per_m / 100.0  # V/cm
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    names = ("x", "y", "z")
    for axis, ax in enumerate(axes):
        sl = [slice(None)] * 3
        sl[axis] = ci[axis]
        sl = tuple(sl)
        other = [a for a in range(3) if a != axis]
        ext = [grid.lower_m[other[0]] * 1e3, grid.upper_m[other[0]] * 1e3,
               grid.lower_m[other[1]] * 1e3, grid.upper_m[other[1]] * 1e3]
        im = ax.imshow(e[sl].T, origin="lower", extent=ext, cmap="magma",
                       vmax=float(np.percentile(e, 99.5)))
        for mask, colour in [(result.target.target, "white"), (result.fine.lethal, "red")]:
            ax.contour(mask[sl].T.astype(float), levels=[0.5], colors=colour, extent=ext,
                       linewidths=1.2)
        for name, mask in result.target.critical.items():
            if mask[sl].any():
                ax.contour(mask[sl].T.astype(float), levels=[0.5], extent=ext, linewidths=1.2,
                           colors=_CRITICAL_COLOURS.get(name, "cyan"))
        ax.set_xlabel(f"{names[other[0]]} (mm)")
        ax.set_ylabel(f"{names[other[1]]} (mm)")
        coord = grid.axis_m(axis)[ci[axis]] * 1e3
        ax.set_title(f"{names[axis]} = {coord:.1f} mm: max |E| (V/cm)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle("white: target (tumour + margin); red: lethal zone; blue: blood; green: bile")
    return _png(fig)


def _histogram(result: PlanResult) -> str:
    import matplotlib.pyplot as plt

    counted = result.fine.counted
    e = np.sort(result.fine.max_e_V_per_m[counted] / 100.0)
    frac = 1.0 - np.arange(len(e)) / len(e)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(e, frac * 100, color="black")
    thr = np.unique(result.target.lethal_threshold_V_per_m[counted] / 100.0)
    for t in thr[np.isfinite(thr)]:
        ax.axvline(t, color="red", linestyle="--", linewidth=1)
        ax.text(t, 5, f" e_irr {t:.0f}", color="red")
    ax.set_xlabel("|E| (V/cm)")
    ax.set_ylabel("target volume at or above |E| (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    return _png(fig)


def _temperature(result: PlanResult) -> str | None:
    if result.thermal is None:
        return None
    import matplotlib.pyplot as plt

    grid = result.target.grid
    ci = _centre_index(result)
    peak = result.thermal.peak_temperature_C
    k = int(np.unravel_index(np.argmax(peak), peak.shape)[2])
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, kk, title in ((axes[0], ci[2], "target centre"), (axes[1], k, "hottest voxel")):
        ext = [grid.lower_m[0] * 1e3, grid.upper_m[0] * 1e3,
               grid.lower_m[1] * 1e3, grid.upper_m[1] * 1e3]
        im = ax.imshow(peak[:, :, kk].T, origin="lower", extent=ext, cmap="inferno")
        for name, mask in result.target.critical.items():
            if mask[:, :, kk].any():
                ax.contour(mask[:, :, kk].T.astype(float), levels=[0.5], extent=ext,
                           colors=_CRITICAL_COLOURS.get(name, "cyan"))
        if result.thermal.damaged[:, :, kk].any():
            ax.contour(result.thermal.damaged[:, :, kk].T.astype(float), levels=[0.5],
                       colors="white", extent=ext)
        ax.set_title(f"peak temperature (C), z = {grid.axis_m(2)[kk] * 1e3:.1f} mm ({title})")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig)


def _surface_points(mask: np.ndarray, grid, limit: int = 4000) -> np.ndarray:
    from scipy import ndimage

    surface = mask & ~ndimage.binary_erosion(mask)
    pts = np.asarray(grid.origin_m) + np.argwhere(surface) * grid.spacing_m
    if len(pts) > limit:
        pts = pts[np.random.default_rng(0).choice(len(pts), limit, replace=False)]
    return pts * 1e3


def _view3d(result: PlanResult) -> str:
    import matplotlib.pyplot as plt

    grid = result.target.grid
    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_subplot(projection="3d")
    pts = _surface_points(result.target.target, grid)
    ax.scatter(*pts.T, s=4, c="orange", alpha=0.6, label="target")
    lethal = _surface_points(result.fine.lethal, grid, 3000)
    ax.scatter(*lethal.T, s=2, c="red", alpha=0.15, label="lethal zone")
    for name, mask in result.target.critical.items():
        cp = _surface_points(mask, grid, 2000)
        if len(cp):
            ax.scatter(*cp.T, s=3, alpha=0.5, c=_CRITICAL_COLOURS.get(name, "cyan"), label=name)
    lay = result.layout
    colours = ["black", "tab:purple", "tab:olive", "tab:brown", "tab:pink"]
    for pos in range(lay.n_positions):
        colour = colours[pos % len(colours)]
        for k in range(lay.n_probes):
            tip = lay.world_tip_m(result.target, k, pos) * 1e3
            end = tip + lay.exposed_m * 1e3 * result.target.axis
            ax.plot(*np.stack([tip, end]).T, color=colour, linewidth=2.5,
                    label=f"electrodes, placement {pos + 1}" if k == 0 else None)
            top = end + 25 * result.target.axis
            ax.plot(*np.stack([end, top]).T, color="grey", linewidth=1)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_zlabel("z (mm)")
    lo, hi = grid.lower_m * 1e3, grid.upper_m * 1e3
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(tuple(hi - lo))
    ax.legend(loc="upper left", markerscale=4)
    return _png(fig)


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:auto}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #aaa;padding:3px 8px}
img{max-width:100%}.fails{color:#a00}.meta{color:#555}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-after:avoid}
table,img{break-inside:avoid}img{max-height:45vh}a{color:inherit;text-decoration:none}}"""
"""Screen and print styles: on paper the page uses the full width, tables and figures are not
split across pages and a figure takes at most half a page."""


def _grouped(names: list[str]) -> str:
    """Names of the checks that hold, the per-pair ones counted."""
    counts: dict[str, int] = {}
    for name in names:
        head = name.split(" ")[0]
        head = head if head in ("voltage", "current", "spacing", "thermal") else name
        counts[head] = counts.get(head, 0) + 1
    return ", ".join(f"{head} ({n})" if n > 1 else head for head, n in counts.items())


def _constraints(result: PlanResult) -> str:
    held = [c.name for c in result.checks if c.ok]
    failing = [[c.name, c.message] for c in result.checks if not c.ok]
    text = (f"<p>{len(held)} constraints hold: {html.escape(_grouped(held))}.</p>"
            if held else "")
    if failing:
        text += "<p class='fails'><b>Failing:</b></p>" + _table(failing, ["constraint",
                                                                          "detail"])
    margin = next(c for c in result.checks if c.name == "margin")
    if margin.ok:
        text += f"<p>{html.escape(margin.message)}</p>"
    return text


def write_report(result: PlanResult, path: Path, source: str, runtime_s: float,
                 robustness: Sequence[str] = ()) -> Path:
    """Write the HTML report to ``path`` and return it; ``source`` is the input file.
    ``robustness`` holds the lines of a robust plan's rounds and price (``irelab plan
    --robust``), shown in their own section."""
    import datetime

    import matplotlib

    from irelab import __version__

    matplotlib.use("Agg")
    data = plan_json(result, runtime_s)
    case_name = result.case.name
    status = "meets every constraint" if result.feasible else "does NOT meet: " + "; ".join(
        result.failures)
    if result.cut_short:
        status += (" (cut short by the wall-clock limit: it depends on the machine's speed and "
                   "is not reproducible)")
    margin = result.margin
    achieved = (f"{margin.achieved_mm:.1f} mm" if margin.achieved_mm is not None
                else "none: the tumour is not covered")
    summary = _table([
        ["tumour", "covered" if margin.tumour_covered else
         f"NOT covered: {margin.tumour_short} voxels short"],
        ["margin requested / minimal margin achieved", f"{margin.requested_mm:g} mm / {achieved}"],
        *([["lethal thresholds planned against",
            f"{result.options.threshold_factor:.3f} x each tissue's own (robust planning: "
            "coverage, margin and zone are measured against these)"]]
          if result.options.threshold_factor != 1.0 else []),
        ["coverage of tumour + margin (confirmation grid)", f"{data['coverage_percent']:.2f} %"],
        ["target volume (minus needle tracks)", f"{data['target_volume_cm3']:.2f} cm3"],
        ["total lethal volume", f"{data['lethal_volume_cm3']:.2f} cm3"],
        ["healthy tissue ablated outside the target", f"{data['healthy_volume_cm3']:.2f} cm3"],
        ["probes / placements of the array / exposed length",
         f"{result.layout.n_probes} / {result.layout.n_positions} / {data['exposed_mm']} mm"],
        ["confirmation grid", f"{result.target.grid.spacing_m * 1e3:g} mm"],
        ["runtime (search / confirmation / thermal)",
         f"{runtime_s:.1f} s ({result.timings.search_s:.1f} / {result.timings.confirm_s:.1f} "
         f"/ {result.timings.thermal_s:.1f} s)"],
    ], ["quantity", "value"])
    probes = _table([[p["name"], ", ".join(f"{c:.2f}" for c in p["tip_mm"]),
                      ", ".join(f"{c:g}" for c in p["direction"]), p["exposed_mm"],
                      p["insertion_depth_mm"]] for p in data["probes"]],
                    ["probe", "tip (mm)", "insertion direction (tip to entry)", "exposed (mm)",
                     "insertion depth from the domain boundary (mm)"])
    spacings = _table([[f"{a} - {b}", f"{s['spacing_mm']:.1f}"]
                       for s in data["probe_spacings"] for a, b in [s["probes"]]],
                      ["probes", "spacing (mm)"])
    moves = []
    for i, q in enumerate(data["placements"]):
        move = "as inserted" if i == 0 else (
            "every needle withdrawn and re-inserted, the whole array moved sideways"
            if q["reinsert_every_probe"] else "every needle pulled back along its track")
        moves.append([str(i + 1), f"{q['back_mm']:g}", ", ".join(f"{c:g}" for c in q["shift_mm"]),
                      move])
    placements = _table(moves, ["placement (delivery order)", "pulled back (mm)",
                                "moved sideways by (mm)", "what the operator does"])
    delivery = _table([[s["order"], s["placement"], s["pair"], s["voltage_V"],
                        f"{s['current_A']:.1f} -> {s['last_current_A']:.1f}",
                        f"{s['energy_J']:.0f}"] for s in data["delivery"]],
                      ["#", "placement", "pair", "voltage (V)",
                       "expected current, first -> last pulse (A)", "energy (J)"])
    thermal_rows = [[name, f"{v['peak_temperature_C']:.1f}", f"{v['damage_volume_mm3']:.1f}"]
                    for name, v in data["thermal"].items()]
    thermal = _table(thermal_rows, ["critical structure", "peak temperature (C)",
                                    "thermal damage Omega>=1 (mm3)"])
    tried = "".join(f"<li>{html.escape(s.text())}</li>" for s in result.tried)
    sched = result.options.schedule
    tests = f"{sched.test_pulses} test + " if sched.test_pulses else ""
    schedule = (f"{tests}{sched.pulses_per_pair} pulses of {sched.pulse_width_us:g} us per pair, "
                f"trains of {sched.pulses_per_train} at {sched.heart_rate_bpm:g} bpm, "
                f"{sched.train_pause_s:g} s between trains, {sched.pair_pause_s:g} s between "
                f"pairs, {sched.reposition_pause_s:g} s per repositioning, "
                f"{sched.cooldown_s:g} s cooling simulated")
    images = [("Slices", _slices(result)),
              ("Field-volume histogram of the target", _histogram(result)),
              ("Peak temperature", _temperature(result)),
              ("3-D view", _view3d(result))]
    figs = "".join(f"<h2>{t}</h2><img src='data:image/png;base64,{b}'/>"
                   for t, b in images if b is not None)
    robust = ("" if not robustness else
              "<h2>Robustness under the uncertainty model</h2><p>Each round was planned, then "
              "checked by Monte Carlo over placement errors and tissue variability; the plan "
              "of this report is the round chosen.</p><ul>"
              + "".join(f"<li>{html.escape(line)}</li>" for line in robustness) + "</ul>")
    stamp = datetime.date.today().isoformat()
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>irelab plan: {html.escape(case_name)}</title>
<style>{STYLE}</style></head><body>
<h1>Treatment plan: {html.escape(case_name)}</h1>
<p class="meta">{stamp}; irelab {html.escape(__version__)}; input file
{html.escape(str(source))}; requested margin {margin.requested_mm:g} mm.</p>
<p><b>The plan {html.escape(status)}.</b> All figures come from the confirmation-grid field
solution of the plan as written to plan.yaml.</p>
{summary}<h2>Probes (first placement)</h2><p>All probes are parallel (largest angle between
two probes {data['largest_probe_angle_deg']:g} degrees).</p>{probes}
<h2>Probe spacings</h2>{spacings}
<h2>Placements</h2><p>The pairs are delivered at each placement in turn; every probe's tip is
its first-placement tip pulled back along the insertion direction and moved by the shift.</p>
{placements}<h2>Delivery order</h2>{delivery}
<h2>Thermal (Pennes + Arrhenius)</h2><p>{html.escape(schedule)}</p>{thermal}
<h2>Constraints</h2>{_constraints(result)}
{robust}<h2>What the planner tried</h2><ol>{tried}</ol>{figs}</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path

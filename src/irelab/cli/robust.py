"""The ``irelab robust PLAN.yaml`` command, and the runner behind ``irelab plan --robust P``.

``irelab robust`` samples placement errors and tissue variability (irelab.robust's uncertainty
model: sourced defaults, the plan's ``uncertainty:`` key, then these options) and solves the
plan for every sample on Dask (a local cluster of processes, or ``--scheduler``). It prints the
probability of covering the whole tumour with its 95 % interval, the distributions of coverage
and minimal margin, the thermal risk to critical structures and the parameters that drive the
misses; ``--out`` writes ``probability.nii.gz`` (RAS), three slice PNGs and ``robust.json``
(the ``--json`` object). Progress goes to stderr, a bar on a terminal and otherwise log lines
(:mod:`irelab.cli.progress`): the stages and one line per finished sample.

Exit codes: 0 done, 2 bad input (including an unreachable scheduler), 3 an internal error.
``irelab plan --robust P`` exits 1 when no plan reached the probability ``P``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from irelab.cli.progress import ProgressLines

_MODEL = "Uncertainty model (default: irelab.robust's sourced values, then the plan's own)"
_RUN = "Where and how much"


class _Reporter:
    """Progress on stderr: a rich bar on a terminal, else log lines
    (:class:`~irelab.cli.progress.ProgressLines`): the stages, and one line per finished
    sample, so a log or CI shows the run advancing."""

    def __init__(self, console, label: str, start: str) -> None:
        self.console = console
        self.label = label
        self.start_text = start
        self.bar = None
        self.task = None
        self.lines: ProgressLines | None = None

    def __enter__(self) -> _Reporter:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None)
        else:
            self.lines = ProgressLines(self.console, self.label, _stage_head)
            self.lines.event(self.start_text, 0.0)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def sample(self, done: int, total: int, outcome) -> None:
        covered = "covered" if outcome.covered else "MISSED"
        if self.bar is not None:
            self.bar.update(self.task, total=total, completed=done,
                            description=f"{self.label}: sample {outcome.index} {covered}")
        elif self.lines is not None:
            self.lines.event(f"{done}/{total} samples; sample {outcome.index} {covered}, "
                             f"coverage {100 * outcome.coverage:.2f} %, margin "
                             f"{outcome.margin_mm:.1f} mm", done / total)

    def stage(self, text: str, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.label}: {text}")
        elif self.lines is not None:
            self.lines.stage(text, fraction)


def _stage_head(text: str) -> str:
    """The stage a progress text names: the planner's own stage within a round of
    ``plan --robust`` (``round 2, lethal thresholds x1.045: plan: search: trial 3 ...`` names
    ``round 2, lethal thresholds x1.045: plan: search``), else the text before its first colon."""
    round_label, plan, rest = text.partition(": plan: ")
    return f"{round_label}{plan}{rest.split(':')[0]}" if plan else text.split(":")[0]


def _mm(value: float | None) -> str:
    """A margin in mm, or "n/a" where the samples give none (JSON null)."""
    return "n/a" if value is None else f"{value:.1f} mm"


def _print_summary(data: dict, console) -> None:
    from rich.table import Table

    p = data["coverage_probability"]
    console.print(f"P(100 % tumour coverage) = {p['estimate']:.3f} "
                  f"({p['successes']}/{p['trials']} samples), 95 % interval "
                  f"{p['low']:.3f}-{p['high']:.3f} ({p['method']})")
    cov, margin = data["coverage"]["quantiles"], data["margin_mm"]["quantiles"]
    console.print(f"tumour coverage: 5 % {100 * cov['5']:.2f} %, median {100 * cov['50']:.2f} %,"
                  f" minimum {100 * data['coverage']['min']:.2f} %")
    console.print(f"minimal margin: 5 % {_mm(margin['5'])}, median {_mm(margin['50'])}, "
                  f"95 % {_mm(margin['95'])} (unperturbed plan "
                  f"{_mm(data['nominal']['margin_mm'])})")
    reserve = data["field_reserve"]["quantiles"]
    if reserve["5"] is not None and data["nominal"]["field_reserve"] is not None:
        console.print(f"field reserve (least field / lethal threshold over the tumour): 5 % "
                      f"{reserve['5']:.3f}, median {reserve['50']:.3f} (unperturbed plan "
                      f"{data['nominal']['field_reserve']:.3f}); covering 95 % of these "
                      f"samples needs about {1 / reserve['5']:.2f} x this plan's field")
    over = data["current_over_limit_probability"]
    if over is not None and over["trials"]:
        console.print(f"current over the generator's limit on some pulse (the generator would "
                      f"stop that pair; coverage above assumes every pulse delivered): "
                      f"{over['successes']}/{over['trials']} samples, 95 % interval "
                      f"{over['low']:.3f}-{over['high']:.3f} (first-pulse current above "
                      f"{data['first_pulse_current_limit_A']:.1f} A)")
    delivered = data["coverage_probability_as_delivered"]
    if delivered is not None and over is not None and over["successes"]:
        console.print(f"as delivered (those pairs delivered again at the generator's suggested "
                      f"voltage): P(100 % tumour coverage) = {delivered['estimate']:.3f} "
                      f"({delivered['successes']}/{delivered['trials']} samples), 95 % "
                      f"interval {delivered['low']:.3f}-{delivered['high']:.3f}")
    thermal = data["thermal_damage_probability"]
    if thermal is not None:
        for name, t in thermal.items():
            console.print(f"thermal damage in {name}: {t['successes']}/{t['trials']} samples, "
                          f"95 % interval {t['low']:.3f}-{t['high']:.3f}")
    if data["sensitivity"]:
        # ranked by the field reserve's index (the finer measure of what drives a miss: module
        # irelab.robust.statistics), then the margin's
        reserve = {s["parameter"]: s for s in data["sensitivity_field_reserve"]}

        def rank(s: dict) -> tuple[float, float]:
            r = reserve.get(s["parameter"], {}).get("s1")
            return (-math.inf if r is None else r, -math.inf if s["s1"] is None else s["s1"])

        def cell(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        table = Table("parameter", "S1 (field reserve)", "+-", "S1 (margin)", "+-")
        for s in sorted(data["sensitivity"], key=rank, reverse=True)[:8]:
            r = reserve.get(s["parameter"], {})
            table.add_row(s["parameter"], cell(r.get("s1")), cell(r.get("s1_conf")),
                          cell(s["s1"]), cell(s["s1_conf"]))
        console.print(table)
        groups = ", ".join(f"{g} {v:.2f}" for g, v in sorted(
            ((g, v) for g, v in data["sensitivity_groups"].items() if v is not None),
            key=lambda kv: -kv[1]))
        console.print(f"by group: {groups}")
    if data["simulated"] < data["samples"]:
        console.print(f"[yellow]note[/yellow]: {data['samples'] - data['simulated']} samples "
                      "put a probe outside the domain or against another and count as misses")
    if data["not_converged"]:
        console.print(f"[yellow]note[/yellow]: {data['not_converged']} samples had a pair "
                      "that did not converge")


def robust(
    plan_file: Annotated[Path, typer.Argument(help="A plan (a case with probes and pairs).")],
    samples: Annotated[int, typer.Option("--samples", help="Monte Carlo samples.",
                                         rich_help_panel=_RUN)] = 200,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the samples.",
                                             rich_help_panel=_MODEL)] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler tcp://HOST:PORT (default: $IRELAB_DASK_SCHEDULER, "
        "else a local cluster).", rich_help_panel=_RUN)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the map, PNGs and JSON.")
                   ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Local cluster processes (default: one per core).",
        rich_help_panel=_RUN)] = None,
    thermal_samples: Annotated[int, typer.Option(
        "--thermal-samples", help="Run the thermal model on the first N samples.",
        rich_help_panel=_RUN)] = 20,
    scheduler_timeout_s: Annotated[float, typer.Option(
        "--scheduler-timeout-s", help="Give up on the scheduler after this long.",
        rich_help_panel=_RUN)] = 10.0,
    lateral_sd_mm: Annotated[float | None, typer.Option(
        "--lateral-sd-mm", help="Tip displacement normal to the probe, SD per axis.",
        rich_help_panel=_MODEL)] = None,
    depth_sd_mm: Annotated[float | None, typer.Option(
        "--depth-sd-mm", help="Tip displacement along the probe, SD.",
        rich_help_panel=_MODEL)] = None,
    angle_sd_deg: Annotated[float | None, typer.Option(
        "--angle-sd-deg", help="Tilt about the tip, SD per axis.", rich_help_panel=_MODEL)
                            ] = None,
    correlation: Annotated[float | None, typer.Option(
        "--correlation", help="Share of the displacement common to all probes (0-1).",
        rich_help_panel=_MODEL)] = None,
) -> None:
    """Probability that a plan covers its tumour under placement error and tissue variability."""
    from rich.console import Console

    from irelab.case import load_case
    from irelab.robust import (
        ClusterSettings,
        EvaluationSettings,
        RobustOptions,
        UncertaintyModel,
        robust_study,
    )
    from irelab.robust.output import robust_json, write_robust
    from irelab.robust.study import check_plan

    source = str(plan_file)
    options = RobustOptions(samples=samples, thermal_samples=thermal_samples,
                            evaluation=EvaluationSettings(),
                            cluster=ClusterSettings(scheduler, workers, scheduler_timeout_s))
    options.check(source)
    placement = {"lateral_sd_mm": lateral_sd_mm, "depth_sd_mm": depth_sd_mm,
                 "angle_sd_deg": angle_sd_deg, "correlation": correlation}
    _check_model_options(placement, seed, source)
    case = load_case(plan_file)
    check_plan(case)
    model = UncertaintyModel.for_case(case, seed=seed, placement=placement,
                                      origin="the command line")
    console = Console(stderr=True)
    with _Reporter(console, "robust", "starting the cluster and the unperturbed solve") \
            as reporter:
        result = robust_study(case, model, options, progress=reporter.sample)
    data = robust_json(result)
    if out is not None:
        files = write_robust(result, out)
        console.print(f"wrote {len(files)} files to {out}")
    if as_json:
        print(json.dumps(data, allow_nan=False))
    else:
        _print_summary(data, Console())


def _check_model_options(placement: dict, seed: int | None, source: str) -> None:
    """One error naming the option for a negative spread, a correlation outside 0-1 or a
    negative seed."""
    import math

    from irelab.errors import InputError

    for key, value in placement.items():
        if value is None:
            continue
        option = "--" + key.replace("_", "-")
        if key == "correlation" and not 0 <= value <= 1:
            raise InputError(source, option, "a share between 0 and 1", value)
        if not (math.isfinite(value) and value >= 0):
            raise InputError(source, option, "a spread of at least 0", value)
    if seed is not None and seed < 0:
        raise InputError(source, "--seed", "a seed of at least 0", seed)


def run_robust_plan(case, *, target_probability: float, margin_mm: float, spacing_mm: float,
                    direction: tuple[float, float, float], out: Path | None,
                    as_json: bool, max_current_a: float | None = None) -> int:
    """``irelab plan --robust P``: plan, check by Monte Carlo, plan against raised lethal
    thresholds until the coverage probability reaches ``P`` or is out of reach; print the
    rounds and the price; write plan.yaml, plan.html and robust.json under ``out``. Returns
    the exit code."""
    from rich.console import Console

    from irelab.case import write_case
    from irelab.cli.plan import planning_limits
    from irelab.errors import InputError
    from irelab.plan import PlanOptions
    from irelab.plan.output import plan_json
    from irelab.robust import RobustOptions, UncertaintyModel, plan_robust
    from irelab.robust.output import robust_json
    from irelab.robust.planning import INSTRUMENT_CHECKS

    source = case.source
    if not 0 < target_probability < 1:
        raise InputError(source, "--robust", "a probability between 0 and 1 (e.g. 0.95)",
                         target_probability)
    if not 0 <= margin_mm <= 30:
        raise InputError(source, "--margin-mm", "a margin between 0 and 30 mm", margin_mm)
    if not 0.25 <= spacing_mm <= 3:
        raise InputError(source, "--spacing-mm", "a grid spacing between 0.25 and 3 mm",
                         spacing_mm)
    options = PlanOptions(margin_m=margin_mm * 1e-3, direction=direction,
                          fine_spacing_m=spacing_mm * 1e-3,
                          limits=planning_limits(source, max_current_a))
    diameter_mm = options.limits.probe_diameter_m * 1e3
    if spacing_mm >= diameter_mm:
        raise InputError(source, "--spacing-mm", f"a grid spacing below the probes' diameter "
                         f"({diameter_mm:g} mm) for the Monte Carlo check", spacing_mm)
    model = UncertaintyModel.for_case(case)
    console = Console(stderr=True)
    start = time.perf_counter()
    with _Reporter(console, "plan --robust", "planning") as reporter:
        result = plan_robust(case, options, target_probability, model, RobustOptions(
            samples=ROBUST_PLAN_SAMPLES, thermal_samples=0), stage=reporter.stage,
            sample=reporter.sample)
    runtime = time.perf_counter() - start
    chosen = result.chosen
    data = plan_json(chosen.plan, runtime)
    data["robust"] = result.to_json()
    if out is not None:
        from irelab.plan.report import write_report

        out.mkdir(parents=True, exist_ok=True)
        write_case(chosen.plan.case, out / "plan.yaml")
        write_report(chosen.plan, out / "plan.html", source, runtime,
                     robustness=result.summary_lines())
        (out / "robust.json").write_text(json.dumps(robust_json(chosen.study), indent=2,
                                                    allow_nan=False)
                                         + "\n", encoding="utf-8")
        console.print(f"wrote {out / 'plan.yaml'}, {out / 'plan.html'} and "
                      f"{out / 'robust.json'}")
    if as_json:
        print(json.dumps(data))
    else:
        out_console = Console()
        for line in result.summary_lines():
            out_console.print(line)
    if not result.met:
        console.print(f"[red]goal not met:[/red] no plan reached a coverage probability of "
                      f"{target_probability:g} (best {chosen.probability:.3f})")
        return 1
    for check in chosen.plan.checks:
        if not check.ok and check.name in INSTRUMENT_CHECKS:
            console.print(f"note: against {chosen.threshold_factor:.3f} x the lethal thresholds: "
                          f"{check.message}; the goal is the tumour's coverage probability")
    if not chosen.safe:
        for check in chosen.plan.checks:
            if not check.ok and check.name not in INSTRUMENT_CHECKS:
                console.print(f"[red]constraint not met:[/red] {check.message}")
        return 1
    return 0


ROBUST_PLAN_SAMPLES = 100
"""Samples of each Monte Carlo check of ``irelab plan --robust`` (design choice: the 95 %
interval of a probability near 0.95 is then about +-0.05; ``irelab robust --samples`` checks
the result more finely)."""


def register(app: typer.Typer) -> None:
    """Attach ``irelab robust``."""
    app.command("robust")(robust)

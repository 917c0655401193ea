"""``irelab registry seed-demo`` and ``report``: the synthetic demo cohort and the study report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from irelab.cli.registry._common import DatabaseUrl, Json, err, registry_session


def seed_demo(
    n_patients: Annotated[int, typer.Option(help="synthetic patients")] = 60,
    seed: Annotated[int, typer.Option(help="random seed")] = 20240611,
    database_url: DatabaseUrl = None,
) -> None:
    """Fill the database with the SYNTHETIC demo cohort (ids SYN-...; not real patients)."""
    from irelab.outcomes import synthetic_cohort
    from irelab.registry.security import Actor
    from irelab.registry.study import store_study_data

    data = synthetic_cohort(n_patients=n_patients, seed=seed)
    with registry_session(database_url, "seed-demo") as session:
        counts = store_study_data(session, data, Actor("seed-demo", "data_manager", None))
    err("SYNTHETIC demo data stored: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def report(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("out/registry-report"),
    demo: Annotated[bool, typer.Option("--demo", help="use the synthetic cohort")] = False,
    user: Annotated[str | None, typer.Option("--user", help="report as this user")] = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Write the HTML study report (tables, Kaplan-Meier figures) and print its path (with
    --json also the headline figures of local tumour progression by minimal ablative margin)."""
    from irelab.outcomes import analyse, synthetic_cohort, write_report
    from irelab.outcomes.margin_report import margin_summary
    from irelab.registry.study import load_study_data

    if demo:
        data = synthetic_cohort()
        title = "SYNTHETIC demo cohort - not real patients"
    else:
        if user is None:
            err("irelab registry report: --user is required without --demo")
            raise typer.Exit(2)
        with registry_session(database_url, user) as session:
            data = load_study_data(session, user)
        title = "Registry study report"
    analysis = analyse(data)
    index = Path(write_report(data, out, title=title, report=analysis))
    if as_json:
        print(json.dumps({"report": str(index), "margins": margin_summary(analysis.margins)}))
    else:
        print(index)

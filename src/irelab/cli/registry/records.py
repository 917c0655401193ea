"""``irelab registry import``, ``import-procedure``, ``import-comparison`` and ``export``: clinical
records in and out of the registry, checked against ``--user``'s role and site like the service
checks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from irelab.cli.registry._common import (
    DatabaseUrl,
    Json,
    UserName,
    actor_of,
    err,
    fail_validation,
    patient_by_study_id,
    registry_session,
)


def import_csv(
    table: Annotated[
        str,
        typer.Argument(
            help="patients, tumours, procedures, treatments, ablation_zones, adverse_events or "
            "followups"
        ),
    ],
    path: Annotated[Path, typer.Argument(help="CSV file with a header row")],
    user: UserName,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Import a CSV file into TABLE: every row is validated; any error rejects the whole file."""
    from irelab.errors import InputError
    from irelab.registry.exchange import import_table

    try:
        data = path.read_bytes()  # decoded by the import, which reports bytes that are not UTF-8
    except OSError as exc:
        raise InputError(str(path), "", "a readable CSV file", str(exc)) from exc
    with registry_session(database_url, user) as session:
        count = import_table(session, actor_of(session, user), table, data, str(path))
    if as_json:
        print(json.dumps({"table": table, "imported": count}))
    else:
        err(f"{path}: {count} rows imported into {table}")


def import_procedure_cmd(
    plan: Annotated[Path, typer.Option(help="irelab plan / case YAML")],
    study_id: Annotated[str, typer.Option(help="patient's study ID")],
    date: Annotated[str, typer.Option(help="procedure date, YYYY-MM-DD")],
    user: UserName,
    log: Annotated[Path | None, typer.Option(help="delivery log (.jsonl)")] = None,
    approach: Annotated[str, typer.Option(help="percutaneous, open or laparoscopic")] = (
        "percutaneous"
    ),
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Add a procedure (probes, pairs, pulses, voltages, currents) from a plan and delivery log."""
    from pydantic import ValidationError

    from irelab.registry.procedure_import import import_procedure, summarise_delivery

    summary = summarise_delivery(plan, log)
    try:
        with registry_session(database_url, user) as session:
            actor = actor_of(session, user)
            patient = patient_by_study_id(session, actor, study_id)
            proc = import_procedure(
                session, actor, summary, patient_id=patient.id, date=date, approach=approach
            )
            proc_id = proc.id
    except ValidationError as exc:
        fail_validation(exc)
    result = {"procedure_id": proc_id, "pulses": summary.pulses, "pairs": len(summary.pairs)}
    print(json.dumps(result) if as_json else f"procedure {proc_id}: {summary.pulses} pulses")


def import_comparison_cmd(
    comparison: Annotated[
        Path, typer.Option(help="comparison.json (or its folder) written by irelab compare")
    ],
    study_id: Annotated[str, typer.Option(help="patient's study ID")],
    tumour: Annotated[int, typer.Option(help="tumour record id (of that patient)")],
    user: UserName,
    procedure: Annotated[
        int | None,
        typer.Option(help="procedure record id (default: the only one that treated the tumour)"),
    ] = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Store a treated tumour's achieved ablation zone (Dice, HD95, volumes, minimal margin)."""
    from irelab.errors import InputError
    from irelab.registry.zone_import import comparison_record, import_comparison

    try:
        record = comparison_record(comparison)
        with registry_session(database_url, user) as session:
            actor = actor_of(session, user)
            patient = patient_by_study_id(session, actor, study_id)
            row = import_comparison(session, actor, record, tumour_id=tumour,
                                    procedure_id=procedure, patient_id=patient.id)
            result = {"ablation_zone_id": row.id, "procedure_id": row.procedure_id,
                      "tumour_id": row.tumour_id, "dice": row.dice,
                      "minimal_margin_mm": row.minimal_margin_mm}
    except InputError as exc:
        err(f"irelab registry: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result))
    else:
        margin = result["minimal_margin_mm"]
        print(f"ablation zone {result['ablation_zone_id']}: tumour {tumour} in procedure "
              f"{result['procedure_id']}, Dice {result['dice']:.3f}, minimal margin "
              + ("n/a" if margin is None else f"{margin:.1f} mm"))


def export(
    out: Annotated[Path, typer.Option(help="folder for one CSV per table + dictionary.csv")],
    user: UserName,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Export every table as CSV as USER may see it (monitors: pseudonymised, dates shifted)."""
    from irelab.registry.dictionary import data_dictionary_csv
    from irelab.registry.exchange import EXPORT_MODELS, export_table

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with registry_session(database_url, user) as session:
        actor = actor_of(session, user)
        for table in EXPORT_MODELS:
            path = out / f"{table}.csv"
            path.write_text(export_table(session, actor, table), encoding="utf-8")
            written.append(str(path))
    (out / "dictionary.csv").write_text(data_dictionary_csv(), encoding="utf-8")
    written.append(str(out / "dictionary.csv"))
    print(json.dumps({"files": written}) if as_json else "\n".join(written))

"""One declaration per table (irelab.outcomes.variables): the ORM models, API schemas, CSV
export, data dictionary and outcome checks all take their columns and ranges from it; pairs are
stored per placement; logins cost one bcrypt check whether or not the account exists."""

from __future__ import annotations

import datetime as dt

import bcrypt
import pytest
from pydantic import ValidationError
from registry_cases import PASSWORD
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from irelab.outcomes.data import SCHEMA
from irelab.outcomes.variables import MAX_PULSES, MAX_VOLTAGE_V, TABLES
from irelab.registry import schemas
from irelab.registry.database import Registry
from irelab.registry.dictionary import data_dictionary
from irelab.registry.exchange import EXPORT_MODELS, export_columns
from irelab.registry.login import authenticate
from irelab.registry.models import Patient, Procedure, ProcedurePair, User
from irelab.registry.security import AuthError
from irelab.registry.service import RESOURCES


def test_every_layer_has_the_declared_columns() -> None:
    for table, model in EXPORT_MODELS.items():
        declared = {v.name for v in TABLES[table].variables}
        columns = {c.key for c in inspect(model).columns}
        assert declared <= columns, table
        assert set(export_columns(table, False)) == columns - {"date_shift_days"}
        if table in RESOURCES:
            entered = {v.name for v in TABLES[table].variables if v.entered}
            assert entered <= set(RESOURCES[table].create.model_fields)
    dictionary = {(e.table, e.column) for e in data_dictionary()}
    assert ("procedure_pairs", "placement") in dictionary


@pytest.mark.parametrize(
    ("table", "column", "low", "high"),
    [
        ("procedures", "pulses", 1, MAX_PULSES),
        ("procedures", "max_voltage_V", 0, MAX_VOLTAGE_V),
        ("patients", "age_years", 18, 110),
        ("tumours", "segment", 1, 8),
    ],
)
def test_api_and_outcome_checks_share_the_declared_range(table, column, low, high) -> None:
    """The former disagreement: pulses <= 10,000 in the API but 100,000 in the outcome checks,
    voltage 3000 V vs 5000 V. Both now read the declaration."""
    assert (SCHEMA[table][column].low, SCHEMA[table][column].high) == (low, high)
    create = RESOURCES[table].create
    base = {"patients": {"study_id": "X-1", "sex": "F", "inclusion_date": "2024-01-01",
                         "last_contact_date": "2024-02-01", "age_years": 40},
            "procedures": {"patient_id": 1, "date": "2024-01-02", "approach": "open",
                           "n_probes": 2, "n_pairs": 1, "pulses": 90},
            "tumours": {"patient_id": 1, "origin": "colorectal", "size_mm": 10,
                        "segment": 2}}[table]  # fmt: skip
    create.model_validate({**base, column: high})
    with pytest.raises(ValidationError):
        create.model_validate({**base, column: high + 1})
    entry = next(e for e in data_dictionary() if (e.table, e.column) == (table, column))
    assert f"<= {high:g}" in entry.allowed


def test_pairs_are_unique_per_placement(db_url) -> None:
    """A plan repeats its pairs at several placements (pullbacks, sideways moves): the same
    anode/cathode may appear once per placement of a procedure, not twice at one."""
    registry = Registry.open(db_url, upgrade=False)
    with registry.session("dm") as session:
        patient = Patient(
            study_id="PL-1", site_id=1, sex="F", age_years=50, inclusion_date=dt.date(2024, 1, 1),
            last_contact_date=dt.date(2024, 2, 1), date_shift_days=40,
        )  # fmt: skip
        session.add(patient)
        session.flush()
        procedure = Procedure(
            patient_id=patient.id, date=dt.date(2024, 1, 5), approach="open",
            general_anaesthesia=True, neuromuscular_block=True, cardiac_sync=True,
            n_probes=2, n_pairs=1, pulses=180,
        )  # fmt: skip
        session.add(procedure)
        session.flush()
        for placement in (0, 1):
            session.add(
                ProcedurePair(
                    patient_id=patient.id, procedure_id=procedure.id, anode="P1",
                    cathode="P2", voltage_V=1500.0, placement=placement,
                )  # fmt: skip
            )
        session.flush()
        default = ProcedurePair(
            patient_id=patient.id, procedure_id=procedure.id, anode="P2", cathode="P1",
            voltage_V=1500.0,
        )  # fmt: skip
        session.add(default)
        session.flush()
        assert default.placement == 0
        session.add(
            ProcedurePair(
                patient_id=patient.id, procedure_id=procedure.id, anode="P1", cathode="P2",
                voltage_V=1400.0, placement=1,
            )  # fmt: skip
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    registry.close()


def test_every_login_costs_one_bcrypt_check_of_the_accounts_cost(db_url, monkeypatch) -> None:
    """Timing cannot be asserted (house rule), so the work is: a known user with a wrong
    password, an unknown user, a retired user and an over-long password each run exactly one
    bcrypt check, with a hash of the same cost as the stored ones (cost 4 in these tests)."""
    calls: list[int] = []
    real = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        calls.append(int(hashed.split(b"$")[2]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    registry = Registry.open(db_url, upgrade=False)
    with registry.session("admin") as session:
        retired = session.scalars(select(User).where(User.username == "inv_b")).one()
        retired.retired_at = dt.datetime.now(dt.UTC)
    attempts = [
        ("inv_a", "wrong password"),
        ("nobody_here", PASSWORD),
        ("inv_b", PASSWORD),  # retired
        ("inv_a", "é" * 72),  # 144 bytes: more than bcrypt takes
    ]
    for username, password in attempts:
        calls.clear()
        with registry.session("dm") as session, pytest.raises(AuthError):
            authenticate(session, username, password, rounds=4)
        assert calls == [4], username
    calls.clear()
    with registry.session("dm") as session:
        authenticate(session, "inv_a", PASSWORD, rounds=4)
    assert calls == [4]
    registry.close()


def test_update_schemas_refuse_null_for_required_fields() -> None:
    with pytest.raises(ValidationError, match="may be left out but not set to empty"):
        schemas.PatientUpdate.model_validate({"version": 1, "age_years": None})
    assert schemas.PatientUpdate.model_validate({"version": 1, "death_date": None})

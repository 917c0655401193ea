"""Optimistic locking, retire-instead-of-delete, and one audit row per write."""

from __future__ import annotations

import pytest
from registry_cases import auth
from sqlalchemy import select, update

from irelab.registry.audit import AuditViolation
from irelab.registry.database import Registry
from irelab.registry.models import AuditEntry, Patient


def test_concurrent_edits_one_wins_one_gets_409_no_lost_update(client, course, snapshot) -> None:
    """Two users read version 1; the first update wins, the second is refused unchanged."""
    url = f"/api/patients/{course['patient']}"
    first = client.get(url, headers=auth("inv_a")).json()
    second = client.get(url, headers=auth("dm")).json()
    assert first["version"] == second["version"] == 1
    r1 = client.patch(
        url, json={"version": first["version"], "age_years": 65}, headers=auth("inv_a")
    )
    assert r1.status_code == 200 and r1.json()["version"] == 2
    before = snapshot()
    r2 = client.patch(
        url, json={"version": second["version"], "notes": "stale edit"}, headers=auth("dm")
    )
    assert r2.status_code == 409
    assert "changed by someone else" in r2.json()["detail"]
    assert snapshot() == before
    now = client.get(url, headers=auth("dm")).json()
    assert now["age_years"] == 65 and now["notes"] is None and now["version"] == 2


def test_version_check_also_holds_inside_the_database(db_url, course) -> None:
    """A session that read version 1 cannot overwrite a row another session moved to 2:
    SQLAlchemy's version_id_col makes the UPDATE match no row (StaleDataError)."""
    from sqlalchemy.orm.exc import StaleDataError

    registry = Registry.open(db_url, upgrade=False)
    with registry.sessions() as s1, registry.sessions() as s2:
        s1.info["actor"] = s2.info["actor"] = "dm"
        p1 = s1.get(Patient, course["patient"])
        p2 = s2.get(Patient, course["patient"])
        s2.commit()  # end the read (SQLite holds a shared lock); p2 keeps version 1 in memory
        p1.age_years = 70
        s1.commit()
        p2.age_years = 71
        with pytest.raises(StaleDataError):
            s2.commit()
    registry.close()


def test_there_is_no_delete_and_retired_rows_are_kept_but_hidden(client, course, snapshot):
    url = f"/api/followups/{course['followup']}"
    before = snapshot()
    assert client.delete(url, headers=auth("dm")).status_code == 405
    assert snapshot() == before
    r = client.post(
        f"{url}/retire", json={"version": 1, "reason": "entered twice"}, headers=auth("dm")
    )
    assert r.status_code == 200 and r.json()["retired_by"] == "dm"
    listed = client.get("/api/followups", headers=auth("dm")).json()
    assert listed == []
    everything = client.get("/api/followups?include_retired=true", headers=auth("dm")).json()
    assert [f["id"] for f in everything] == [course["followup"]]
    assert client.get(url, headers=auth("dm")).json()["retire_reason"] == "entered twice"
    assert len(snapshot()["followups"]) == 1


def test_orm_refuses_deletes(db_url, course) -> None:
    registry = Registry.open(db_url, upgrade=False)
    with pytest.raises(AuditViolation, match="retired, never deleted"):
        with registry.session("dm") as session:
            session.delete(session.get(Patient, course["patient"]))
    registry.close()


def test_every_write_leaves_exactly_one_audit_row_with_before_and_after(client, course) -> None:
    h = auth("dm")
    trail = client.get("/api/audit", headers=h).json()
    creates = [
        (e["table_name"], e["record_id"])
        for e in trail
        if e["action"] == "create" and e["table_name"] not in ("sites", "users")
    ]
    assert sorted(creates) == sorted(
        [
            ("patients", course["patient"]),
            ("tumours", course["tumour"]),
            ("procedures", course["procedure"]),
            ("treatments", course["treatment"]),
            ("adverse_events", course["ae"]),
            ("followups", course["followup"]),
        ]
    )
    assert all(
        e["username"] == "inv_a" and e["before"] is None
        for e in trail
        if e["action"] == "create" and e["table_name"] not in ("sites", "users")
    )
    n = len(trail)
    pid = course["patient"]
    client.patch(f"/api/patients/{pid}", json={"version": 1, "age_years": 66}, headers=h)
    client.post(f"/api/patients/{pid}/retire", json={"version": 2, "reason": "withdrew"}, headers=h)
    trail = client.get(f"/api/audit?table=patients&record_id={pid}", headers=h).json()
    assert [e["action"] for e in trail] == ["create", "update", "retire"]
    upd, ret = trail[1], trail[2]
    assert upd["before"]["age_years"] == 64 and upd["after"]["age_years"] == 66
    assert upd["before"]["version"] == 1 and upd["after"]["version"] == 2
    assert ret["before"]["retired_at"] is None and ret["after"]["retire_reason"] == "withdrew"
    assert len(client.get("/api/audit", headers=h).json()) == n + 2
    assert "password_hash" not in str(client.get("/api/audit", headers=h).json())


def test_audit_trail_cannot_be_altered(client, course, db_url) -> None:
    """No route changes it, and the ORM refuses an update of an audit row."""
    h = auth("dm")
    entry = client.get("/api/audit", headers=h).json()[0]
    for method in ("PATCH", "PUT", "DELETE"):
        r = client.request(method, f"/api/audit/{entry['id']}", json={}, headers=h)
        assert r.status_code in (404, 405)
    registry = Registry.open(db_url, upgrade=False)
    with pytest.raises(AuditViolation, match="append-only"):
        with registry.session("dm") as session:
            row = session.scalars(select(AuditEntry)).first()
            row.username = "someone else"
    with pytest.raises(Exception, match="append-only"):
        with registry.session("dm") as session:
            session.execute(update(AuditEntry).values(username="x"))
    registry.close()
    assert client.get("/api/audit", headers=h).json()[0] == entry


def test_two_threads_updating_the_same_row_one_wins_one_conflicts(db_url, course) -> None:
    """Both threads read version 1 before either writes (a barrier); their writing transactions
    then queue (BEGIN IMMEDIATE on SQLite) and exactly one update lands: the other sends the
    stale version and is refused with Conflict, and the stored age is the winner's."""
    import threading

    from irelab.registry import schemas, service
    from irelab.registry.security import Actor

    registry = Registry.open(db_url, upgrade=False)
    barrier = threading.Barrier(2)
    outcome: dict[int, str] = {}

    def edit(age: int) -> None:
        actor = Actor("dm", "data_manager", None)
        resource = service.RESOURCES["patients"]
        with registry.sessions() as reading:
            read = service.get_visible(reading, actor, Patient, course["patient"]).version
        barrier.wait()
        try:
            with registry.session("dm") as session:
                service.update(
                    session,
                    actor,
                    resource,
                    course["patient"],
                    schemas.PatientUpdate(version=read, age_years=age),
                )
            outcome[age] = "ok"
        except service.Conflict:
            outcome[age] = "conflict"

    threads = [threading.Thread(target=edit, args=(age,)) for age in (70, 71)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome.values()) == ["conflict", "ok"]
    winner = next(age for age, result in outcome.items() if result == "ok")
    with registry.session("dm") as session:
        stored = session.get(Patient, course["patient"])
        assert (stored.age_years, stored.version) == (winner, 2)
    registry.close()

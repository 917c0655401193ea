"""Achieved ablation zones from ``irelab compare``'s comparison.json, through the real server
(uvicorn subprocess, real HTTP: the API and the web upload) and the command line.

Every refusal is one clear 4xx (or exit 2) naming the problem, and stores nothing: a file that
is not a comparison, a tumour of another patient or another site, a tumour never treated in the
procedure, a margin outside the declared range, a second zone for one treatment. Monitors see
the metrics but not the file names; every change is in the audit trail; records carry their
version and are retired, never deleted.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from registry_cases import PASSWORD, PATIENT, auth, csrf_of
from registry_comparisons import comparison_text, write_comparison_file, write_comparison_folder
from typer.testing import CliRunner

from irelab.cli.main import app
from irelab.validation import read_comparison_record


def _post(live, path: str, body: dict, user: str = "inv_a") -> dict:
    r = httpx.post(f"{live.url}{path}", json=body, headers=auth(user), timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def _treated(live, study_id: str, user: str = "inv_a") -> dict[str, int]:
    """A patient with a tumour treated in a procedure; the record ids."""
    patient = _post(live, "/api/patients", {**PATIENT, "study_id": study_id}, user)["id"]
    tumour = _post(live, "/api/tumours",
                   {"patient_id": patient, "origin": "colorectal", "size_mm": 12, "segment": 6},
                   user)["id"]  # fmt: skip
    procedure = _post(live, "/api/procedures",
                      {"patient_id": patient, "date": "2024-02-01", "approach": "percutaneous",
                       "n_probes": 2, "n_pairs": 1, "pulses": 90}, user)["id"]  # fmt: skip
    _post(live, "/api/treatments",
          {"procedure_id": procedure, "tumour_id": tumour, "technical_success": True}, user)
    return {"patient": patient, "tumour": tumour, "procedure": procedure}


def _import(live, body: bytes | str, user: str = "inv_a", **params: int) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/ablation_zones/from-comparison",
        params=params,
        content=body.encode() if isinstance(body, str) else body,
        headers={**auth(user), "content-type": "application/json"},
        timeout=60,
    )


def _zones(live) -> list[dict]:
    r = httpx.get(f"{live.url}/api/ablation_zones", params={"limit": 500}, headers=auth("dm"))
    assert r.status_code == 200
    return r.json()


def test_a_comparison_becomes_the_tumours_ablation_zone(live, tmp_path) -> None:
    ids = _treated(live, f"ZONE-{live.backend}")
    text = comparison_text(tmp_path)
    stored = read_comparison_record(write_comparison_file(tmp_path))
    r = _import(live, text, tumour_id=ids["tumour"])
    assert r.status_code == 201, r.text
    zone = r.json()
    assert (zone["procedure_id"], zone["patient_id"]) == (ids["procedure"], ids["patient"])
    assert zone["dice"] == stored.agreement.dice
    assert zone["minimal_margin_mm"] == stored.agreement.minimal_margin_mm
    assert zone["predicted_minimal_margin_mm"] == stored.agreement.predicted_minimal_margin_mm
    assert (zone["plan_file"], zone["segmentation_file"]) == ("plan-of-patient.yaml",
                                                               "zone-seg.nii.gz")
    assert zone["irelab_version"] == stored.irelab_version and zone["registration_residual"] is None
    seen = httpx.get(f"{live.url}/api/ablation_zones/{zone['id']}", headers=auth("mon")).json()
    assert seen["dice"] == zone["dice"] and "plan_file" not in seen and "created_by" not in seen
    monitor_csv = httpx.get(f"{live.url}/api/export/ablation_zones.csv", headers=auth("mon")).text
    assert "minimal_margin_mm" in monitor_csv and "plan-of-patient" not in monitor_csv
    # optimistic versions: a stale correction is refused; no DELETE, records are retired
    url = f"{live.url}/api/ablation_zones/{zone['id']}"
    fixed = httpx.patch(url, json={"version": 1, "hd95_mm": 3.5}, headers=auth("inv_a"))
    assert fixed.status_code == 200 and fixed.json()["version"] == 2
    stale = httpx.patch(url, json={"version": 1, "hd95_mm": 3.0}, headers=auth("inv_a"))
    assert stale.status_code == 409
    assert httpx.delete(url, headers=auth("dm")).status_code == 405
    trail = httpx.get(f"{live.url}/api/audit", headers=auth("dm"),
                      params={"table": "ablation_zones", "record_id": zone["id"]}).json()
    assert [(e["action"], e["username"]) for e in trail] == [("create", "inv_a"),
                                                              ("update", "inv_a")]
    again = _import(live, text, tumour_id=ids["tumour"])
    assert again.status_code == 409 and "correct that record" in again.json()["detail"]


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("not json", 422, "comparison.json: expected a JSON comparison"),
        ("a plan, not a comparison", 422, "comparison.json: format: expected 'irelab-comparison'"),
        ("margin out of range", 422, "metrics.minimal_ablative_margin_mm: expected minimal "
                                     "ablative margin (mm) >= -100, <= 100, got 250.0"),
        ("dice of nan", 422, "metrics.dice: expected a finite number"),
        ("dice beyond floats", 422, "metrics.dice: expected a finite number, got 'a very large"),
        ("tumour of another patient", 422, "belongs to another patient"),
        ("tumour of another site", 404, "no tumour"),
        ("tumour never treated", 422, "has no recorded treatment"),
        ("no tumour named", 422, "tumour_id"),
    ],
)
def test_bad_comparisons_are_one_clear_refusal_and_store_nothing(
    live, tmp_path, case: str, status: int, words: str
) -> None:
    key = f"{live.backend}-{re.sub('[^A-Za-z0-9]', '', case)}"
    ids = _treated(live, f"BAD-{key}")
    other = _treated(live, f"OTHER-{key}")
    text = comparison_text(tmp_path)
    params = {"tumour_id": ids["tumour"]}
    if case == "not json":
        text = "{not json"
    elif case == "a plan, not a comparison":
        text = json.dumps({"name": "plan", "probes": []})
    elif case == "margin out of range":
        text = comparison_text(tmp_path, minimal_margin_mm=250.0)
    elif case == "dice of nan":
        text = comparison_text(tmp_path).replace('"dice": 0.7407', '"dice": NaN')
    elif case == "dice beyond floats":  # float(10**400) overflows: once a 500
        text = comparison_text(tmp_path).replace('"dice": 0.7407', f'"dice": {10**400}')
    elif case == "tumour of another patient":
        params = {"tumour_id": other["tumour"], "procedure_id": ids["procedure"]}
    elif case == "tumour of another site":
        params = {"tumour_id": _treated(live, f"SITEB-{key}", "inv_b")["tumour"]}
    elif case == "tumour never treated":
        params = {"tumour_id": _post(live, "/api/tumours", {"patient_id": ids["patient"],
                  "origin": "colorectal", "size_mm": 9, "segment": 2})["id"]}  # fmt: skip
    elif case == "no tumour named":
        params = {}
    before = _zones(live)
    r = _import(live, text, **params)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and "/tmp" not in r.text
    assert _zones(live) == before


def _web(live, user: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url, timeout=60)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text
    return client


def test_the_web_upload_stores_the_zone_and_refuses_bad_files_in_words(live, tmp_path) -> None:
    ids = _treated(live, f"WEB-{live.backend}")
    path = f"/patients/{ids['patient']}/ablation_zones/upload"
    web = _web(live, "inv_a")
    try:
        page = web.get(path)
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        patient_page = web.get(f"/patients/{ids['patient']}").text
        assert 'id="upload-ablation-zone"' in patient_page
        form = {"tumour_id": str(ids["tumour"]), "procedure_id": "", "csrf": csrf_of(page.text)}
        too_far = comparison_text(tmp_path, minimal_margin_mm=-250.0).encode()
        bad = web.post(path, data=form, files={"comparison": ("case-7.json", too_far)})
        assert bad.status_code == 422 and "Nothing was saved" in bad.text
        assert "case-7.json: metrics.minimal_ablative_margin_mm" in bad.text
        assert "/tmp" not in bad.text
        forged = web.post(path, data={**form, "csrf": "0" * 64},
                          files={"comparison": ("c.json", comparison_text(tmp_path).encode())})
        assert forged.status_code == 403
        assert _zones_of(live, ids["patient"]) == []
        good = web.post(path, data=form, follow_redirects=False,
                        files={"comparison": ("c.json", comparison_text(tmp_path).encode())})
        assert good.status_code == 303, good.text[:2000]
        shown = web.get(f"/patients/{ids['patient']}").text
        assert 'id="ablation_zones"' in shown and "zone-seg.nii.gz" in shown
    finally:
        web.close()
    (zone,) = _zones_of(live, ids["patient"])
    assert zone["tumour_id"] == ids["tumour"] and zone["procedure_id"] == ids["procedure"]


def _zones_of(live, patient: int) -> list[dict]:
    return httpx.get(f"{live.url}/api/ablation_zones", params={"patient_id": patient},
                     headers=auth("dm")).json()


def test_import_comparison_command(live, tmp_path) -> None:
    """``irelab registry import-comparison`` on the server's own database: a folder written by
    ``irelab compare``'s writer is stored; bad input exits 2 with one line and stores nothing."""
    if live.backend != "sqlite":
        pytest.skip("the command is exercised once, on the SQLite registry")
    ids = _treated(live, "CLI-ZONE")
    other = _treated(live, "CLI-OTHER")
    folder = tmp_path / "compare-out"
    write_comparison_folder(folder)
    runner = CliRunner()

    def run(*args: str, tumour: int = ids["tumour"]):
        return runner.invoke(app, ["registry", "import-comparison", "--study-id", "CLI-ZONE",
                                   "--tumour", str(tumour), "--user", "inv_a",
                                   "--database-url", live.db, *args])  # fmt: skip

    before = _zones(live)
    bogus = tmp_path / "bogus.json"
    bogus.write_text("[1, 2]")
    out_of_range = write_comparison_file(tmp_path / "far", minimal_margin_mm=250.0)
    for args, tumour, words in [
        (("--comparison", str(bogus)), ids["tumour"], f"{bogus}: format"),
        (("--comparison", str(out_of_range)), ids["tumour"],
         "metrics.minimal_ablative_margin_mm"),
        (("--comparison", str(folder)), other["tumour"], "not a tumour of this patient"),
        (("--comparison", str(tmp_path / "missing.json")), ids["tumour"], "missing.json"),
    ]:
        r = run(*args, tumour=tumour)
        assert r.exit_code == 2, (args, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], r.stderr
    assert _zones(live) == before
    r = run("--comparison", str(folder), "--json")
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["tumour_id"], got["procedure_id"]) == (ids["tumour"], ids["procedure"])
    assert got["minimal_margin_mm"] == read_comparison_record(folder).agreement.minimal_margin_mm
    assert len(_zones(live)) == len(before) + 1

"""End to end in headless Debian Chromium (Playwright): log in, enter a patient, a tumour, a
procedure, a treatment, an adverse event and a follow-up through the forms (each carrying its
CSRF token, as a browser sends it), open the report.

The app runs under uvicorn in a background thread on a socket bound (and listening) before the
thread starts, so the browser's first request simply waits in the backlog: no sleeps.
Skipped only when /usr/bin/chromium is missing outside CI; under CI a missing browser fails.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from registry_cases import PASSWORD, SECRET

from irelab.registry.app import create_app
from irelab.registry.deps import SESSION_COOKIE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Playwright's per-action limit (ms): generous because seven engineers share two cores.
ACTION_TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def server(db_url, tmp_path):
    import uvicorn

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing under CI: run `make browser`")
        pytest.skip(f"{CHROMIUM} is missing (run `make browser`)")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app = create_app(db_url, SECRET, report_dir=tmp_path / "reports")
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=30)
    sock.close()


def test_enter_a_course_in_the_browser_and_see_it_in_the_report(server) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        page.goto(f"{server}/login")
        page.fill("#username", "inv_a")
        page.fill("#password", PASSWORD)
        page.click("#login")
        expect(page.locator("h1")).to_have_text("Patients")
        # the login form carried its CSRF token; the session cookie is out of scripts' reach
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""

        page.click("#new-patient")
        page.fill("#study_id", "WEB-001")
        page.select_option("#sex", "F")
        page.fill("#age_years", "66")
        page.fill("#inclusion_date", "2024-01-15")
        page.fill("#last_contact_date", "2024-09-30")
        page.fill("#notes", "<script>alert('x')</script>")
        page.click("#save")
        expect(page.locator("h1")).to_have_text("Patient WEB-001")
        expect(page.locator("#patient-notes")).to_have_text("<script>alert('x')</script>")

        page.click("#add-tumours")
        page.fill("#origin", "colorectal")
        page.fill("#size_mm", "24")
        page.fill("#segment", "6")
        page.click("#save")

        page.click("#add-procedures")
        page.fill("#date", "2024-02-05")
        page.select_option("#approach", "percutaneous")
        page.fill("#n_probes", "4")
        page.fill("#n_pairs", "6")
        page.fill("#pulses", "540")
        page.fill("#max_voltage_V", "2700")
        page.click("#save")
        expect(page.locator("#procedures")).to_contain_text("2024-02-05")

        page.click("#add-treatments")
        page.check("#technical_success")
        page.click("#save")

        page.click("#add-adverse_events")
        page.select_option("#term", "Ventricular tachycardia")
        page.fill("#ctcae_grade", "2")
        page.fill("#cirse_grade", "1")
        page.fill("#onset_day", "0")
        page.select_option("#relation", "related")
        page.select_option("#outcome", "resolved")
        page.click("#save")
        expect(page.locator("#adverse_events")).to_contain_text("Ventricular tachycardia")

        page.click("#add-followups")
        page.fill("#date", "2024-01-20")  # before the procedure: refused, form shown again
        page.select_option("#modality", "MRI")
        page.select_option("#finding", "complete_ablation")
        page.click("#save")
        expect(page.locator("#errors")).to_contain_text("before the procedure")
        page.fill("#date", "2024-03-10")
        page.click("#save")
        expect(page.locator("#followups")).to_contain_text("complete_ablation")

        page.goto(f"{server}/report")
        cells = page.locator("#counts tr").nth(1).locator("td")
        expect(cells).to_have_text(["1", "1", "1", "1", "1", "1"])
        expect(page.locator("#procedures")).to_contain_text("WEB-001")
        expect(page.locator("#adverse-events")).to_contain_text("Ventricular tachycardia")
        expect(page.locator("#findings")).to_contain_text("complete ablation")
        expect(page.locator("#report-error")).to_have_count(0)
        frame = page.frame_locator("iframe")
        expect(frame.locator("body")).to_contain_text("Registry study report")
        browser.close()

"""The web page in headless Chromium (Debian's ``chromium``, driven by Playwright) against a real ``sagehealth serve``.

The server is the real command in its own process on 127.0.0.1, over a writable copy of the
small lakehouse with real API keys; the browser types and clicks as a clinician would. A
missing browser is a failure that names the install command, never a skip: these tests are the
only check that the page works end to end. Playwright's own browser downloads are never used
(``executable_path`` points at the system Chromium).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from services.keys import store_for
from tests.servers import free_port, stop
from tools.resources import Resources

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "the browser tests need Debian's Chromium: `apt-get install -y chromium` (or set SAGE_CHROMIUM=/path/to/chromium)"
UNCERTAIN_FINDINGS = "Possible small right pleural effusion. Heart size normal."
TIMEOUT_MS = 90_000  # the first model-backed turn on a busy 2-core machine


def chromium_path() -> str:
    """The system Chromium: $SAGE_CHROMIUM, else `chromium` / `chromium-browser` on PATH; a clear failure otherwise."""
    found = os.environ.get("SAGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        pytest.fail(f"no Chromium found: {INSTALL_HINT}", pytrace=False)
    return found


@dataclass
class Live:
    url: str
    keys: dict[str, str]
    home: Path

    def http(self, who: str = "clinician") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"x-api-key": self.keys[who]}, timeout=120)


@pytest.fixture(scope="module")
def live(home_copy: Callable[[Path], Settings], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`sagehealth serve` on 127.0.0.1 in a temporary home, with a clinician's and a researcher's key; warmed up."""
    settings = home_copy(tmp_path_factory.mktemp("browser") / "home")
    resources = Resources(settings)
    store = store_for(resources)
    keys = {"clinician": store.create("dr-web", "clinician", "treatment").secret, "researcher": store.create("res-web", "researcher", "research").secret,
            "radiologist": store.create("dr-rad", "radiologist", "quality").secret}
    resources.close()
    port = free_port()
    env = {**os.environ, "SAGE_HOME": str(settings.home), "SAGE_CHECKPOINTER": settings.checkpointer, "PYTHONPATH": str(ROOT)}
    log_path = settings.home / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    found = Live(f"http://127.0.0.1:{port}", keys, settings.home)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sagehealth serve exited {proc.returncode}: {log_path.read_text()[-2000:]}", pytrace=False)
            try:
                if httpx.get(f"{found.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sagehealth serve did not answer in 120 s: {log_path.read_text()[-2000:]}", pytrace=False)
            time.sleep(0.3)
        with found.http() as http:  # load the embedder, the planner and the redactor once, so each test measures its own work
            assert http.post("/api/search", json={"text": "heart size normal", "k": 1}).status_code == 200
            assert http.post("/api/chat", json={"message": "find similar prior cases to a normal chest", "stream": False}).status_code == 200
        yield found
    finally:
        stop(proc, timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (the browser itself is Debian's, see the next error if missing)", pytrace=False)
    executable = chromium_path()
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield found
        found.close()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """The web page with the clinician's key entered, as a user would."""
    context = browser.new_context()
    found = context.new_page()
    found.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    found.on("pageerror", lambda exc: errors.append(str(exc)))
    found.goto(live.url + "/")
    found.get_by_label("API key").fill(live.keys["clinician"])
    found.get_by_role("button", name="Use key").click()
    found.locator("#status").filter(has_text="Key set.").wait_for()
    yield found
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_chat_streams_an_answer_with_citations_and_opens_its_trace(page: Any) -> None:
    # Record, as the page changes, whether answer text is already there while the result line is not yet.
    page.evaluate("""() => { window.__seen = []; const log = document.getElementById('chat-log');
      new MutationObserver(() => { const msgs = log.querySelectorAll('.msg:not(.you)'); const last = msgs[msgs.length - 1];
        window.__seen.push({text: last ? last.textContent.length : 0, meta: !!log.querySelector('.meta')}); })
      .observe(log, {childList: true, subtree: true, characterData: true}); }""")
    page.get_by_label("Message").fill("find similar prior cases to enlarged heart with small effusion")
    page.get_by_role("button", name="Send").click()
    cites = page.locator("#chat-log .meta button.cite")
    cites.first.wait_for()
    answer = page.locator("#chat-log .msg:not(.you)").last.inner_text()
    assert "similar case" in answer and cites.count() >= 3, answer
    seen = page.evaluate("window.__seen")
    assert any(s["text"] > 0 and not s["meta"] for s in seen), f"the answer did not stream before its result: {seen[:10]}"
    # a cited case opens de-identified
    case_id = cites.first.inner_text()
    cites.first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Case {case_id} (de-identified)").wait_for()
    dialog.get_by_role("button", name="Close").click()
    # the answer's trace: a tree of agent decisions and tool calls with timings
    page.locator("#chat-log .meta").get_by_role("button", name="trace").click()
    page.locator("#status").filter(has_text=" spans.").wait_for()
    assert page.get_by_role("tab", name="Trace").get_attribute("aria-selected") == "true"
    spans = page.locator("#trace-view .span")
    names = " ".join(spans.all_inner_texts())
    assert spans.count() >= 3 and "invoke_agent planner" in names and " ms" in names, names[:500]


def test_report_drafter_then_feedback_on_a_retrieved_case(page: Any, live: Live) -> None:
    page.get_by_role("tab", name="Report drafter").click()
    page.get_by_label("Findings").fill(UNCERTAIN_FINDINGS)
    page.get_by_role("button", name="Draft report").click()
    page.locator("#status").filter(has_text="review.").wait_for()
    draft = page.locator("#draft-out").inner_text()
    assert draft.strip() and not draft.startswith("Error"), draft
    cases = page.locator("#draft-cases button.cite")
    assert cases.count() >= 1
    reasons = page.locator("#draft-reasons").inner_text()
    assert "uncertain" in reasons and "pleural_effusion" in reasons, reasons
    assert page.locator("#draft-steps li").count() >= 3
    # feedback on a retrieved case's findings, through the case dialog
    case_id = cases.first.inner_text()
    with live.http() as http:
        labels = http.get(f"/api/cases/{case_id}").json()["labels"]
    finding = next(f for f in ("cardiomegaly", "edema", "consolidation", "atelectasis") if labels.get(f) != "uncertain")
    new = "absent" if labels.get(finding) == "present" else "present"
    cases.first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Finding").select_option(finding)
    dialog.get_by_label("should be").select_option(new)
    dialog.get_by_label("Reason").fill("checked on the image")
    dialog.get_by_role("button", name="Send correction").click()
    result = dialog.locator("#fb-result")
    result.filter(has_text="Feedback").wait_for()
    assert result.inner_text().startswith("Feedback applied"), result.inner_text()
    assert f"{finding} {new}" in dialog.locator("#case-labels").inner_text()
    with live.http() as http:
        shown = http.get(f"/api/cases/{case_id}").json()
    assert shown["labels"][finding] == new
    dialog.get_by_role("button", name="Close").click()
    # That case's own next draft follows the correction, and says which one.
    page.get_by_label("Findings").fill(shown["findings"])
    page.get_by_label("Case id").fill(case_id)
    page.get_by_role("button", name="Draft report").click()
    page.locator("#draft-corrections li").filter(has_text=finding).wait_for()
    assert f"{finding} {new} (correction fb-" in page.locator("#draft-corrections").inner_text()


def test_review_queue_approves_a_paused_run(page: Any, live: Live) -> None:
    with live.http() as http:
        paused = http.post("/api/runs?wait=true", json={"task": "report", "input": {"findings": UNCERTAIN_FINDINGS}, "thread_id": "web-review-1"})
        assert paused.status_code == 200 and paused.json()["result"]["status"] == "review", paused.text
    page.get_by_role("tab", name="Review queue").click()
    card = page.get_by_role("article", name="Review web-review-1")
    assert "uncertain" in card.inner_text()
    card.get_by_label("Note").fill("agree with the draft")
    card.get_by_role("button", name="Approve").click()
    page.locator("#status").filter(has_text="done.").wait_for()
    card.wait_for(state="detached")
    with live.http() as http:
        done = http.get("/api/runs/web-review-1").json()
    assert done["status"] == "done" and done["result"]["status"] == "done", done
    assert done["result"]["policy_decisions"][-1]["stage"] == "review" and "dr-web" in done["result"]["policy_decisions"][-1]["reason"]


def test_label_reviews_let_a_second_reviewer_approve_a_held_correction_by_keyboard(page: Any, live: Live) -> None:
    with live.http() as http:  # dr-web corrects a high-impact finding: held for a second reviewer
        case_id = next(h["case_id"] for h in http.post("/api/search", json={"text": "heart size normal, lungs clear", "k": 10}).json()["hits"]
                       if "pneumothorax" not in h["labels"])
        held = http.post(f"/api/cases/{case_id}/feedback", json={"changes": [{"finding": "pneumothorax", "old": None, "new": "present"}], "reason": "small apical pneumothorax"})
        assert held.status_code == 200 and held.json()["status"] == "needs_review", held.text
    event_id = held.json()["event_id"]
    page.get_by_label("API key").fill(live.keys["radiologist"])  # the second reviewer
    page.get_by_role("button", name="Use key").click()
    page.get_by_role("tab", name="Review queue").click()
    card = page.get_by_role("article", name="Correction " + event_id)
    assert "pneumothorax" in card.inner_text() and "high-impact" in card.inner_text() and case_id in card.inner_text()
    card.get_by_label("Note").fill("agree")
    card.get_by_role("button", name="Approve " + event_id).focus()
    page.keyboard.press("Enter")
    page.locator("#status").filter(has_text="approved").wait_for()
    card.wait_for(state="detached")
    with live.http("radiologist") as http:
        assert http.get(f"/api/cases/{case_id}").json()["labels"]["pneumothorax"] == "present"
        assert http.get("/api/feedback/pending").json()["corrections"] == []

"""Topic 8 (ethics) in headless Chromium: each sub-tab runs its experiment and shows its result.

Screenshots land in screenshots/ (topic8_*.png) for a person to look at. Long generations are left to the unit
tests; here the watermark detector checks a typed text.
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS


def open_ethics(page, url, sub_tab: str):
    """Topic 8 opened on one sub-tab by a link (``?sub=``), as a lesson step does."""
    open_app(page, f"{url}?tab=ethics&sub={re.sub(r'[^a-z0-9]+', '-', sub_tab.lower()).strip('-')}")


def test_watermark_detector_scores_a_typed_text(app_url, browser_page):
    page = browser_page
    open_ethics(page, app_url, "Watermark")
    page.locator("#ethics-check-text textarea").fill(
        "The old lighthouse keeper climbed the stairs one last time and looked out over the grey sea.")
    page.get_by_role("button", name="Check for the watermark").click()
    info = page.locator("#ethics-check-info")
    expect(info).to_contain_text("no watermark detected", timeout=120_000)
    assert re.search(r"z = -?\d+\.\d\d", info.inner_text())
    page.screenshot(path=SCREENSHOTS / "topic8_watermark.png", full_page=True)
    assert not error_toasts(page)


def test_empty_text_gets_a_clear_message_not_a_traceback(app_url, browser_page):
    page = browser_page
    open_ethics(page, app_url, "Detection")
    box = page.locator("#ethics-score-text textarea")
    # The sub-tab's default text arrives as gradio draws it: empty the box after that, or the default comes back.
    expect(box).not_to_have_value("", timeout=60_000)
    box.fill("")
    expect(box).to_have_value("")
    page.get_by_role("button", name="Score this text").click()
    expect(page.locator(".toast-body").filter(has_text="Type or paste some text first")).to_be_visible(timeout=60_000)


def test_bias_probe_and_weat_show_their_results(app_url, browser_page):
    page = browser_page
    open_ethics(page, app_url, "Bias")
    page.get_by_role("button", name="Run WEAT").click()
    expect(page.locator("#ethics-weat-summary")).to_contain_text("Effect size d", timeout=120_000)
    page.get_by_role("button", name="Run the probe").click()
    expect(page.locator("#ethics-probe-summary")).to_contain_text("template(s)", timeout=120_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=SCREENSHOTS / "topic8_bias.png", full_page=True)
    assert not error_toasts(page)


def test_image_watermark_table_and_png_metadata(app_url, browser_page):
    page = browser_page
    open_ethics(page, app_url, "Provenance")
    page.get_by_role("button", name="Embed, attack, and write the PNG").click()
    summary = page.locator("#ethics-provenance-summary")
    expect(summary).to_contain_text("PSNR", timeout=120_000)
    expect(summary).to_contain_text("re-saved as JPEG it carries 0")
    expect(page.get_by_text("JPEG quality 90", exact=True).first).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=SCREENSHOTS / "topic8_provenance.png", full_page=True)
    assert not error_toasts(page)


def test_model_cards_come_from_the_catalog(app_url, browser_page):
    page = browser_page
    open_ethics(page, app_url, "Model cards")
    card = page.locator("#ethics-model-card")
    expect(card).to_contain_text("SmolLM2-135M-Instruct", timeout=60_000)
    expect(card).to_contain_text("Apache-2.0")
    page.screenshot(path=SCREENSHOTS / "topic8_model_cards.png", full_page=True)
    assert not error_toasts(page)

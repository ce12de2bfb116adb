"""Topic 6 in headless Chromium: a melody is generated, heard, seen, looked inside; bad input and an offline
MusicGen give clear messages. Screenshots: screenshots/topic6_*.png."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_app_browser import open_app
from tests.conftest import SCREENSHOTS


def open_music(page, url):
    open_app(page, f"{url}?tab=music")
    expect(page.get_by_role("button", name="Generate melody", exact=True)).to_be_visible(timeout=60_000)


def toasts(page) -> str:
    return " ".join(page.locator(".toast-body").all_inner_texts())


def test_an_example_melody_plays_shows_abc_midi_and_its_candidates(app_url, browser_page):
    page = browser_page
    open_music(page, app_url)
    page.get_by_role("button", name="Same jig, hot (temperature 1.8)", exact=True).click()
    summary = page.locator("#music-summary")
    expect(summary).to_contain_text("notes generated", timeout=90_000)
    expect(page.locator("#music-abc textarea")).to_have_value(re.compile(r"X:1[\s\S]*K:G"), timeout=10_000)
    expect(page.locator("#music-audio audio, #music-audio [data-testid='waveform-Listen']").first).to_be_attached()
    expect(page.locator("#music-midi a").first).to_have_attribute("href", re.compile(r"\.mid"), timeout=10_000)
    expect(page.locator("#music-roll img")).to_be_visible()
    expect(page.locator("#music-step-info")).to_contain_text("Generated note 1 of")
    step = page.locator("#music-step input[type='number']")
    step.fill("5")
    step.press("Enter")
    expect(page.locator("#music-step-info")).to_contain_text("Generated note 5 of", timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "topic6_melody.png", full_page=True)
    assert "error" not in toasts(page).lower()


def test_a_wrong_note_name_is_reported_and_the_demo_keeps_working(app_url, browser_page):
    page = browser_page
    open_music(page, app_url)
    opening = page.get_by_label("Opening to continue (optional)")
    opening.fill("C4 D4 H4")
    page.get_by_role("button", name="Generate melody", exact=True).click()
    expect(page.locator(".toast-body").first).to_contain_text("note 3", timeout=60_000)
    opening.fill("C4 D4 E4 C4")
    page.get_by_role("button", name="Generate melody", exact=True).click()
    expect(page.locator("#music-summary")).to_contain_text("4 from your opening", timeout=90_000)


def test_musicgen_offline_warns_what_to_do(app_url, browser_page):
    page = browser_page
    open_music(page, app_url)
    page.get_by_role("tab", name="MusicGen: text to audio (hub)").click()
    page.get_by_role("button", name="Generate audio", exact=True).click()
    expect(page.locator(".toast-body").first).to_contain_text("huggingface-cli download", timeout=60_000)
    expect(page.locator("#musicgen-info")).to_contain_text("melody transformer works offline")
    page.screenshot(path=SCREENSHOTS / "topic6_musicgen_offline.png", full_page=True)

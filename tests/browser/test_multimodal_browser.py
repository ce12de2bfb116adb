"""Topic 9 in headless Chromium: search, caption a drawing, run the whole chain, ask a picture offline, bad input.

Screenshots land in screenshots/ (topic9_*.png) for a person to look at.
"""
from __future__ import annotations

import math
import re

from PIL import Image
from playwright.sync_api import expect

from tests.browser.test_app_browser import open_app
from tests.conftest import SCREENSHOTS


def open_tab(page, url):
    open_app(page, f"{url}?tab=multimodal")
    expect(page.get_by_role("tab", name="Search & caption", exact=True)).to_be_visible(timeout=60_000)


def toasts(page, kind: str) -> list[str]:
    return [t for t in page.locator(".toast-body").all_inner_texts() if kind in t.lower()]


def test_search_finds_pictures_and_a_drawing_gets_captions_and_a_place_on_the_map(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url)
    page.get_by_role("button", name="Search images", exact=True).click()
    expect(page.get_by_text(re.compile(r"heart .*· 0\.\d\d")).first).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="Draw", exact=True).click()
    page.get_by_role("button", name="Brush", exact=True).click()
    canvas = page.locator("canvas").filter(visible=True).first
    expect(canvas).to_be_visible(timeout=20_000)
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy)
    page.mouse.down()
    for i in range(25):  # a rough circle
        angle = math.pi + i * math.pi / 12
        page.mouse.move(cx + 60 * math.cos(angle), cy + 60 * math.sin(angle), steps=3)
    page.mouse.up()
    page.get_by_role("button", name="Caption the drawing", exact=True).click()
    expect(page.get_by_text(re.compile(r"\d+%")).filter(visible=True).first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=SCREENSHOTS / "topic9_search_and_caption.png", full_page=True)
    assert not toasts(page, "error")


def test_the_chain_shows_every_modality_or_says_why_not(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url)
    page.get_by_role("tab", name="One idea, every modality", exact=True).click()
    page.get_by_role("button", name="Run the chain", exact=True).click()
    expect(page.get_by_text("Whole chain:", exact=False)).to_be_visible(timeout=240_000)
    for step in ("image", "caption", "text", "melody", "speech"):
        expect(page.get_by_text(re.compile(rf"^{step}:")).first).to_be_attached()
    sentence = page.get_by_label("3 · Sentence (SmolLM2-135M, topic 4)")
    assert sentence.input_value().strip()
    expect(page.get_by_text(re.compile(r"(major|minor)")).first).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=SCREENSHOTS / "topic9_chain.png", full_page=True)
    assert not toasts(page, "error")


def test_bad_input_gets_a_clear_message_and_offline_ask_falls_back_to_the_tiny_clip(app_url, browser_page, tmp_path):
    page = browser_page
    open_tab(page, app_url)
    page.get_by_label("Describe an emoji").fill("")
    page.get_by_role("button", name="Search images", exact=True).click()
    expect(page.get_by_text("Type a description first.").first).to_be_visible(timeout=30_000)

    picture = tmp_path / "heart.png"
    Image.new("RGB", (64, 64), (220, 30, 40)).save(picture)
    page.get_by_role("tab", name="Ask a picture (hub)", exact=True).click()
    panel = page.get_by_role("tabpanel").filter(has_text="vision-language model").last
    panel.locator("input[type=file]").first.set_input_files(str(picture))
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.get_by_label("Answer")
    expect(answer).to_have_value(re.compile("tiny CLIP"), timeout=60_000)
    assert toasts(page, "cannot be loaded")
    page.screenshot(path=SCREENSHOTS / "topic9_ask_offline.png", full_page=True)

"""Topic 5 in headless Chromium: generate emoji with one step-view frame per step, compare guidance.

Screenshots land in screenshots/ (topic5_*.png) for a person to look at.
"""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS


def open_tab(page, url, slug):
    open_app(page, f"{url}?tab={slug}")


def test_topic_5_generates_images_and_shows_every_step(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url, "images")
    page.get_by_label("Steps").first.fill("8")
    page.get_by_role("button", name="Generate", exact=True).filter(visible=True).first.click()
    expect(page.get_by_text("image(s) of", exact=False).first).to_be_visible(timeout=120_000)
    gallery = page.locator("#images-gallery img")
    expect(gallery.first).to_be_visible(timeout=30_000)
    assert gallery.count() >= 4
    expect(page.locator("#images-filmstrip img").first).to_be_visible(timeout=30_000)
    assert page.locator("#images-filmstrip img").count() == 8  # one frame per step
    page.wait_for_timeout(1000)
    page.screenshot(path=SCREENSHOTS / "topic5_generate.png", full_page=True)
    assert not error_toasts(page)


def test_topic_5_compares_guidance_1_7_15_side_by_side(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url, "images")
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Guidance 1 vs 7 vs 15").check()
    page.get_by_label("Steps").first.fill("6")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.get_by_text("for every image", exact=False).first).to_be_visible(timeout=120_000)
    expect(page.get_by_text("guidance 15", exact=False).first).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "topic5_compare.png", full_page=True)
    assert not error_toasts(page)

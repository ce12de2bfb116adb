"""Topics 1 and 2 in headless Chromium: the fitted models draw, each live model trains while Play is on.

Screenshots land in screenshots/ (topic1_*.png, topic2_*.png) for a person to look at.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS

MIN_STEPS = 20  # training steps each live model must show while Play is on
PLAY_TIMEOUT_S = 120  # how long Play may take to get there on a busy machine


def open_tab(page, url, slug):
    open_app(page, f"{url}?tab={slug}")


def panel(page):
    return page.get_by_role("tabpanel").filter(visible=True).first


def test_topic_1_fits_both_models_and_takes_drawn_points(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url, "understanding")
    expect(page.get_by_text("Held-out log-likelihood", exact=False).first).to_be_visible(timeout=60_000)
    page.get_by_text("Ring of 8 Gaussians", exact=True).first.click()
    expect(page.get_by_text("nats per point", exact=False).first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=SCREENSHOTS / "topic1_ring.png", full_page=True)
    # A click on the canvas edits a copy of the preset: the dataset becomes "Your points".
    canvas = page.locator("img[alt]").filter(visible=True).first
    canvas.click(position={"x": 30, "y": 30})
    expect(page.get_by_role("radio", name="Your points")).to_be_checked(timeout=20_000)
    assert not error_toasts(page)


def _shown_steps(page) -> int | None:
    status = page.get_by_text(re.compile(r"Step [\d,]+")).filter(visible=True)
    if not status.count():
        return None
    return int(re.search(r"Step ([\d,]+)", status.first.inner_text()).group(1).replace(",", ""))


def _play(page, name: str, min_steps: int = MIN_STEPS, timeout_s: float = PLAY_TIMEOUT_S):
    """Play until the page shows more than ``min_steps`` training steps (waiting up to ``timeout_s``), then Pause."""
    page.get_by_role("button", name="▶ Play").filter(visible=True).first.click()
    deadline = time.monotonic() + timeout_s
    while ((steps := _shown_steps(page)) or 0) <= min_steps and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    page.get_by_role("button", name="Pause", exact=True).filter(visible=True).first.click()
    page.wait_for_timeout(800)
    page.screenshot(path=SCREENSHOTS / f"topic2_{name}.png", full_page=True)
    assert steps is not None and steps > min_steps, f"{name}: the page showed {steps} steps after {timeout_s} s of Play"
    assert not error_toasts(page), name
    return steps


def test_topic_2_trains_each_model_live(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url, "key_models")
    expect(page.get_by_role("tab", name="GAN", exact=True)).to_be_visible(timeout=60_000)
    _play(page, "gan")
    page.get_by_role("tab", name="VAE", exact=True).click()
    _play(page, "vae")
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    _play(page, "diffusion")
    page.get_by_role("button", name="Show the reverse process (noise → data)").click()
    page.wait_for_timeout(3000)
    page.screenshot(path=SCREENSHOTS / "topic2_diffusion_reverse.png", full_page=True)
    page.get_by_role("tab", name="Transformer", exact=True).click()
    expect(page.get_by_role("link", name=re.compile("Language tab"))).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENSHOTS / "topic2_transformer.png", full_page=True)
    assert not error_toasts(page)


def test_topic_2_compare_fills_the_table(app_url, browser_page):
    page = browser_page
    open_tab(page, app_url, "key_models")
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.get_by_role("button", name="Train all and compare").click()
    # Gradio's Dataframe keeps a hidden copy of the table to measure column widths, so text locators
    # find a hidden cell first: ask for the grid cells, which only the visible table has.
    table = panel(page)
    last = table.get_by_role("gridcell", name="Transformer (autoregressive)", exact=True)
    expect(last).to_be_visible(timeout=180_000)
    for family in ("Gaussian mixture (topic 1)", "GAN", "VAE", "Diffusion"):
        expect(table.get_by_role("gridcell", name=family, exact=True)).to_be_visible()
    page.wait_for_timeout(1500)
    page.screenshot(path=SCREENSHOTS / "topic2_compare.png", full_page=True)
    assert not error_toasts(page)

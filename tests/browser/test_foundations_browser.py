"""Topic 3 in headless Chromium: train the spiral live, watch the step count move, then pause.

The screenshot (screenshots/foundations_spiral.png) is for a person to look at: the network's neurons,
the decision regions around the spiral arms, and the loss curves.
"""
import re
import time

from playwright.sync_api import expect

from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS


def visible_button(page, name):
    """The visible button whose label contains ``name`` (shared.live's labels carry icons that may change)."""
    return page.get_by_role("button", name=re.compile(rf"(^|\W){re.escape(name)}($|\W)")).filter(visible=True).first


def step_count(page) -> int:
    text = page.get_by_text(re.compile(r"^Step [\d,]+ ·")).filter(visible=True).first.inner_text()
    return int(re.search(r"Step ([\d,]+)", text).group(1).replace(",", ""))


def test_training_the_spiral_live_moves_the_picture_and_the_step_count(app_url, browser_page):
    page = browser_page
    open_app(page, f"{app_url}?tab=foundations")
    expect(page.get_by_role("tab", name="Playground", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"parameters · layers 2 → 16 → 16 → 2"))).to_be_visible(timeout=30_000)
    for feature in ("sin x", "sin y"):  # a structural change: the network resets with 4 inputs
        page.get_by_label(feature, exact=True).check()
    expect(page.get_by_text(re.compile(r"parameters · layers 4 → 16"))).to_be_visible(timeout=30_000)

    visible_button(page, "Play").click()
    expect(page.get_by_text(re.compile(r"^Step [\d,]+ ·")).filter(visible=True).first).to_be_visible(timeout=30_000)
    first = step_count(page)
    time.sleep(8)
    later = step_count(page)
    visible_button(page, "Pause").click()
    assert later > first, (first, later)
    time.sleep(1)
    paused = step_count(page)
    time.sleep(1.5)
    assert step_count(page) == paused  # Pause really stops training
    expect(page.get_by_text(re.compile(r"^Step [\d,]+ ·.*paused$")).filter(visible=True).first).to_be_visible()
    assert page.locator("img[src*='run-']").filter(visible=True).count() == 1  # the network picture
    page.screenshot(path=SCREENSHOTS / "foundations_spiral.png", full_page=True)
    assert not error_toasts(page)
    assert not [e for e in page.errors if "favicon" not in e]


def test_show_the_code_gives_a_pytorch_script(app_url, browser_page):
    page = browser_page
    open_app(page, f"{app_url}?tab=foundations")
    expect(page.get_by_text(re.compile(r"parameters · layers"))).to_be_visible(timeout=30_000)
    page.get_by_text("Take it home: the code and the weights").click()
    visible_button(page, "Show the code").click()
    expect(page.get_by_text("The network from Creative Machines").first).to_be_visible(timeout=30_000)
    assert not error_toasts(page)

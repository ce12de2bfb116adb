"""Topic 10 in headless Chromium: prepare Shakespeare, train a tiny model to the end, generate, download.

The screenshot (screenshots/build_your_own.png) is for a person to look at: the loss curve against its
two baselines, and the samples printed while the model learned.
"""
import re

from playwright.sync_api import expect

from shared import limits
from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS


def open_topic(page, app_url):
    open_app(page, f"{app_url}?tab=build_your_own")
    expect(page.get_by_role("tab", name="10 · Your project", exact=True)).to_have_attribute(
        "aria-selected", "true", timeout=30_000)


def set_number(page, label, value):
    field = page.get_by_label(label).filter(visible=True).first
    field.fill(str(value))
    field.press("Enter")


def test_prepare_train_generate_and_download_a_tiny_model(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url)
    page.get_by_role("button", name="Prepare data", exact=True).click()
    expect(page.get_by_text(re.compile(r"Baselines on the held-out text"))).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile(r"vocabulary of 67 tokens"))).to_be_visible()

    page.get_by_role("tab", name="2 · Train", exact=True).click()
    set_number(page, "Layers", 1)
    set_number(page, "Embedding size", 32)
    set_number(page, "Training steps", 40)
    expect(page.get_by_text(re.compile(r"[\d,]+ parameters .*vocabulary 67"))).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="▶ Train", exact=True).click()
    expect(page.get_by_text(re.compile(r"finished: all 40 steps done"))).to_be_visible(timeout=120_000)
    expect(page.get_by_label(re.compile("Samples while it learns"))).to_have_value(re.compile(r"── step 40 ──"))
    page.screenshot(path=SCREENSHOTS / "build_your_own.png", full_page=True)

    page.get_by_role("tab", name="3 · Generate", exact=True).click()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text(re.compile(r"\d+ tokens in [\d.]+ s · your model at step 40"))).to_be_visible(
        timeout=60_000)
    page.get_by_role("button", name="Show attention", exact=True).click()
    expect(page.get_by_text(re.compile(r"1 layers × 2 heads|layers × "))).to_be_visible(timeout=60_000)

    page.get_by_role("tab", name="4 · Take it home", exact=True).click()
    page.get_by_role("button", name="Build the download", exact=True).click()
    expect(page.get_by_text(re.compile(r"my-model-step40.*\.zip"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"A small GPT trained on Shakespeare"))).to_be_visible()
    assert not error_toasts(page)
    assert not [e for e in page.errors if "favicon" not in e]


def test_generating_before_training_says_what_to_do(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url)
    page.get_by_role("tab", name="3 · Generate", exact=True).click()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator(".toast-body").filter(has_text="press Train")).to_be_visible(timeout=30_000)


def test_pause_and_stop_keep_the_model_and_say_so(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url)
    page.get_by_role("button", name="Prepare data", exact=True).click()
    expect(page.get_by_text(re.compile(r"Baselines on the held-out text"))).to_be_visible(timeout=90_000)
    page.get_by_role("tab", name="2 · Train", exact=True).click()
    set_number(page, "Layers", 1)
    set_number(page, "Embedding size", 32)
    set_number(page, "Training steps", limits.BYO_STEPS_MAX)  # far more than it trains before Stop
    of_all = rf"Step [\d,]+ / {limits.BYO_STEPS_MAX:,} .*"
    page.get_by_role("button", name="▶ Train", exact=True).click()
    expect(page.get_by_text(re.compile(of_all + "training…"))).to_be_visible(timeout=90_000)
    page.get_by_role("button", name="Pause", exact=True).filter(visible=True).first.click()
    expect(page.get_by_text(re.compile(of_all + "paused"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="■ Stop", exact=True).click()
    status = page.get_by_text(re.compile(of_all + "finished: stopped by you"))
    expect(status).to_be_visible(timeout=60_000)
    steps = re.search(r"Step ([\d,]+) /", status.inner_text()).group(1)

    page.get_by_role("tab", name="3 · Generate", exact=True).click()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text(re.compile(rf"\d+ tokens in [\d.]+ s · your model at step {steps}"))).to_be_visible(
        timeout=60_000)
    assert not error_toasts(page)

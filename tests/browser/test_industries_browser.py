"""Topic 7 in headless Chromium: a structure grows live, a synthetic table is checked, copy and code are generated.

Screenshots (screenshots/industries_*.png) are for a person to look at: the cantilever and its compliance
curve; the synthetic table's histograms, correlations and privacy plot; the fact-checked copy; the code.
"""
import re
import time

from playwright.sync_api import expect

from apps.industries import coding, marketing, topology
from tests.browser.test_app_browser import error_toasts, open_app
from tests.conftest import SCREENSHOTS

STOP_WAIT_S = 180  # how long held work waits for the page's Stop before it goes on


def hold_until_stopped(monkeypatch, module, name, after):
    """Make ``module.<name>`` (the work's generator of steps) wait after its ``after``-th step until the page's Stop
    has set a flag in ``module.STOPS`` (at most ``STOP_WAIT_S``).

    Stop then lands mid-work on every machine: on a fast one the work would otherwise end before the click
    arrives, and the test could not tell a stop from a natural end.
    """
    original = getattr(module, name)

    def stop_pressed() -> bool:
        return any(flag.is_set() for flag in list(module.STOPS._running.values()))

    def held(*args, **kwargs):
        for count, step in enumerate(original(*args, **kwargs), start=1):
            yield step
            if count == after:
                deadline = time.monotonic() + STOP_WAIT_S
                while not stop_pressed() and time.monotonic() < deadline:
                    time.sleep(0.05)

    monkeypatch.setattr(module, name, held)


def open_sub_tab(page, app_url, name):
    open_app(page, f"{app_url}?tab=industries")
    expect(page.get_by_role("tab", name="7 · Industries", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                        timeout=30_000)
    page.get_by_role("tab", name=name, exact=True).click()


def labelled(page, label):
    """The visible control with this label (other tabs may have one with the same name, hidden)."""
    return page.get_by_label(label, exact=True).filter(visible=True).first


def set_number(page, label, value):
    box = labelled(page, f"number input for {label}")
    box.fill(str(value))
    box.press("Enter")


def test_a_cantilever_grows_live_and_impossible_supports_are_refused(app_url, browser_page):
    page = browser_page
    open_sub_tab(page, app_url, "Generative design")
    expect(page.get_by_text("Ready: press Optimise", exact=False)).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Optimise", exact=True).click()
    expect(page.get_by_text(re.compile(r"Iteration \d+ of up to 60"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"stopped: "))).to_be_visible(timeout=90_000)
    assert page.locator("#industries-design img").count() == 1
    page.screenshot(path=SCREENSHOTS / "industries_design.png", full_page=True)

    labelled(page, "Left edge clamped").uncheck()
    labelled(page, "Bottom-left corner pinned").check()
    expect(page.get_by_text("cannot hold the structure still", exact=False).first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Optimise", exact=True).click()
    expect(page.locator(".toast-body").filter(has_text="cannot hold the structure still")).to_be_visible(timeout=30_000)
    assert not [e for e in page.errors if "favicon" not in e]


def test_stop_keeps_the_design_so_far_and_says_so(app_url, browser_page, monkeypatch):
    hold_until_stopped(monkeypatch, topology, "optimise", after=2)
    page = browser_page
    open_sub_tab(page, app_url, "Generative design")
    expect(page.get_by_text("Ready: press Optimise", exact=False)).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Optimise", exact=True).click()
    expect(page.get_by_text(re.compile(r"Iteration \d+ of up to 60"))).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Iteration 3 of up to 60 .* stopped by you"))).to_be_visible(timeout=120_000)
    assert page.locator("#industries-design img").count() == 1
    assert page.locator("[data-testid='status-tracker'] span.error").filter(visible=True).count() == 0
    assert not error_toasts(page)


def test_a_synthetic_table_is_measured_and_offered_as_a_csv(app_url, browser_page):
    page = browser_page
    open_sub_tab(page, app_url, "Synthetic data")
    labelled(page, "Diabetes (regression)").check()
    page.get_by_role("button", name="Fit and sample", exact=True).click()
    expect(page.get_by_text(re.compile(r"scores R² [\d.-]+ on the real holdout \(TSTR\)"))).to_be_visible(timeout=240_000)
    download = page.get_by_role("button", name="Download synthetic CSV", exact=True)
    expect(download).to_be_visible(timeout=60_000)
    with page.expect_download() as info:
        download.click()
    assert info.value.suggested_filename.endswith(".csv")
    page.screenshot(path=SCREENSHOTS / "industries_synthetic.png", full_page=True)
    assert not error_toasts(page)


def test_marketing_copy_is_written_and_fact_checked_and_empty_facts_are_refused(app_url, browser_page):
    page = browser_page
    open_sub_tab(page, app_url, "Marketing copy")
    set_number(page, "Variants", 1)
    set_number(page, "Max new tokens", 32)
    page.get_by_role("button", name="Write variants", exact=True).click()
    expect(page.get_by_text(re.compile(r"Numbers and names: .* in your inputs"))).to_be_visible(
        timeout=120_000)
    expect(page.locator("#industries-copy").get_by_text("Variant 1")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "industries_marketing.png", full_page=True)

    labelled(page, "Product facts (one per line)").fill("")
    page.get_by_role("button", name="Write variants", exact=True).click()
    expect(page.locator(".toast-body").filter(has_text="Enter the product facts")).to_be_visible(timeout=30_000)


def test_the_coding_assistant_checks_k_samples_and_reports_pass_at_k(app_url, browser_page):
    page = browser_page
    open_sub_tab(page, app_url, "Coding assistant")
    labelled(page, "Raw continuation").check()
    set_number(page, "Samples (k)", 2)
    set_number(page, "Max new tokens", 48)
    page.get_by_role("button", name="Write code", exact=True).click()
    expect(page.get_by_text(re.compile(r"pass@k: parses \(\d/2\)"))).to_be_visible(timeout=120_000)
    expect(page.locator("#industries-code")).to_contain_text("def is_palindrome")
    page.screenshot(path=SCREENSHOTS / "industries_coding.png", full_page=True)
    assert not error_toasts(page)


def test_stop_keeps_the_copy_and_code_written_so_far(app_url, browser_page, monkeypatch):
    hold_until_stopped(monkeypatch, marketing, "generate_variants", after=3)  # variant 1's first two tokens
    hold_until_stopped(monkeypatch, coding, "generate_candidates", after=3)  # sample 1's first two tokens
    page = browser_page
    open_sub_tab(page, app_url, "Marketing copy")
    set_number(page, "Variants", 4)
    page.get_by_role("button", name="Write variants", exact=True).click()
    expect(page.get_by_text(re.compile(r"Writing variant 1 of 4"))).to_be_visible(timeout=180_000)
    page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Stopped by you during variant 1 of 4\. Numbers and names: "))
           ).to_be_visible(timeout=120_000)
    expect(page.locator("#industries-copy").get_by_text("Variant 1")).to_be_visible(timeout=30_000)
    expect(page.locator("#industries-copy").get_by_text("Variant 2")).to_have_count(0)

    page.get_by_role("tab", name="Coding assistant", exact=True).click()
    set_number(page, "Samples (k)", 4)
    page.get_by_role("button", name="Write code", exact=True).click()
    expect(page.get_by_text(re.compile(r"Writing sample 1 of 4"))).to_be_visible(timeout=180_000)
    page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Stopped by you during sample 1 of 4"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"pass@k: parses \(\d/1\)"))).to_be_visible(timeout=30_000)
    assert page.locator("[data-testid='status-tracker'] span.error").filter(visible=True).count() == 0
    assert not error_toasts(page)


def test_a_lesson_step_opens_a_sub_tab_on_the_wrapped_bar_and_the_checker_decides(app_url, browser_page):
    """Six sub-tabs do not fit one row of the pane: the bar wraps onto a second row (``every_tab_in_view`` in
    shared/page.py), and the step opens one there. Step 7 (Science: verify) sets its controls and presses Sample
    and verify."""
    page = browser_page
    open_app(page, f"{app_url}?tab=industries")
    page.get_by_role("link", name="▶ Set up step 7").click()
    expect(page.get_by_role("tab", name="Science: verify", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                         timeout=30_000)
    expect(page.get_by_text(re.compile(r"The checker found a right answer for \d of 4 problems"))) \
        .to_be_visible(timeout=300_000)
    assert page.locator("#industries-science-plot").count() == 1
    assert not error_toasts(page)
    page.screenshot(path=SCREENSHOTS / "industries_science.png", full_page=True)

"""The course in headless Chromium at a projector's size: every tab, deep links, and a generation on tab 4.

Screenshots land in screenshots/ for a person to look at.
"""
import re

import pytest
from playwright.sync_api import expect

from apps import TOPICS
from tests.conftest import ROOT, SCREENSHOTS


def lesson_title(topic) -> str:
    first = (ROOT / "lessons" / f"{topic.number:02d}_{topic.slug}.md").read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("# ").strip()


def open_app(page, url):
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector(".gradio-container", timeout=60_000)


def open_language_tab(page, url):
    open_app(page, f"{url}?tab=language")
    expect(page.get_by_role("tab", name="4 · Language", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                       timeout=30_000)


def error_toasts(page) -> list[str]:
    return [t for t in page.locator(".toast-body").all_inner_texts() if "error" in t.lower()]


def test_every_tab_shows_its_lesson_without_errors(app_url, browser_page):
    page = browser_page
    open_app(page, app_url)
    expect(page.get_by_text("Models run on", exact=False).first).to_be_visible(timeout=30_000)
    for topic in TOPICS:
        page.get_by_role("tab", name=topic.tab_title, exact=True).click()
        heading = page.get_by_role("heading", name=lesson_title(topic), exact=True)
        expect(heading).to_be_visible(timeout=15_000)
        page.screenshot(path=SCREENSHOTS / f"tab_{topic.number:02d}_{topic.slug}.png")
        assert not error_toasts(page), topic.slug
        panel = page.locator(".cm-lesson").filter(visible=True).first
        assert panel.locator(".katex-error").count() == 0, f"LaTeX error in {topic.slug}"
        assert panel.locator(".katex").count() > 0, f"no math rendered in {topic.slug}"
        assert "$$" not in panel.inner_text(), f"unrendered math in {topic.slug}"
    page.get_by_role("tab", name="Glossary", exact=True).click()
    expect(page.get_by_role("heading", name="Glossary", exact=True)).to_be_visible()
    assert not [e for e in page.errors if "favicon" not in e]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
def test_tab_deep_link_opens_that_tab(app_url, browser_page, topic):
    page = browser_page
    open_app(page, f"{app_url}?tab={topic.slug}")
    tab = page.get_by_role("tab", name=topic.tab_title, exact=True)
    expect(tab).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.get_by_role("heading", name=lesson_title(topic), exact=True)).to_be_visible()


def test_unknown_deep_link_warns_and_opens_the_first_tab(app_url, browser_page):
    page = browser_page
    open_app(page, f"{app_url}?tab=nope")
    expect(page.locator("#cm-notice")).to_contain_text("There is no tab called 'nope'", timeout=30_000)
    expect(page.get_by_role("tab", name=TOPICS[0].tab_title, exact=True)).to_have_attribute("aria-selected", "true")


def test_generate_on_the_language_tab_streams_text_and_colours_tokens(app_url, browser_page):
    page = browser_page
    open_language_tab(page, app_url)
    page.get_by_label("Prompt", exact=True).fill("Write one sentence about the sea.")
    max_new = page.get_by_label("number input for Max new tokens", exact=True)
    max_new.fill("24")
    max_new.press("Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    output = page.locator("#language-output textarea")
    expect(output).not_to_have_value("", timeout=120_000)
    expect(page.get_by_text("Top-10 candidates at this step")).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Show next-token probabilities", exact=True).click()
    expect(page.get_by_text(re.compile(r"candidates left"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Show attention", exact=True).click()
    expect(page.get_by_text(re.compile(r"30 layers × 9 heads"))).to_be_visible(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "language_generated.png", full_page=True)
    assert len(output.input_value().split()) >= 3
    assert not error_toasts(page)


def error_badges(page):
    """Gradio's red "Error" badge on an output whose event failed."""
    return page.locator("[data-testid='status-tracker'] span.error").filter(visible=True)


def test_stop_mid_stream_keeps_the_partial_reply_with_its_token_views(app_url, browser_page):
    page = browser_page
    open_language_tab(page, app_url)
    page.get_by_label("Prompt", exact=True).fill("1, 2, 3, 4, 5,")  # greedy, it counts on: no end-of-text token
    page.get_by_label("Raw continuation", exact=True).check()
    for name, value in (("Temperature", 0), ("Repetition penalty", 1), ("Max new tokens", 256)):
        box = page.get_by_label(f"number input for {name}", exact=True)
        box.fill(str(value))
        box.press("Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    output = page.locator("#language-output textarea")
    expect(output).not_to_have_value("", timeout=120_000)
    # Stop as soon as the first token shows: on a quiet machine the 256 tokens take only a few seconds.
    page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click(timeout=120_000)

    info = page.get_by_text(re.compile(r"Stopped by you after \d+ tokens"))
    expect(info).to_be_visible(timeout=120_000)
    n_tokens = int(re.search(r"after (\d+) tokens", info.inner_text()).group(1))
    assert 1 <= n_tokens < 256
    expect(page.locator("#language-tokens .token-container")).to_have_count(n_tokens, timeout=30_000)
    # The colours' legend: the five probability bands, by name (greedy tokens here, so at least one band is used).
    legend = page.locator("#language-tokens [data-testid='highlighted-text:category-legend']")
    expect(legend).to_contain_text("p ≥ 50%")
    expect(legend).to_contain_text("p < 0.1%")
    expect(page.locator("#language-steps")).to_contain_text("◀", timeout=30_000)  # step 1's candidates
    reply = output.input_value()
    assert reply.strip() and "\ufffd" not in reply
    page.wait_for_timeout(2000)  # nothing comes after the stop
    assert output.input_value() == reply
    page.screenshot(path=SCREENSHOTS / "language_stopped.png", full_page=True)
    assert not error_toasts(page)
    assert error_badges(page).count() == 0


def test_a_glossary_link_in_a_lesson_opens_the_term(app_url, browser_page):
    """Gradio opens Markdown links in a new browser tab, so the learner's demo state stays where it was."""
    page = browser_page
    open_language_tab(page, app_url)
    link = page.locator(".cm-lesson a[href*='tab=glossary']").filter(visible=True).first
    term_id = link.get_attribute("href").split("#", 1)[1]
    with page.context.expect_page() as new_page:
        link.click()
    glossary = new_page.value
    glossary.wait_for_selector(".gradio-container", timeout=60_000)
    expect(glossary.get_by_role("tab", name="Glossary", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                       timeout=30_000)
    expect(glossary.locator(f"#cm-glossary [id='{term_id}']")).to_be_in_viewport(timeout=15_000)
    glossary.screenshot(path=SCREENSHOTS / "glossary_link.png")

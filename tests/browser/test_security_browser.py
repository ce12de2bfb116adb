"""Markup in a link, a typed model name or a prompt shows on the page as text: no element, no dialog.

Screenshots land in screenshots/ (security_*.png) for a person to look at.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.test_app_browser import open_app, open_language_tab
from tests.conftest import SCREENSHOTS

LINK_PAYLOADS = {
    "image": "<img src=x onerror=alert(1)>",
    "link": '<a href="http://evil/">session expired, log in</a>',
    "form": "<form><input type=password></form>",
    "markdown_image": "![x](http://evil/x.png)",
}
# What the payloads would create, had they become markup.
INJECTED = ("img[src='x']", "img[src*='evil']", "a[href*='evil']", "input[type='password']", ".toast-body form",
            "#cm-notice *:not(button)")


@pytest.fixture
def page(browser_page):
    """The browser page, recording every JavaScript dialog (``alert(1)`` would open one)."""
    browser_page.dialogs = []
    browser_page.on("dialog", lambda d: (browser_page.dialogs.append(d.message), d.dismiss()))
    return browser_page


def assert_nothing_injected(page) -> None:
    for selector in INJECTED:
        assert page.locator(selector).count() == 0, selector
    assert page.dialogs == []


@pytest.mark.parametrize("name", LINK_PAYLOADS)
def test_markup_in_a_tab_link_is_shown_as_text(app_url, page, name):
    payload = LINK_PAYLOADS[name]
    open_app(page, f"{app_url}?tab={quote(payload)}&{quote(payload)}={quote(payload)}")
    notice = page.locator("#cm-notice")
    expect(notice).to_be_visible(timeout=30_000)
    expect(notice).to_contain_text(f"There is no tab called '{payload}'")
    expect(notice).to_contain_text(f'no control called "{payload}"')
    page.wait_for_timeout(1000)  # an injected image would have loaded (and fired onerror) by now
    page.screenshot(path=SCREENSHOTS / f"security_tab_link_{name}.png")
    assert_nothing_injected(page)


def test_a_long_tab_name_in_a_link_is_cut_in_the_notice(app_url, page):
    open_app(page, f"{app_url}?tab={'x' * 10_000}")
    notice = page.locator("#cm-notice")
    expect(notice).to_contain_text(f"There is no tab called '{'x' * 80}…'", timeout=30_000)
    assert len(notice.inner_text()) < 300


def test_a_model_name_typed_with_markup_is_shown_as_text_in_the_error(app_url, page):
    payload = '<img src=x onerror=alert(1)><a href="http://evil/">log in</a>'
    open_language_tab(page, app_url)
    model = page.get_by_label("Model", exact=True).filter(visible=True).first
    model.fill(payload)
    model.press("Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    toast = page.locator(".toast-body").filter(has_text="is not a model")
    expect(toast).to_be_visible(timeout=60_000)
    expect(toast).to_contain_text(payload)
    page.wait_for_timeout(1000)
    page.screenshot(path=SCREENSHOTS / "security_model_name.png")
    assert_nothing_injected(page)


def test_a_prompt_with_markup_is_shown_as_typed_in_the_images_info_line(app_url, page):
    prompt = "<img src=x onerror=alert(1)> ![x](http://evil/x.png) [log in](http://evil/) **bold** $$x^2$$"
    open_app(page, f"{app_url}?tab=images")
    page.get_by_role("textbox", name=re.compile(r"^Prompt")).filter(visible=True).first.fill(prompt)  # name + info
    page.get_by_label("Steps").first.fill("2")
    page.get_by_role("button", name="Generate", exact=True).filter(visible=True).first.click()
    info = page.locator("[data-testid='markdown'].cm-header").filter(has_text="image(s) of")
    expect(info).to_be_visible(timeout=120_000)
    expect(info).to_contain_text(f"“{prompt}”")
    assert info.locator("strong, em, .katex").count() == 0
    page.wait_for_timeout(1000)
    info.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "security_images_prompt.png")
    assert_nothing_injected(page)

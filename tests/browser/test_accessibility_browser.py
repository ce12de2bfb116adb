"""Light and dark, for everyone (issue 19, parts 8-9): an axe-core audit of every tab in both themes, plots
that follow the dark theme, token chips that can be read, and names a screen reader can say.

axe-core (Deque's accessibility engine) comes bundled in the PyPI package ``axe-playwright-python``
(requirements-dev.txt); it runs inside the page, in Debian's Chromium. Screenshots land in screenshots/.
"""
import io

import pytest
from playwright.sync_api import expect

from apps import TOPICS
from tests.browser.test_app_browser import open_app
from tests.conftest import SCREENSHOTS

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright",
                                     reason="pip install -r requirements-dev.txt (axe-playwright-python)")

THEMES = {"light": "", "dark": "&__theme=dark"}
SERIOUS = ("critical", "serious")
TOPIC_1 = TOPICS[0]


def open_topic(page, app_url, topic, theme, extra=""):
    open_app(page, f"{app_url}?tab={topic.slug}{extra}{THEMES[theme]}")
    expect(page.get_by_role("tab", name=topic.tab_title, exact=True)).to_have_attribute("aria-selected", "true")
    if not extra:  # a sub-tab other than the first may have no main action
        expect(page.locator(".cm-main-action").filter(visible=True)).to_have_count(1)
    if theme == "dark":
        expect(page.locator("body.dark")).to_have_count(1)
    page.wait_for_timeout(2000)  # the page's script names what gradio drew (shared/page.py: nameThings)


def serious_violations(page, context=None, rules=None) -> list[str]:
    """axe-core's critical and serious findings, one line each (rule, what it asks, how often, an example)."""
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = rules
    found = axe_playwright.Axe().run(page, context=context, options=options).response["violations"]
    return [f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
            for v in found if v["impact"] in SERIOUS]


def mean_luminance(png: bytes) -> float:
    """0 (black) to 1 (white): the mean lightness of a screenshot."""
    from PIL import Image, ImageStat

    return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).mean[0] / 255


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
def test_axe_finds_no_critical_or_serious_violation(app_url, browser_page, topic, theme):
    page = browser_page
    open_topic(page, app_url, topic, theme)
    assert serious_violations(page) == [], f"{topic.slug}, {theme}"


@pytest.mark.parametrize("theme", THEMES)
def test_plots_follow_the_theme(app_url, browser_page, theme):
    """Topic 1's likelihood plot (drawn at start-up): light on the light page, dark on the dark one."""
    page = browser_page
    open_topic(page, app_url, TOPIC_1, theme)
    plot = page.get_by_role("img", name="Learning a distribution, as a number", exact=True)
    plot.scroll_into_view_if_needed()
    expect(plot).to_be_visible()
    page.wait_for_timeout(500)
    png = plot.screenshot(path=SCREENSHOTS / f"plot_{theme}.png")
    if theme == "dark":
        assert mean_luminance(png) < 0.3, "a light box on the dark page"
    else:
        assert mean_luminance(png) > 0.7


def test_reset_buttons_say_what_they_reset(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url, TOPIC_1, "light")
    resets = page.locator('[data-testid="reset-button"]').filter(visible=True)
    expect(resets.first).to_be_visible()
    labels = [resets.nth(i).get_attribute("aria-label") for i in range(resets.count())]
    assert len(labels) >= 5 and all(
        label.startswith("Reset ") and label.endswith(" to its default value") and label != "Reset to its default value"
        for label in labels), labels
    expect(page.get_by_role("button", name="Reset Samples to draw to its default value", exact=True)).to_be_visible()


def test_plots_and_pictures_have_text_alternatives(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url, TOPIC_1, "light")
    pictures = page.locator(".cm-demo-pane img").filter(visible=True)
    expect(pictures.first).to_be_visible()
    alts = [pictures.nth(i).get_attribute("alt") for i in range(pictures.count())]
    assert len(alts) >= 4 and all(alt and "undefined" not in alt for alt in alts), alts
    for name in ("The data (click to add points)", "Discriminative model (a classifier)"):
        expect(page.get_by_role("img", name=name, exact=True)).to_be_visible()


def test_a_slider_reached_by_keyboard_shows_a_focus_ring(app_url, browser_page):
    page = browser_page
    open_topic(page, app_url, TOPIC_1, "dark")
    slider = page.get_by_role("slider").filter(visible=True).first
    slider.focus()
    assert slider.evaluate("e => e.matches(':focus-visible')")
    assert slider.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert float(slider.evaluate("e => parseFloat(getComputedStyle(e).outlineWidth)")) >= 2


@pytest.mark.parametrize("theme", THEMES)
def test_tokenizer_chips_reach_4_5_to_1(app_url, browser_page, theme):
    """Topic 10's tokens with their "a"/"b" badges, after Prepare data."""
    page = browser_page
    open_topic(page, app_url, TOPICS[9], theme)
    page.get_by_role("button", name="Prepare data", exact=True).click()
    chips = page.locator('[data-testid="highlighted-text"]').filter(has=page.locator(".token")).first
    expect(chips).to_be_visible(timeout=180_000)
    chips.screenshot(path=SCREENSHOTS / f"tokenizer_chips_{theme}.png")
    assert serious_violations(page, context='[data-testid="highlighted-text"]', rules=["color-contrast"]) == []


@pytest.mark.parametrize("theme", THEMES)
def test_gltr_chips_reach_4_5_to_1(app_url, browser_page, theme):
    """Topic 8's tokens coloured by their rank under the language model, and their legend."""
    page = browser_page
    open_topic(page, app_url, TOPICS[7], theme, extra="&sub=detection")
    page.get_by_role("button", name="Score this text", exact=True).click()
    chips = page.locator('[data-testid="highlighted-text"]').filter(has=page.locator(".token")).first
    expect(chips).to_be_visible(timeout=240_000)
    chips.screenshot(path=SCREENSHOTS / f"gltr_chips_{theme}.png")
    assert serious_violations(page, context='[data-testid="highlighted-text"]', rules=["color-contrast"]) == []

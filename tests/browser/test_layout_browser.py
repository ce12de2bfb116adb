"""A teacher's projector: each topic's main action is on the first screen, without scrolling.

A projector at 1280x720 or 1024x768 with the browser zoomed to 150% gives a CSS viewport of 853x480 or
683x512 (the narrow one shows the Lesson / Demo switch, the demo first); 1280x720 at 100% is checked too. Each topic marks its main action
(a button, or for topic 1 the control that recomputes the demo) with the class ``cm-main-action``.
Screenshots land in screenshots/layout_<slug>_<size>.png for a person to look at.
"""
import pytest
from playwright.sync_api import expect

from apps import TOPICS
from tests.browser.test_app_browser import open_app
from tests.conftest import BROWSER_WAIT_MS, SCREENSHOTS

# name -> (screen width, screen height, browser zoom)
PROJECTORS = {"1280x720": (1280, 720, 1.5), "1024x768": (1024, 768, 1.5), "1280x720_zoom1": (1280, 720, 1.0)}


@pytest.fixture(params=list(PROJECTORS))
def projector_page(_browser, request):
    """A page as the browser shows it on the projector at that zoom: (page, size name)."""
    width, height, zoom = PROJECTORS[request.param]
    SCREENSHOTS.mkdir(exist_ok=True)
    context = _browser.new_context(viewport={"width": round(width / zoom), "height": round(height / zoom)},
                                   device_scale_factor=zoom)
    page = context.new_page()
    page.set_default_timeout(BROWSER_WAIT_MS)
    yield page, request.param
    context.close()


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
def test_main_action_is_on_the_first_screen(app_url, projector_page, topic):
    page, size = projector_page
    open_app(page, f"{app_url}?tab={topic.slug}")
    tab = page.get_by_role("tab", name=topic.tab_title, exact=True)
    expect(tab).to_have_attribute("aria-selected", "true", timeout=30_000)
    action = page.locator(".cm-main-action").filter(visible=True)
    expect(action).to_have_count(1)
    page.wait_for_timeout(500)  # let the layout settle (fonts, images) before measuring
    page.screenshot(path=SCREENSHOTS / f"layout_{topic.slug}_{size}.png")
    box = action.bounding_box()
    viewport = page.viewport_size
    assert box is not None and box["height"] > 0, topic.slug
    assert box["y"] >= 0, f"{topic.slug} at {size}: the main action is above the page top"
    assert box["y"] + box["height"] <= viewport["height"], (
        f"{topic.slug} at {size}: the main action ends at y = {box['y'] + box['height']:.0f} CSS px, "
        f"below the first screen ({viewport['height']} px)")


def test_every_sub_tab_is_in_view_and_one_click_away(app_url, projector_page):
    """No sub-tab hides in Gradio's "More tabs" menu: a bar whose tabs do not fit wraps onto a further row (on a
    projector at 150% zoom the menu held five of topic 8's eight sub-tabs). Each sub-tab button lies inside the
    screen's width, and a click on the last one opens it."""
    page, size = projector_page
    open_app(page, app_url)
    for topic in TOPICS:
        page.get_by_role("tab", name=topic.tab_title, exact=True).click()
        panel = page.locator(".tabitem").filter(visible=True).filter(has=page.locator(".cm-topic")).first
        expect(panel).to_be_visible()
        bar = panel.locator(".cm-demo-pane [role='tablist']").first
        if not bar.count():
            continue
        assert panel.locator(".overflow-menu").filter(visible=True).count() == 0, f"{topic.slug} at {size}"
        tabs = bar.locator("button[role='tab']")
        width = page.viewport_size["width"]
        for i in range(tabs.count()):
            box = tabs.nth(i).bounding_box()
            assert box and box["width"] > 0 and 0 <= box["x"] and box["x"] + box["width"] <= width, (
                f"{topic.slug} at {size}: sub-tab {tabs.nth(i).inner_text()!r} is out of view")
        last = tabs.nth(tabs.count() - 1)
        last.click()
        expect(last).to_have_attribute("aria-selected", "true")
        if topic.slug in ("industries", "ethics"):
            page.screenshot(path=SCREENSHOTS / f"layout_sub_tabs_{topic.slug}_{size}.png")

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


def boxes(page, selector: str) -> list[dict]:
    """The bounding boxes (CSS px, page coordinates) of the elements that match ``selector``."""
    return page.eval_on_selector_all(selector, """els => els.map(e => { const r = e.getBoundingClientRect();
        return {x: r.x, y: r.y + scrollY, w: r.width, h: r.height}; })""")


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_topic_5_pictures_fit_a_projector_with_captions_under_them(app_url, _browser):
    """At 1280x720 and 150% zoom, dark: after Generate the four pictures and the strip of steps show every
    picture with its caption under it (not over it), no button over a picture, no blank band under the
    grids; a click on a step of the strip shows that step in the views above it."""
    context = _browser.new_context(viewport={"width": 853, "height": 480}, device_scale_factor=1.5)
    page = context.new_page()
    try:
        open_app(page, f"{app_url}?tab=images&__theme=dark")
        page.get_by_label("Steps").first.fill("8")
        page.get_by_role("button", name="Generate", exact=True).filter(visible=True).first.click()
        expect(page.get_by_text("image(s) of", exact=False).first).to_be_visible(timeout=180_000)
        for strip, count in (("#images-gallery", 4), ("#images-filmstrip", 8)):
            page.locator(strip).scroll_into_view_if_needed()
            images = page.locator(f"{strip} .grid-container img")
            expect(images).to_have_count(count)
            expect(images.last).to_have_js_property("complete", True)
            pictures, captions = boxes(page, f"{strip} .grid-container img"), boxes(page, f"{strip} .caption-label")
            grid = boxes(page, strip)[0]
            assert all(p["w"] >= 24 and p["h"] >= 24 for p in pictures), (strip, pictures)
            assert all(c["y"] >= p["y"] + p["h"] - 1 for p, c in zip(pictures, captions)), "a caption covers a picture"
            assert all(p["x"] >= grid["x"] and p["x"] + p["w"] <= grid["x"] + grid["w"] + 1 for p in pictures)
            bottom = max(c["y"] + c["h"] for c in captions)
            assert grid["y"] + grid["h"] - bottom < 40, f"{strip}: a blank band of {grid['y'] + grid['h'] - bottom} px"
            buttons = boxes(page, f"{strip} .icon-button-wrapper button")
            assert not any(overlaps(b, p) for b in buttons for p in pictures), f"{strip}: a button over a picture"
            page.locator(strip).screenshot(path=SCREENSHOTS / f"topic5_projector_{strip[1:]}.png")
        page.locator("#images-filmstrip .thumbnail-item").nth(2).click()
        expect(page.get_by_label("number input for Step", exact=True)).to_have_value("3")
        page.locator("#images-gallery .thumbnail-item").first.click()  # opened large, in room of its own
        expect(page.locator("#images-gallery [data-testid='detailed-image']")).to_be_visible()
        assert boxes(page, "#images-gallery [data-testid='detailed-image']")[0]["h"] >= 150
        page.screenshot(path=SCREENSHOTS / "topic5_projector_dark.png", full_page=True)
        assert not error_toasts(page)
    finally:
        context.close()

"""The page as a teacher uses it: links that carry the state, no event on page open, presenter mode, projector sizes.

Screenshots land in screenshots/ (classroom_*.png) for a person to look at.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.test_app_browser import open_app
from tests.conftest import BROWSER_WAIT_MS, SCREENSHOTS

PROJECTORS = {"1280x720@150%": (1280, 720, 1.5), "1024x768@150%": (1024, 768, 1.5)}


@pytest.fixture
def make_page(_browser):
    """Pages at a given screen size and browser zoom (the viewport shrinks by the zoom), closed afterwards."""
    contexts = []

    def make(width=1280, height=720, zoom=1.0, dark=False):
        context = _browser.new_context(viewport={"width": round(width / zoom), "height": round(height / zoom)},
                                       device_scale_factor=zoom, color_scheme="dark" if dark else "light")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(BROWSER_WAIT_MS)
        page.requests = []
        page.on("request", lambda r: page.requests.append(r.url))
        return page

    yield make
    for context in contexts:
        context.close()


def query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def selected_tab(page, title):
    expect(page.get_by_role("tab", name=title, exact=True).first).to_have_attribute("aria-selected", "true")


def test_opening_a_linked_tab_sends_no_event_to_the_server(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=images")
    selected_tab(page, "5 · Images")
    page.wait_for_timeout(3000)  # anything the page would send on opening has been sent by now
    events = [u for u in page.requests if "/queue/join" in u or "/run/" in u or "/call/" in u]
    assert events == []
    # The first views are there without an event: topic 1's data and topic 2's diffusion process, drawn at start-up.
    page.get_by_role("tab", name="1 · What is GenAI", exact=True).click()
    expect(page.locator(".cm-demo-pane img, .cm-demo-pane canvas, .cm-demo-pane svg").filter(visible=True).first) \
        .to_be_visible()


def test_a_link_sets_tab_sub_tab_and_controls_and_the_address_bar_follows(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=language&prompt=Once%20upon%20a%20time&temperature=0.7&seed=7")
    selected_tab(page, "4 · Language")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("Once upon a time")
    expect(page.get_by_label("number input for Temperature", exact=True)).to_have_value("0.7")
    expect(page.get_by_label("Seed", exact=True).filter(visible=True).first).to_have_value("7")
    assert page.locator("#cm-notice").count() == 0

    box = page.get_by_label("Seed", exact=True).filter(visible=True).first
    box.fill("11")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"seed=11"))
    assert query(page)["prompt"] == "Once upon a time" and query(page)["tab"] == "language"

    page.get_by_role("tab", name="5 · Images", exact=True).click()
    expect(page).to_have_url(re.compile(r"tab=images"))
    assert "seed" not in query(page) and "prompt" not in query(page)  # settings belong to the tab they were set on

    page.get_by_role("tab", name="Compare", exact=True).click()
    expect(page).to_have_url(re.compile(r"sub=compare"))
    link = page.url
    other = make_page()
    open_app(other, link)
    selected_tab(other, "5 · Images")
    selected_tab(other, "Compare")


def test_a_link_with_an_unknown_part_says_so_and_applies_the_rest(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=language&sub=nothing&temperature=9&seed=abc&colour=red&prompt=Hi")
    selected_tab(page, "4 · Language")
    notice = page.locator("#cm-notice")
    expect(notice).to_contain_text("This topic has no parts; 'nothing' was skipped.")
    expect(notice).to_contain_text('"temperature" takes 0 to 2, not 9.')
    expect(notice).to_contain_text('"seed" takes a number, not "abc".')
    expect(notice).to_contain_text('This tab has no control called "colour".')
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("Hi")
    expect(page).not_to_have_url(re.compile(r"seed=abc|temperature=9|colour"))
    page.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)


def test_a_link_chooses_a_dropdown_option_and_a_learners_choice_is_linked(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=key_models&sub=gan&data=Two+moons&settings-to-try=Nothing+like+this")
    selected_tab(page, "2 · Key models")
    data = page.get_by_role("combobox", name="Data").filter(visible=True).first
    expect(data).to_have_value("Two moons")
    expect(page.locator("#cm-notice")).to_contain_text('"settings-to-try" has no option "Nothing like this".')
    expect(page).not_to_have_url(re.compile(r"settings-to-try"))

    page.wait_for_timeout(2500)  # the link's second pass (1.5 s after the first) is over: the learner takes over
    data.click()  # the learner filters the list and chooses with Enter (the list moves while it opens)
    data.fill("")
    data.press_sequentially("Spir")
    data.press("Enter")
    expect(data).to_have_value("Spiral")
    expect(page).to_have_url(re.compile(r"data=Spiral"))


def test_presenter_mode_from_the_link_and_the_toggle(app_url, make_page):
    page = make_page(1280, 720, 1.5)
    open_app(page, f"{app_url}?tab=language&present=1")
    selected_tab(page, "4 · Language")
    expect(page.locator(".cm-present")).to_have_count(1)
    lesson_px = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.cm-lesson')).fontSize)")
    assert lesson_px >= 18
    page.screenshot(path=SCREENSHOTS / "classroom_presenter_1280x720@150%.png")
    toggle = page.get_by_role("button", name="Presenter mode")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(page.locator(".cm-present")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"present="))
    toggle.click()
    expect(page).to_have_url(re.compile(r"present=1"))


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_hints_and_slider_limits_reach_4_5_to_1(app_url, make_page, dark):
    page = make_page(dark=dark)
    open_app(page, f"{app_url}?tab=language{'&__theme=dark' if dark else ''}")
    selected_tab(page, "4 · Language")
    expect(page.locator(".cm-demo-pane .min_value").filter(visible=True).first).to_be_visible()
    ratios = page.evaluate("""() => {
      const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                                          .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
      const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                   if (c.length < 4 || c[3] > 0.5) return c; } return [255, 255, 255]; };
      const out = [];
      for (const el of document.querySelectorAll('.cm-demo-pane .info-text, .cm-demo-pane .min_value, .cm-demo-pane .max_value')) {
        if (!el.offsetParent) continue;
        const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
        out.push((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05));
      }
      return out; }""")
    assert len(ratios) >= 4
    assert min(ratios) >= 4.5, min(ratios)


@pytest.mark.parametrize("size", PROJECTORS)
def test_at_projector_size_the_lesson_and_the_demo_are_both_at_hand(app_url, make_page, size):
    width, height, zoom = PROJECTORS[size]
    page = make_page(width, height, zoom)
    open_app(page, f"{app_url}?tab=language")
    selected_tab(page, "4 · Language")
    lesson = page.locator(".cm-lesson-pane").filter(visible=True)
    demo = page.locator(".cm-demo-pane").filter(visible=True)
    expect(page.get_by_role("button", name="Generate", exact=True)).to_be_visible()
    page.screenshot(path=SCREENSHOTS / f"classroom_language_{size}.png")
    if page.viewport_size["width"] > 760:  # side by side: the lesson scrolls in its own pane
        expect(lesson).to_have_count(1)
        expect(demo).to_have_count(1)
        pane = lesson.first
        assert pane.evaluate("e => e.scrollHeight > e.clientHeight && getComputedStyle(e).overflowY === 'auto'")
        pane.evaluate("""e => { const h = e.querySelector('#h-try-it');
                                e.scrollTop += h.getBoundingClientRect().top - e.getBoundingClientRect().top; }""")
        expect(page.get_by_role("heading", name="Try it")).to_be_in_viewport()
        expect(page.get_by_label("Prompt", exact=True)).to_be_in_viewport()  # the demo stayed where it was
        assert page.evaluate("() => window.scrollY") == 0
        scroll_down_the_demo(page)  # the lesson stays beside it (sticky), where the teacher left it
        expect(page.get_by_role("heading", name="Try it")).to_be_in_viewport()
        assert lesson.first.bounding_box()["y"] >= 0
    else:  # one at a time, switched
        expect(lesson).to_have_count(0)
        switch = page.locator(".cm-view-switch").filter(visible=True)
        switch.get_by_role("button", name="Lesson").click()
        expect(page.locator(".cm-lesson-pane").filter(visible=True)).to_have_count(1)
        expect(page.locator(".cm-demo-pane").filter(visible=True)).to_have_count(0)
        page.screenshot(path=SCREENSHOTS / f"classroom_language_lesson_{size}.png")
        switch.get_by_role("button", name="Demo").click()
        expect(page.get_by_role("button", name="Generate", exact=True)).to_be_visible()
        scroll_down_the_demo(page)
        expect(switch).to_be_in_viewport()  # the switch stays at the top of the screen


def scroll_down_the_demo(page):
    """Scroll the page down over the demo as a mouse wheel does, until it has moved."""
    box = page.locator(".cm-demo-pane").filter(visible=True).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, min(box["y"] + box["height"], page.viewport_size["height"]) - 20)
    page.mouse.wheel(0, 800)
    page.wait_for_function("() => window.scrollY > 200")


def test_a_try_it_step_in_the_lesson_sets_the_demo_up_and_runs_it(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=language")
    selected_tab(page, "4 · Language")
    expect(page.get_by_label("Prompt", exact=True)).not_to_have_value("The capital of France is")
    page.get_by_role("link", name="▶ Set up step 1").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("The capital of France is")
    expect(page.get_by_label("Raw continuation", exact=True)).to_be_checked()
    expect(page).to_have_url(re.compile(r"mode=Raw"))
    assert "run=" not in page.url
    assert len(page.context.pages) == 1  # set up in this page, not in a new browser tab
    expect(page.locator(".cm-demo-pane").get_by_text(re.compile(r"bits")).first).to_be_visible(timeout=180_000)
    assert any("/queue/join" in u for u in page.requests)  # the step pressed "Show next-token probabilities"
    page.screenshot(path=SCREENSHOTS / "classroom_try_it_step.png")


def test_a_language_example_generates_with_its_settings(app_url, make_page):
    page = make_page()
    open_app(page, f"{app_url}?tab=language")
    selected_tab(page, "4 · Language")
    page.get_by_role("button", name="A fact, greedy (temperature 0)").click()
    expect(page.get_by_label("number input for Temperature", exact=True)).to_have_value("0")
    output = page.locator("#language-output textarea")
    expect(output).not_to_have_value("", timeout=180_000)
    expect(page.get_by_text(re.compile(r"\d+ tokens in [\d.]+ s"))).to_be_visible(timeout=180_000)


def test_a_link_never_changes_a_tab_the_learner_moved_to(app_url, make_page):
    """Leaving the linked tab at once: the link's settings stay on their tab and do not land on the new one."""
    page = make_page()
    open_app(page, f"{app_url}?tab=language&prompt=Once%20upon%20a%20time")
    selected_tab(page, "4 · Language")
    page.get_by_role("tab", name="5 · Images", exact=True).click()
    page.wait_for_timeout(4000)  # the link's second pass (for slow controls) would have run by now
    shown = page.evaluate("""() => [...document.querySelectorAll('textarea, input[type=text]')]
                                    .filter((e) => e.offsetParent).map((e) => e.value)""")
    assert "smiling cat face" in shown and "Once upon a time" not in shown
    expect(page).to_have_url(re.compile(r"tab=images"))
    assert "prompt" not in query(page)


def test_a_link_opens_a_tab_inside_a_sub_tab_and_the_address_bar_keeps_it(app_url, make_page):
    """``sub=draw`` names a tab inside topic 9's *Search & caption*: both open, from a link and from lesson 9's
    step 3 while another sub-tab is open."""
    page = make_page(1280, 720, 1.5)
    open_app(page, f"{app_url}?tab=multimodal&sub=draw")
    selected_tab(page, "9 · Multimodal")
    selected_tab(page, "Search & caption")
    selected_tab(page, "Draw")
    expect(page.get_by_role("button", name="Caption the drawing", exact=True)).to_be_visible()
    page.wait_for_timeout(2000)  # the page has written the address bar by now
    assert query(page)["sub"] == "draw" and page.locator("#cm-notice").count() == 0

    page.get_by_role("tab", name="Forecasts", exact=True).click()
    expect(page).to_have_url(re.compile(r"sub=forecasts"))
    page.get_by_role("link", name="▶ Set up step 3").click()
    selected_tab(page, "Search & caption")
    selected_tab(page, "Draw")
    expect(page.get_by_role("button", name="Caption the drawing", exact=True)).to_be_visible()
    expect(page.get_by_role("tab", name="Draw", exact=True)).to_be_in_viewport()  # scrolled to, far down the sub-tab
    page.screenshot(path=SCREENSHOTS / "classroom_link_inside_a_sub_tab.png")


def test_lesson_5_step_2_generates_and_a_click_on_the_strip_shows_that_step(app_url, make_page):
    page = make_page(1280, 720, 1.5)
    open_app(page, f"{app_url}?tab=images")
    selected_tab(page, "5 · Images")
    page.get_by_role("link", name="▶ Set up step 2").click()
    expect(page.locator("#images-filmstrip img")).to_have_count(25, timeout=300_000)
    page.locator("#images-filmstrip").scroll_into_view_if_needed()
    page.locator("#images-filmstrip .thumbnail-item").nth(4).click()
    expect(page.get_by_label("number input for Step", exact=True)).to_have_value("5")
    page.screenshot(path=SCREENSHOTS / "classroom_images_step_2.png")

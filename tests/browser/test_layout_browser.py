"""A teacher's projector: each topic's main action is on the first screen, and every tab and sub-tab fits it.

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


# Measured in the page for one open (sub-)tab: what a class would stumble on. ``scope`` is the open panel, inside
# the topic's demo pane. An element inside a box that scrolls or clips sideways (a wide table) is that box's
# business: only the box itself must fit the pane.
MEASURE_JS = r"""
async (scope) => {
  const pane = scope.closest('.cm-demo-pane') || scope;
  const box = pane.getBoundingClientRect();
  const shown = (el) => el.offsetParent !== null && el.getBoundingClientRect().width > 0
                        && getComputedStyle(el).visibility !== 'hidden';
  const inScroller = (el) => {
    for (let a = el.parentElement; a && a !== pane; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  const name = (el) => {
    const block = el.closest('.block');
    const label = block && block.querySelector('[data-testid="block-info"], [data-testid="block-label"]');
    return (label ? label.textContent.trim() : el.tagName.toLowerCase() + '.' + String(el.className).split(' ')[0])
      .slice(0, 60);
  };
  const found = {page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                 cutValues: [], cutOptions: [], tooWide: [], cutText: [], cutPictures: []};
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const ruler = document.createElement('canvas').getContext('2d');
  for (const input of scope.querySelectorAll('input[role="combobox"]')) {
    if (!shown(input) || input.closest('.tabitem, .cm-demo-pane') !== scope) continue;  // a sub-tab's: on its visit
    // The text's room: the field less its padding (the menu's arrow sits over the right padding)
    const style = getComputedStyle(input);
    ruler.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const needs = Math.ceil(ruler.measureText(input.value).width);
    if (input.scrollWidth > input.clientWidth + 1 || needs > room + 1)
      found.cutValues.push(`${name(input)}: "${input.value}" needs ${needs} px, has ${Math.floor(room)}`);
    // Each option must fit too, once chosen (a model menu's longest label): open the list, measure, close it.
    input.focus({preventScroll: true});
    let options = [];
    for (let i = 0; i < 40 && !options.length; i++) {
      await pause(50);
      const list = document.getElementById(input.getAttribute('aria-controls') || '');
      options = list ? [...list.querySelectorAll('[role="option"]')] : [];
    }
    for (const option of options) {
      const text = (option.getAttribute('aria-label') || option.textContent).trim();
      const width = Math.ceil(ruler.measureText(text).width);
      if (width > room + 1)
        found.cutOptions.push(`${name(input)}: "${text}" needs ${width} px, has ${Math.floor(room)}`);
    }
    input.blur();
    await pause(50);
  }
  for (const el of pane.querySelectorAll('*')) {
    if (!shown(el) || inScroller(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1)
      found.tooWide.push(`${name(el)} (${el.tagName.toLowerCase()}): x ${Math.round(r.left - box.left)} to `
                         + `${Math.round(r.right - box.left)} in a pane ${Math.round(box.width)} px wide`);
  }
  // Text past the edge of the box around it, which hides or scrolls it (a slider's maximum past its column showed
  // "2" of "24"). Tables, code and text fields scroll on purpose; a formula's MathML copy is hidden on purpose.
  const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  for (const el of scope.querySelectorAll('*')) {
    if (!shown(el) || !ownText(el) || el.closest('.tabitem, .cm-demo-pane') !== scope
        || el.closest('table, pre, code, textarea, .table-wrap, .katex-mathml')) continue;
    let clip = el.parentElement;
    while (clip && clip !== pane && getComputedStyle(clip).overflowX === 'visible') clip = clip.parentElement;
    if (!clip || clip === pane) continue;
    const r = el.getBoundingClientRect(), c = clip.getBoundingClientRect();
    if (r.right > c.right + 1 || r.left < c.left - 1)
      found.cutText.push(`${name(el)}: "${el.textContent.trim().slice(0, 40)}" runs ${Math.round(r.right - c.right)} px `
                         + 'past the edge of its box');
  }
  // A picture or plot cut by a box that hides its overflow (topic 1's plots lost their x axes under label chips
  // that wrapped at 150%). Boxes that scroll (auto, scroll) show the rest on purpose.
  for (const el of scope.querySelectorAll('img, canvas')) {  // (an svg here is an icon or a loading spinner)
    if (!shown(el) || el.closest('.tabitem, .cm-demo-pane') !== scope) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 40 || r.height < 40) continue;  // icons
    for (let clip = el.parentElement; clip && clip !== pane; clip = clip.parentElement) {
      const style = getComputedStyle(clip);
      if (!['hidden', 'clip'].includes(style.overflowY) && !['hidden', 'clip'].includes(style.overflowX)) continue;
      const c = clip.getBoundingClientRect();
      const hidden = Math.max(0, r.bottom - c.bottom) + Math.max(0, c.top - r.top)
                     + Math.max(0, r.right - c.right) + Math.max(0, c.left - r.left);
      if (hidden > 2)
        found.cutPictures.push(`${name(el)} (${el.tagName.toLowerCase()}, ${Math.round(r.width)}x${Math.round(r.height)}): `
                               + `${Math.round(hidden)} px hidden by its box`);
      break;
    }
  }
  found.tooWide = found.tooWide.slice(0, 10);
  return found;
}
"""

# The bars directly inside a panel (not those of its sub-tabs), marked so that Python can find each one again.
DIRECT_BARS_JS = r"""
(scope) => [...scope.querySelectorAll('[role="tablist"]')]
  .filter((bar) => bar.parentElement.closest('.tabitem, .cm-demo-pane') === scope && bar.offsetParent !== null)
  .map((bar) => { bar.dataset.cmBar = bar.dataset.cmBar || String(window.cmBars = (window.cmBars || 0) + 1);
                  return bar.dataset.cmBar; })
"""


def settle(page, panel) -> None:
    """Wait until a newly opened panel has rendered: its number of blocks stopped changing (Gradio mounts a tab
    on first view; a busy machine takes seconds)."""
    last, same = -1, 0
    for _ in range(240):
        count = panel.evaluate("el => el.querySelectorAll('.block').length")
        same = same + 1 if count == last and count > 0 else 0
        if same >= 2:
            break
        last = count
        page.wait_for_timeout(250)


def walk_panels(page, panel, path, visit) -> None:
    """Call ``visit(panel, path)`` for this panel, then open each of its sub-tabs in turn (and theirs)."""
    settle(page, panel)
    visit(panel, path)
    for key in panel.evaluate(DIRECT_BARS_JS):
        tabs = page.locator(f'[data-cm-bar="{key}"] button[role="tab"]')
        for i in range(tabs.count()):
            tab = tabs.nth(i)
            name = tab.inner_text().strip()
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
            inner = page.locator(f'[id="{tab.get_attribute("aria-controls")}"]')
            expect(inner).to_be_visible()
            walk_panels(page, inner.element_handle(), path + [name], visit)
        tabs.first.click()  # as a teacher left it: the first sub-tab open


@pytest.mark.parametrize("size", ["1280x720", "1024x768"])
def test_every_tab_and_sub_tab_fits_the_projector(app_url, _browser, size):
    """Every tab and every sub-tab at 150% zoom, as a projector shows it: the page never scrolls sideways, each
    dropdown shows its whole value and would show each of its options whole (a model menu cut "SmolLM2-135M-Instr"),
    nothing is wider than the demo's pane, no text runs past the edge of a box that hides it (a slider's
    maximum, an upload prompt), and no picture or plot is cut by its box. One page per size; tabs are clicked, not reloaded."""
    width, height, zoom = PROJECTORS[size]
    context = _browser.new_context(viewport={"width": round(width / zoom), "height": round(height / zoom)},
                                   device_scale_factor=zoom)
    page = context.new_page()
    page.set_default_timeout(BROWSER_WAIT_MS)
    problems, seen = [], []

    def visit(panel, path):
        seen.append(" > ".join(path))
        found = panel.evaluate(MEASURE_JS)
        where = f"{' > '.join(path)} at {size}"
        if found["page"] > 0:
            problems.append(f"{where}: the page scrolls sideways by {found['page']} px")
        problems.extend(f"{where}: value cut: {p}" for p in found["cutValues"])
        problems.extend(f"{where}: option cut: {p}" for p in found["cutOptions"])
        problems.extend(f"{where}: wider than the pane: {p}" for p in found["tooWide"])
        problems.extend(f"{where}: text cut: {p}" for p in found["cutText"])
        problems.extend(f"{where}: picture cut: {p}" for p in found["cutPictures"])

    try:
        open_app(page, app_url)
        for topic in TOPICS:
            page.get_by_role("tab", name=topic.tab_title, exact=True).click()
            pane = page.locator(".tabitem").filter(visible=True).locator(".cm-demo-pane").filter(visible=True).first
            expect(pane).to_be_visible()
            walk_panels(page, pane.element_handle(), [topic.slug], visit)
    finally:
        context.close()
    assert len(seen) >= 40, seen  # every sub-tab was visited (45 views in all, with topic 9's inner tabs)
    assert not problems, "\n".join(problems)

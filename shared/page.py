"""The page around the topics: the lesson beside its demo, presenter mode, and links that carry the state.

All of it runs in the browser. Opening the page, following a link, switching tabs and copying a link send
nothing to the server, so thirty learners opening the teacher's link at once queue no event, and the
linked tab is the first thing they see.

- **Layout.** On a wide screen the lesson scrolls in its own pane beside the demo, which stays in view. On a
  narrow one (a phone, or a projector at 150% zoom) a *Lesson / Demo* switch shows one or the other.
- **Links.** ``?tab=<topic>&sub=<sub-tab>&<control>=<value>...`` opens a topic, a sub-tab (or a tab inside
  one: ``?tab=multimodal&sub=draw``) and sets the controls named by their labels
  (``?tab=language&prompt=Once+upon+a+time&temperature=0.7&seed=3``). The address bar follows the learner;
  *Copy link* copies it. An unknown tab, sub-tab or control, or a value a control does not take, is said in
  a notice (as text: a link never adds markup to the page) and skipped.
- **Presenter mode** (the toggle, or ``?present=1``): larger lesson text and controls for the back row.
- **Nothing cut, nothing empty and tall, on a projector** (``CSS``, :func:`hints_in_empty_tables`): labels sit above
  pictures, an output not yet filled is one short line saying so, upload boxes are as tall as their prompt, slider
  maxima and accordion arrows stay in their box (tests/browser/test_layout_browser.py walks every sub-tab).
- **Light and dark, for everyone.** Text reaches 4.5:1 contrast (WCAG AA) in both themes (:func:`theme`);
  plots follow the theme (``shared/plots.py``); sliders show a focus ring; pictures, plots and reset buttons
  have names a screen reader can say, and a heading's icon link is hidden from it (the heading names the
  section) (:func:`text_alternatives` and ``JS``). An axe-core audit
  of every tab checks it (tests/browser/test_accessibility_browser.py).
"""
from __future__ import annotations

import html
import json

import gradio as gr

from shared import plots

# Settings that are not a control's label.
RESERVED_PARAMETERS = ("tab", "sub", "present", "run", "__theme")
NARROW_MAX_PX = 760  # CSS pixels: below this the lesson and the demo take turns (1024 px at 150% zoom is 683)
EMPTY_HINT = "Appears here after a run"  # what an output shows before its demo has run
SHORT_MAX_PX = 560  # CSS pixels high: a projector at 150% zoom (720 px is 480, 768 px is 512)

CSS = f"""
.cm-lesson {{ font-size: 1.02rem; line-height: 1.55; }}
/* Tables break lines between words only (Gradio's prose breaks "anywhere": "Text enco|der" in a narrow pane)
   and scroll sideways when wider than the pane. */
.cm-lesson table {{ display: block; max-width: 100%; overflow-x: auto; font-size: 0.9em; line-height: 1.4;
                    border: 0 !important; padding: 0 !important; }}
.cm-lesson table :is(th, td) {{ overflow-wrap: normal; word-break: normal; padding: 0.35em 0.45em !important; }}
.cm-lesson details {{ margin: 0.5em 0; padding: 0.4em 0.8em; border: 1px solid var(--border-color-primary);
                      border-radius: 6px; }}
/* Hints under controls and slider limits: at least 4.5:1 on the background (WCAG AA), light and dark. */
.gradio-container {{ --block-info-text-color: #4b5563; }}
.dark .gradio-container {{ --block-info-text-color: #d1d5db; }}
.gradio-container .min_value, .gradio-container .max_value {{ color: var(--block-info-text-color) !important; }}
.cm-topbar {{ align-items: center !important; gap: 0.5rem; flex-wrap: nowrap !important; }}
.cm-title h1 {{ font-size: 1.6rem !important; margin: 0 !important; }}
.cm-page-buttons {{ display: flex; gap: 0.5rem; justify-content: flex-end; align-items: center; flex-wrap: nowrap;
                    white-space: nowrap; }}
.cm-header {{ font-size: 0.95rem; }}
.cm-page-info {{ font-size: 0.9rem; }}
.cm-credit {{ font-size: 0.85rem; }}
.cm-page-info p {{ margin: 0 !important; }}
/* A short screen (a projector at 150% zoom): the header keeps only the title and the buttons. */
@media (max-height: {SHORT_MAX_PX}px) {{ .cm-page-info {{ display: none !important; }} }}
.cm-page-buttons button, .cm-view-switch button {{
  padding: 0.3rem 0.8rem; border: 1px solid var(--border-color-primary); border-radius: 6px;
  background: var(--button-secondary-background-fill); color: var(--body-text-color); cursor: pointer; }}
.cm-page-buttons button[aria-pressed="true"], .cm-view-switch button[aria-pressed="true"] {{
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }}
#cm-notice {{ margin: 0.25rem 0; padding: 0.5rem 0.8rem; border-radius: 6px; border: 1px solid #b45309;
              background: #fffbeb; color: #78350f; }}
.dark #cm-notice {{ background: #451a03; color: #fde68a; }}
#cm-notice button {{ margin-left: 0.8rem; }}

/* Sticky parts (the lesson pane, the Lesson / Demo switch) stick to the screen, not to Gradio's container: it
   clipped with overflow "hidden", which made it the scroll box they stuck to, so they scrolled away. */
.gradio-container {{ overflow: clip !important; }}

/* Wide screens: lesson and demo side by side; the lesson scrolls in its own pane and stays in view while the
   page scrolls down the demo. */
@media (min-width: {NARROW_MAX_PX + 1}px) {{
  .cm-topic {{ flex-wrap: nowrap !important; align-items: flex-start !important; }}
  .cm-lesson-pane {{ position: sticky; top: 0.25rem; max-height: calc(100vh - 0.5rem); overflow-y: auto;
                     min-width: 0 !important; }}
  .cm-lesson-pane > * {{ flex-shrink: 0 !important; }}
  .cm-demo-pane {{ min-width: 0 !important; }}
  .cm-view-switch-block {{ display: none !important; }}
}}
/* Narrow screens: one of the two, chosen by the Lesson / Demo switch (the demo first). */
@media (max-width: {NARROW_MAX_PX}px) {{
  .cm-view-switch {{ display: flex; gap: 0.5rem; }}
  /* The switch stays at the top of the screen while the page scrolls (its block sticks: the switch alone
     has no room to move in it) */
  .cm-view-switch-block {{ position: sticky !important; top: 0; z-index: 5; padding: 0 !important;
                           background: var(--body-background-fill); }}
  .cm-topic:not(.cm-show-lesson) > .cm-lesson-pane {{ display: none !important; }}
  .cm-topic.cm-show-lesson > .cm-demo-pane {{ display: none !important; }}
  .cm-view-switch-block .html-container {{ padding: 0 !important; }}
}}
/* A short screen: tighter header and tab bars, so each demo's main action is on the first screen. */
@media (max-height: {SHORT_MAX_PX}px) {{
  .main {{ padding-top: 4px !important; padding-bottom: 4px !important; }}
  .cm-page-buttons-block .html-container {{ padding: 2px 4px !important; }}
  .cm-topbar {{ margin-bottom: -8px; }}
  .tab-wrapper {{ margin-bottom: 2px !important; padding-bottom: 2px !important; }}
  .tab-container button {{ height: 28px !important; padding: 0 10px !important; }}
}}

/* Galleries of results (.cm-strip: the images tab's outputs and its strip of denoising steps) fit their pane and
   their pictures: Gradio keeps thumbnails at least 100 px wide (10 columns overflowed a demo pane), gives the grid
   a fixed height (blank space under one row of pictures) and floats each caption over its picture (over all of
   a small one). Here the columns share the width, the grid is as tall as its rows, and a caption sits under its
   picture; a picture opened large gets the room it needs. */
.cm-strip.block {{ height: auto !important; }}
.cm-strip.block:has(.preview) {{ height: min(420px, 75vh) !important; }}
.cm-strip .grid-wrap {{ height: auto !important; min-height: 0 !important; max-height: none !important;
                        overflow: visible !important; }}
.cm-strip .grid-container {{ grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;
                             grid-auto-rows: auto !important; grid-template-rows: none !important; }}
.cm-strip .grid-container .thumbnail-item {{ display: flex; flex-direction: column; height: auto; aspect-ratio: auto;
                                             overflow: visible; background: none; border: 0; box-shadow: none; }}
.cm-strip .grid-container .thumbnail-item > img {{ aspect-ratio: 1; height: auto; border-radius: var(--button-small-radius);
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }}
.cm-strip .grid-container .thumbnail-item:is(:hover, .selected) > img {{ border-color: var(--color-accent); }}
.cm-strip .grid-container .caption-label {{ position: static; max-width: 100%; padding: 2px 0 0; border: 0;
  background: none; opacity: 1 !important; color: var(--body-text-color); text-align: center; white-space: normal;
  line-height: 1.25; }}
/* A picture shown at a fixed height is as tall as it is drawn (no blank band under a narrow one). */
.cm-fit-picture.block {{ height: auto !important; }}
.cm-fit-picture :is(.image-container, .image-frame, button) {{ height: auto !important; }}
.cm-fit-picture .image-frame img {{ width: 100%; height: auto; max-height: 256px; object-fit: contain; }}

/* A picture, plot or gallery has its label above it, not floating over its top (where it hid a plot's title and
   its first points).
   A drawing board (a canvas in a box of fixed height) keeps its floating label: above it, the board ran 52 px past
   its box, over the button below. */
.gradio-container .block:has(:is(.image-container, .matplotlib, .plot-container, .grid-wrap, .empty)):not(:has(canvas))
  > label.float[data-testid="block-label"] {{ position: static !important; margin: 0 0 4px 0; }}
/* ...and its box grows by the label's height: a picture of fixed height (topic 1's data canvas, topic 7's design)
   otherwise lost its bottom 33-52 px to the box, which hides what overflows. */
.gradio-container .block:has(:is(.image-container, .matplotlib, .plot-container, .grid-wrap, .empty)):not(
  :has(canvas)):has(> label.float[data-testid="block-label"]) {{ height: auto !important; }}
/* An output with nothing in it yet is a short box that says so: Gradio draws a frame 120-270 px high with a
   faint icon, which pushed the demo's other parts down a screen and told a class nothing. */
.gradio-container .empty:is(.large, .small) {{ min-height: 3rem !important; height: auto !important; margin-top: 0;
                                               gap: 0.6rem; padding: 0.5rem; }}
.gradio-container .empty:is(.large, .small)::after {{ content: "{EMPTY_HINT}"; color: var(--block-info-text-color);
                                                     font-size: var(--block-info-text-size); }}
.gradio-container .block:has(> .empty:is(.large, .small), > * > .empty:is(.large, .small)) {{
  height: auto !important; min-height: 0 !important; }}

/* An upload box says "Drop File Here - or - Click to Upload" on one line: Gradio's three lines and icon need 240 px,
   so a 90 px file box cut "Click to Upload" in half and one without a height was 240 px tall. A file box is as tall
   as its label and that line (a long label floated over the text). */
.gradio-container .upload-container [data-testid="upload-text"] {{ min-height: 2.5rem; flex-direction: row;
  flex-wrap: wrap; gap: 0 0.3em; padding-top: 0; }}
.gradio-container .upload-container [data-testid="upload-text"] .or {{ display: inline; }}
/* A small picture box (Gradio's "compact" prompt) wraps its prompt instead of cutting it ("Click to Upl"). */
.gradio-container .upload-container [data-testid="upload-text"] .prompt {{ display: block; white-space: normal;
                                                                         text-align: center; }}
.gradio-container .upload-container [data-testid="upload-text"] .icon-wrap {{ width: 1.3em; margin: 0 0.2em 0 0; }}
.gradio-container .block:has(> button.upload-container) {{ height: auto !important; }}
.gradio-container .block:has(> button.upload-container) > label.float[data-testid="block-label"] {{
  position: static !important; margin: 0 0 4px 0; }}
.gradio-container .block > button.upload-container {{ height: auto !important; min-height: 3.5rem; }}

/* Presenter mode: readable from the back row. */
.cm-present .cm-lesson {{ font-size: 1.3rem; line-height: 1.6; }}
.cm-present {{ --block-info-text-size: 1rem; --block-label-text-size: 1.05rem; --input-text-size: 1.1rem;
               --block-title-text-size: 1.1rem; }}
.cm-present .cm-header, .cm-present .cm-page-info {{ font-size: 1.1rem; }}

/* Dark mode. The accent (selected tab, links) lighter, to stay at 4.5:1 on the dark page. */
.dark .gradio-container {{ --color-accent: var(--primary-400); }}
/* Plots are drawn for the light theme on a transparent background (shared/plots.py): here their lightness turns
   around and their hues stay, so black ink reads white on the dark page and a blue line stays blue. */
.dark [data-testid="matplotlib"] img, .dark .{plots.PLOT} img {{ filter: invert(1) hue-rotate(180deg); }}
.dark .{plots.KEEP_COLOURS} [data-testid="matplotlib"] img {{ filter: none; background: #e5e7eb; border-radius: 6px; }}
/* Highlighted tokens: gradio writes black on the category's colour at half strength, which the dark page darkens. */
.dark [data-testid="highlighted-text"] .token.highlighted,
.dark [data-testid="highlighted-text"] .legend-item {{ color: #ffffff !important; }}
/* A dropdown's text stops before its arrow: Gradio draws the arrow over the last 24 px of the field, where it hid the
   ")" of "tiny-emoji-diffusion-2 (embedded, trained here)". */
.gradio-container .wrap-inner input[role="combobox"] {{ padding-right: 28px; }}
/* A slider in a narrow column keeps its maximum in view: Gradio's track is at least 112 px wide, which pushed the
   maximum past the edge of a 160 px column ("24" of topic 9's Results was cut). */
.gradio-container .slider_input_container input[type="range"] {{ min-width: 2.5rem; }}
/* An accordion's arrow stays a small square beside a title that wraps: stretched to the title's two lines and then
   turned a quarter, it poked out of the box. */
.gradio-container .label-wrap > .icon {{ flex-shrink: 0; align-self: center; line-height: 1; }}
/* A slider reached with the keyboard shows where the focus is. */
.gradio-container input[type="range"]:focus-visible {{ outline: 3px solid var(--color-accent);
                                                        outline-offset: 3px; border-radius: 4px; }}
"""


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with text that reaches 4.5:1 on its background (WCAG AA), light and dark: labels,
    the selected option, primary buttons, hints and links one shade darker (lighter in dark mode)."""
    return gr.themes.Soft().set(
        block_label_text_color="*primary_700",
        block_title_text_color="*primary_700",
        checkbox_label_background_fill_selected="*primary_600",
        button_primary_background_fill="*primary_600",
        button_primary_border_color="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        color_accent="*primary_600",
        body_text_color_subdued="*neutral_600",
        link_text_color_dark="*secondary_400",
        link_text_color_active_dark="*secondary_400",
        link_text_color_visited_dark="*secondary_400",
    )


def no_share_buttons(demo: gr.Blocks) -> None:
    """Pictures, sounds and videos show Download (and Fullscreen), never Share (it needs Spaces, and errs
    elsewhere); a gallery not declared ``interactive=True`` shows results only, without "Drop Media Here"
    or a clear button (an event may still read it, as the images tab's "use the last image" does)."""
    for block in demo.blocks.values():
        buttons = getattr(block, "buttons", None)
        if isinstance(buttons, list) and "share" in buttons:
            block.buttons = [b for b in buttons if b != "share"]
        if isinstance(block, gr.Gallery) and block.interactive is None:
            block.interactive = False


def every_tab_in_view(demo: gr.Blocks) -> None:
    """Every tab bar wraps onto a further row when its tabs do not fit, so each sub-tab stays in view and one
    click away (Gradio's default hides them in a "More tabs" menu: on a projector at 150% zoom, five of topic
    8's eight sub-tabs and four of topic 7's six). Each tab's panel gets an HTML id (``cm-tab-<tab id>``),
    which its button names in ``aria-controls``: a link finds the sub-tab that holds a tab (topic 9's Draw)."""
    for block in demo.blocks.values():
        if isinstance(block, gr.Tabs):
            block.overflow_behavior = "wrap"
        elif isinstance(block, gr.Tab) and block.id is not None and not block.elem_id:
            block.elem_id = f"cm-tab-{block.id}"


def hints_in_empty_tables(demo: gr.Blocks) -> None:
    """A results table that is empty before a run says so in its header, instead of showing Gradio's placeholder
    columns "1 2 3" (tables that already name their columns keep them). Only tables no event reads."""
    read = {block._id for fn in demo.fns.values() for block in fn.inputs}
    for block in demo.blocks.values():
        if not isinstance(block, gr.Dataframe) or block.interactive or block._id in read:
            continue
        value = block.value if isinstance(block.value, dict) else {}
        headers = value.get("headers") or []
        if headers and not value.get("data") and headers == [str(i) for i in range(1, len(headers) + 1)]:
            block.value = {"headers": [EMPTY_HINT], "data": [], "metadata": None}


def text_alternatives(demo: gr.Blocks) -> None:
    """Each picture says what it is to a screen reader: an image without its own ``alt_text`` takes its label
    (gradio shows an image without one as decoration). Plots get theirs in the browser (``JS``)."""
    for block in demo.blocks.values():
        if isinstance(block, gr.Image) and not block.alt_text and block.label:
            block.alt_text = str(block.label)


def top_bar(tabs: dict[str, str]) -> None:
    """The header's buttons: presenter mode and copy link (wired in the browser by ``JS``).

    ``tabs`` maps each ``?tab=`` slug to its tab's title; the script reads it from this element.
    """
    gr.HTML(
        f'<div class="cm-page-buttons" data-tabs="{html.escape(json.dumps(tabs))}">'
        '<button type="button" class="cm-present-toggle" aria-pressed="false">Presenter mode</button>'
        '<button type="button" class="cm-copy-link">Copy link</button>'
        "</div>",
        elem_classes="cm-page-buttons-block",
        padding=False,
    )


def view_switch() -> None:
    """The Lesson / Demo switch, shown only on narrow screens (see ``CSS``)."""
    gr.HTML(
        '<div class="cm-view-switch" role="group" aria-label="Show">'
        '<button type="button" data-view="lesson" aria-pressed="false">Lesson</button>'
        '<button type="button" data-view="demo" aria-pressed="true">Demo</button>'
        "</div>",
        elem_classes="cm-view-switch-block",
        padding=False,
    )


# Every value from the address bar is used as data only: compared with labels, given to an input's .value,
# or shown with textContent. Nothing from it is parsed as HTML or used in a CSS selector.
JS = r"""
() => {
  let TABS = {};                      // slug -> tab title, from the top bar's data-tabs
  const GLOSSARY_ID = "cm-glossary";
  const RESERVED = new Set(__RESERVED__);
  const SHOWN_MAX = 80;
  const slug = (text) => (text || "").toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
                                     .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  const cut = (text) => text.length > SHOWN_MAX ? text.slice(0, SHOWN_MAX) + "…" : text;
  const visible = (el) => !!(el && el.offsetParent !== null);

  // ---- notices: text only ----
  const notes = [];
  function notice(text) {
    notes.push(text);
    let box = document.getElementById("cm-notice");
    if (!box) {
      box = document.createElement("div");
      box.id = "cm-notice";
      box.setAttribute("role", "alert");
      const anchor = document.querySelector(".cm-topbar");
      const block = anchor;
      if (block && block.parentNode) block.parentNode.insertBefore(box, block.nextSibling);
      else document.body.prepend(box);
    }
    box.textContent = notes.join(" ");
    const close = document.createElement("button");
    close.type = "button"; close.textContent = "Dismiss";
    close.addEventListener("click", () => { box.remove(); notes.length = 0; });
    box.appendChild(close);
  }

  // ---- tabs ----
  function tabList(root) {  // the first tab bar inside root (the topics' bar for the document)
    return root.querySelector('[role="tablist"]');
  }
  function tabButtons(list) {  // a bar's tab buttons: every bar wraps, so all of them are in it (every_tab_in_view)
    return list ? [...list.querySelectorAll('button[role="tab"]')] : [];
  }
  function selectedButton(list) {
    return tabButtons(list).find((b) => b.getAttribute("aria-selected") === "true" || b.classList.contains("selected"));
  }
  function openPanel(root) {  // the visible tab panel that belongs to root's first tab bar
    const list = tabList(root);
    if (!list) return null;
    const tabs = list.closest(".tabs") || list.parentElement;
    return [...tabs.querySelectorAll(":scope > .tabitem, :scope > div > .tabitem")].find(visible) || null;
  }
  function topSlug() {
    const b = selectedButton(tabList(document));
    if (!b) return "";
    const title = b.textContent.trim();
    return Object.keys(TABS).find((s) => TABS[s] === title) || "";
  }
  function subTabs() {  // the open topic's own sub-tab bar, if it has one
    const panel = openPanel(document);
    return panel ? tabList(panel) : null;
  }
  function innerTab(subs, name) {  // a tab inside one of the topic's sub-tabs (topic 9's Draw): [that sub-tab, the tab]
    const panel = openPanel(document);
    const own = new Set(tabButtons(subs));
    const inner = panel ? [...panel.querySelectorAll('button[role="tab"]')]
      .find((b) => !own.has(b) && slug(b.textContent) === slug(name)) : null;
    const part = inner ? inner.closest(".tabitem") : null;  // the sub-tab's panel: its button controls that id
    const outer = part && part.id ? [...own].find((b) => b.getAttribute("aria-controls") === part.id) : null;
    return outer ? [outer, inner] : null;
  }

  // ---- controls, found by their label inside the open (sub-)tab ----
  function controlArea() {  // the open topic: its own controls and those of its open sub-tab
    return openPanel(document);
  }
  function inClosedPart(block, area) {  // inside a sub-tab that is not the open one
    for (let el = block.parentElement; el && el !== area; el = el.parentElement)
      if (el.classList.contains("tabitem") && !visible(el)) return true;
    return false;
  }
  function labelOf(block) {
    const info = block.querySelector('[data-testid="block-info"]');
    if (info) return info.textContent.trim();
    const box = block.querySelector('input[type="checkbox"]');
    if (box) { const l = box.closest("label"); return l ? l.textContent.trim() : ""; }
    return "";
  }
  function controls(area) {
    const found = new Map();
    // A closed accordion's controls are not in the page until it is opened (Gradio 6), so a link cannot reach them.
    for (const block of area.querySelectorAll(".block")) {
      if (block.querySelector(".block") || block.closest(".hidden, [hidden]") || inClosedPart(block, area)) continue;
      const input = block.querySelector('input[type="range"], input[type="number"], textarea, input[type="text"], input[type="checkbox"], input[type="radio"], input[role="combobox"]');
      if (!input || input.disabled) continue;
      const base = slug(labelOf(block));
      if (!base || RESERVED.has(base)) continue;
      let name = base;  // a label used twice in one tab: the second is "<label>-2", and so on
      for (let i = 2; found.has(name); i++) name = `${base}-${i}`;
      found.set(name, block);
    }
    return found;
  }
  function readControl(block) {
    const range = block.querySelector('input[type="range"]') || block.querySelector('input[type="number"]');
    if (range) return range.value;
    const radio = block.querySelector('input[type="radio"]:checked');
    if (block.querySelector('input[type="radio"]')) return radio ? radio.value : null;
    const box = block.querySelector('input[type="checkbox"]');
    if (box) return box.checked ? "1" : "0";
    const text = block.querySelector("textarea, input[type='text'], input[role='combobox']");
    return text ? text.value : null;
  }
  function fire(el, ...types) { for (const t of types) el.dispatchEvent(new Event(t, { bubbles: true })); }
  function openAccordions(block) {  // an accordion the learner closed after it was drawn: open it to show the change
    for (let el = block.parentElement; el && el !== document.body; el = el.parentElement) {
      const toggle = el.querySelector(":scope > button.label-wrap");
      if (toggle && !toggle.classList.contains("open")) toggle.click();
    }
  }
  function setControl(name, block, value) {  // returns a sentence when the value does not fit
    openAccordions(block);
    const number = block.querySelector('input[type="number"]');
    const range = block.querySelector('input[type="range"]');
    if (range || number) {
      const el = range || number;
      const x = Number(value);
      if (value.trim() === "" || !Number.isFinite(x)) return `"${cut(name)}" takes a number, not "${cut(value)}".`;
      const lo = el.min === "" ? -Infinity : Number(el.min), hi = el.max === "" ? Infinity : Number(el.max);
      if (x < lo || x > hi) return `"${cut(name)}" takes ${lo} to ${hi}, not ${cut(value)}.`;
      for (const e of [range, number]) if (e) { e.value = String(x); fire(e, "input", "change"); }
      if (number) fire(number, "blur");
      if (range) fire(range, "pointerup");
      return null;
    }
    const radios = [...block.querySelectorAll('input[type="radio"]')];
    if (radios.length) {
      const r = radios.find((e) => e.value === value) || radios.find((e) => slug(e.value) === slug(value));
      if (!r) return `"${cut(name)}" has no option "${cut(value)}".`;
      r.click();
      return null;
    }
    const box = block.querySelector('input[type="checkbox"]');
    if (box) {
      const want = ["1", "true", "yes", "on"].includes(value.toLowerCase());
      if (!want && !["0", "false", "no", "off"].includes(value.toLowerCase()))
        return `"${cut(name)}" takes 1 or 0, not "${cut(value)}".`;
      if (box.checked !== want) box.click();
      return null;
    }
    const combo = block.querySelector('input[role="combobox"]');
    if (combo && !block.querySelector(".token")) { chooseOption(name, combo, value); return null; }  // not multiselect
    const text = block.querySelector("textarea, input[type='text']");
    if (text && text.getAttribute("role") !== "listbox" && !block.querySelector(".wrap-inner, ul.options")) {
      text.value = value; fire(text, "input", "change");
      return null;
    }
    return `"${cut(name)}" cannot be set from a link.`;
  }

  // A dropdown lists its options only while it has the focus (Gradio 6): focus it, wait for the list, press the
  // option as a mouse would, and let Gradio take it before moving on. One dropdown at a time (the focus moves),
  // so a wrong value is reported once the list has shown what there is.
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let choosing = Promise.resolve();
  function chooseOption(name, input, value) {
    choosing = choosing.then(async () => {
      input.focus({ preventScroll: true });
      const list = () => document.getElementById(input.getAttribute("aria-controls") || "");
      let options = [];
      for (let i = 0; i < 60 && !options.length; i++) {
        await pause(50);
        options = list() ? [...list().querySelectorAll('[role="option"]')] : [];
      }
      const label = (o) => o.getAttribute("aria-label") || o.textContent.trim();
      const option = options.find((o) => label(o) === value) || options.find((o) => slug(label(o)) === slug(value));
      if (option) {
        option.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
        await pause(150);
      }
      input.blur();
      if (!option) {
        notice(`"${cut(name)}" has no option "${cut(value)}". That part of the link was skipped.`);
        const kept = new URLSearchParams(location.search);
        kept.delete(name);
        history.replaceState(null, "", location.pathname + "?" + kept.toString() + location.hash);
      }
    });
  }

  // ---- the address bar ----
  let restoring = true;
  function writeUrl() {  // tab, sub-tab, presenter mode; the settings while the learner stays where they were set
    if (restoring) return;
    const old = new URLSearchParams(location.search);
    const next = new URLSearchParams();
    const tab = topSlug();
    if (tab) next.set("tab", tab);
    const subs = subTabs();
    const selected = subs ? selectedButton(subs) : null;
    const inner = subs && old.get("sub") ? innerTab(subs, old.get("sub")) : null;  // a linked tab inside it, still open
    const sub = inner && visible(inner[1]) && inner[1].getAttribute("aria-selected") === "true"
      ? slug(inner[1].textContent) : selected ? slug(selected.textContent) : "";
    if (sub) next.set("sub", sub);
    if (presenting()) next.set("present", "1");
    if (old.get("__theme")) next.set("__theme", old.get("__theme"));
    if (tab === old.get("tab") && (sub ? sub === old.get("sub") : !old.get("sub")))
      for (const [k, v] of old) if (!RESERVED.has(k)) next.set(k, v);
    const query = next.toString();
    const url = location.pathname + (query ? "?" + query : "") + location.hash;
    if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
  }
  function noteControl(target) {
    const area = controlArea();
    if (!area || !area.contains(target)) return;
    const block = target.closest(".block");
    if (!block) return;
    const name = [...controls(area)].find(([, b]) => b === block)?.[0];
    if (!name) return;
    const value = readControl(block);
    if (value === null) return;
    const params = new URLSearchParams(location.search);
    params.set(name, value);
    history.replaceState(null, "", location.pathname + "?" + params.toString() + location.hash);
  }

  // ---- presenter mode, the switch, copy link ----
  // Gradio scopes the app's CSS to its container, so the class goes on the column that holds the whole page.
  const pageRoot = () => (document.querySelector(".cm-topbar") || document.body).parentElement;
  const presenting = () => pageRoot().classList.contains("cm-present");
  function setPresent(on) {
    pageRoot().classList.toggle("cm-present", on);
    for (const b of document.querySelectorAll(".cm-present-toggle")) b.setAttribute("aria-pressed", String(on));
    writeUrl();
  }
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest(".cm-present-toggle")) { setPresent(!presenting()); return; }
    if (target.closest(".cm-copy-link")) {
      const done = () => notice("Link copied: it opens this tab with these settings.");
      if (navigator.clipboard && window.isSecureContext)
        navigator.clipboard.writeText(location.href).then(done, () => notice("Copy this link: " + location.href));
      else notice("Copy this link: " + location.href);
      return;
    }
    const view = target.closest(".cm-view-switch button");
    if (view) {
      const item = view.closest(".tabitem");
      const topic = item ? item.querySelector(".cm-topic") : null;
      if (topic) topic.classList.toggle("cm-show-lesson", view.dataset.view === "lesson");
      for (const b of view.parentElement.querySelectorAll("button"))
        b.setAttribute("aria-pressed", String(b === view));
      return;
    }
    if (target.closest('button[role="tab"]')) setTimeout(writeUrl, 0);
  }, true);
  let typing = null;
  let learnerEdited = false;  // the learner typed or moved something (our own events are not "trusted")
  const onEdit = (event) => {
    const target = event.target;
    if (event.isTrusted) learnerEdited = true;
    clearTimeout(typing);
    typing = setTimeout(() => noteControl(target), 300);
  };
  document.addEventListener("input", onEdit, true);
  document.addEventListener("change", onEdit, true);
  // A dropdown's choice fires neither on its input: note it when an option is pressed or Enter chooses one.
  const comboOf = (option) => {
    const list = option ? option.closest('[role="listbox"]') : null;
    return list && list.id ? document.querySelector(`input[aria-controls="${CSS.escape(list.id)}"]`) : null;
  };
  document.addEventListener("mousedown", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const input = comboOf(target ? target.closest('[role="option"]') : null);
    if (input) onEdit({ target: input, isTrusted: event.isTrusted });
  }, true);
  document.addEventListener("keydown", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (event.key === "Enter" && target && target.matches('input[role="combobox"]'))
      onEdit({ target, isTrusted: event.isTrusted });
  }, true);

  // ---- opening a link ----
  function whenReady(test, then, tries = 200) {
    const ok = test();
    if (ok) then(ok);
    else if (tries > 0) setTimeout(() => whenReady(test, then, tries - 1), 100);
  }
  function whenSettled(then) {  // the open tab has rendered its controls: their number stopped changing
    let last = -1, same = 0, tries = 0;
    const timer = setInterval(() => {
      const area = controlArea();
      const n = area ? area.querySelectorAll(".block").length : 0;
      same = n > 0 && n === last ? same + 1 : 0;
      last = n;
      if (same >= 3 || ++tries > 120) { clearInterval(timer); then(); }
    }, 250);
  }
  function applyControls(params, again = false) {  // returns the names that were skipped
    const area = controlArea();
    const found = area ? controls(area) : new Map();
    const skipped = [];
    for (const [k, v] of params) {
      if (RESERVED.has(k)) continue;
      const block = found.get(slug(k));
      if (again) {  // only where the value did not hold, and never after the learner changed something
        if (learnerEdited || new URLSearchParams(location.search).get(k) !== v) continue;
        const now = block ? readControl(block) : null;
        if (block && now !== null && now !== v && Number(now) !== Number(v)) setControl(k, block, v);
        continue;
      }
      const problem = block ? setControl(k, block, v) : `This tab has no control called "${cut(k)}".`;
      if (problem) { notice(problem + " That part of the link was skipped."); skipped.push(k); }
    }
    return skipped;
  }
  function showDemo() {  // on a narrow screen, a lesson step shows the demo it set up
    const item = openPanel(document);
    const topic = item ? item.querySelector(".cm-topic") : null;
    if (topic) topic.classList.remove("cm-show-lesson");
    for (const b of item ? item.querySelectorAll(".cm-view-switch button") : [])
      b.setAttribute("aria-pressed", String(b.dataset.view === "demo"));
  }
  function runButton(name) {  // a lesson step's "run": the button with that label in the open (sub-)tab
    const area = controlArea();
    const button = area ? [...area.querySelectorAll("button")]
      .find((b) => visible(b) && !b.closest('[role="tablist"], .tab-wrapper, .tab-container') && !inClosedPart(b, area)
                   && slug(b.textContent) === slug(name)) : null;
    if (button) button.click();
    else notice(`This tab has no button called "${cut(name)}".`);
  }
  // Open what ``params`` name: tab, sub-tab, controls; then, for a lesson step, press its button.
  function restore(params, step = false) {
    restoring = true;
    learnerEdited = false;
    if (params.get("present") === "1") setPresent(true);
    const tab = (params.get("tab") || "").trim();
    const list = tabList(document);
    if (tab && !(tab in TABS)) {
      notice(`There is no tab called '${cut(tab)}'. Tabs: ${Object.keys(TABS).join(", ")}.`);
    } else if (tab) {
      const button = tabButtons(list).find((b) => b.textContent.trim() === TABS[tab]);
      if (button && button.getAttribute("aria-selected") !== "true") button.click();
    }
    if (step) showDemo();
    const sub = params.get("sub");
    let done = false;
    // The linked tab is still the open one: a learner who moved on keeps the tab they moved to as it was.
    const stillThere = () => !tab || !(tab in TABS) || topSlug() === tab;
    const afterSub = () => { if (!done) { done = true; whenSettled(() => {
      if (!stillThere()) { restoring = false; writeUrl(); return; }
      const skipped = applyControls(params);
      const area = controlArea();
      setTimeout(() => {  // once more where a control was still starting, unless the learner moved on
        if (stillThere() && controlArea() === area) applyControls(params, true);
      }, 1500);
      if (skipped.length) {  // the address bar keeps only what was applied
        const kept = new URLSearchParams(location.search);
        for (const k of skipped) kept.delete(k);
        history.replaceState(null, "", location.pathname + "?" + kept.toString() + location.hash);
      }
      setTimeout(() => {
        restoring = false; writeUrl();
        if (step && params.get("run")) runButton(params.get("run"));
      }, 1600);
    }); } };
    if (tab && sub) {
      whenReady(() => subTabs(), (subs) => {
        const b = tabButtons(subs).find((x) => slug(x.textContent) === slug(sub));
        const inner = b ? null : innerTab(subs, sub);
        const open = (x) => { if (x.getAttribute("aria-selected") !== "true") x.click(); };
        if (b) { open(b); afterSub(); }
        else if (inner) {  // its sub-tab first, then the tab inside it once that is shown
          open(inner[0]);
          whenReady(() => visible(inner[1]), () => {  // and in view: it may be far down the sub-tab
            open(inner[1]);
            inner[1].scrollIntoView({ block: "start" });
            afterSub();
          }, 50);
        } else {
          notice(`This topic has no part called '${cut(sub)}'. Parts: ${tabButtons(subs).map((x) => slug(x.textContent)).join(", ")}.`);
          afterSub();
        }
      }, 20);
      setTimeout(() => { if (!done && !subTabs()) { notice(`This topic has no parts; '${cut(sub)}' was skipped.`); afterSub(); } }, 2500);
    } else afterSub();
  }
  // A lesson's Try-it step links the settings it needs (?tab=...&...&run=<button>): set them here, in this page.
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest(".cm-lesson a[href^='?']") : null;
    if (!link) return;
    const params = new URLSearchParams(link.getAttribute("href").slice(1).split("#")[0]);
    if (!params.get("tab") || params.get("tab") === "glossary") return;  // glossary links open a new browser tab
    event.preventDefault();
    event.stopPropagation();
    const shown = new URLSearchParams(params);
    shown.delete("run");
    history.replaceState(null, "", location.pathname + "?" + shown.toString());
    restore(params, true);
  }, true);
  whenReady(() => tabButtons(tabList(document)).length > 0 && document.querySelector(".cm-page-buttons"), (bar) => {
    try { TABS = JSON.parse(bar.dataset.tabs || "{}"); } catch (e) { TABS = {}; }
    restore(new URLSearchParams(location.search));  // a link never presses a button: opening the page runs nothing
  }, 3000);  // up to 5 minutes: a busy machine renders slowly

  // ---- names a screen reader says, where gradio gives none; again whenever the page changes ----
  function blockLabel(el) {
    const block = el.closest(".block");
    const label = block && block.querySelector('[data-testid="block-label"], [data-testid="block-info"]');
    return label ? label.textContent.trim() : "";
  }
  function nameThings() {
    for (const b of document.querySelectorAll('[data-testid="reset-button"]')) {
      const label = blockLabel(b);
      if (label && b.getAttribute("aria-label") !== `Reset ${label} to its default value`)
        b.setAttribute("aria-label", `Reset ${label} to its default value`);
    }
    for (const img of document.querySelectorAll('[data-testid="matplotlib"] img')) {  // gradio: "undefined plot ..."
      const label = blockLabel(img);
      if (label && img.alt !== label) img.alt = label;
    }
    // A heading's own anchor link (an icon, no text): hidden from screen readers and the Tab key, so the
    // heading's name stays its text; a mouse still copies the section's link with it
    for (const a of document.querySelectorAll("a.md-header-anchor:not([aria-hidden])")) {
      a.setAttribute("aria-hidden", "true");
      a.setAttribute("tabindex", "-1");
    }
    for (const e of document.querySelectorAll(".empty[aria-label]:not([role])")) e.setAttribute("role", "img");
    for (const pre of document.querySelectorAll("pre:not([tabindex])")) pre.setAttribute("tabindex", "0");  // scrolls by keyboard
  }
  let naming = null;
  new MutationObserver(() => { clearTimeout(naming); naming = setTimeout(nameThings, 100); })
    .observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["src"] });
  nameThings();

  // ---- ?tab=glossary#term: scroll to the term once the glossary has rendered ----
  let id = "";
  try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { id = ""; }
  if (id) {
    let tries = 0;
    const timer = setInterval(() => {
      const el = document.getElementById(id);
      const term = el && el.closest("#" + GLOSSARY_ID) ? el : null;
      if (term || ++tries > 40) { clearInterval(timer); if (term) term.scrollIntoView(); }
    }, 250);
  }
}
""".replace("__RESERVED__", json.dumps(list(RESERVED_PARAMETERS)))

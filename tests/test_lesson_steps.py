"""Each lesson's Try-it step links (``[▶ Set up step N](?tab=...&<control>=<value>&run=<button>)``) name real things.

The page's script (shared/page.py) finds a control by its label inside the open tab and sub-tab, in page
order (a label used twice: ``<label>-2``). This test walks the built app the same way and checks each link:
the tab and sub-tab exist, every control exists there and takes the value, and the button to press exists.
A browser test clicks one step and sees the demo change (tests/browser/test_classroom_browser.py).
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl

import gradio as gr
import pytest

from apps import TOPICS
from shared.page import RESERVED_PARAMETERS
from tests.test_lessons import lesson, section

STEP_LINK = re.compile(r"\[▶ Set up step (\d+)\]\((\?[^)\s]+)\)")


def slug(text) -> str:
    """The page script's slug: lower case, accents dropped, runs of other characters as one '-'."""
    text = unicodedata.normalize("NFKD", str(text or "").lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def walk(block):
    yield block
    for child in getattr(block, "children", []) or []:
        yield from walk(child)


def controls(area, open_parts=()) -> tuple[dict, dict]:
    """(label slug -> control, button slug -> button) the page finds in ``area`` with ``open_parts`` open."""
    found, buttons = {}, {}
    for block in _visible_blocks(area, open_parts):
        if isinstance(block, gr.Button):
            buttons.setdefault(slug(block.value), block)
        elif isinstance(block, gr.components.Component) and getattr(block, "label", None) and block.visible:
            base = slug(block.label)
            name, i = base, 2
            while name in found:
                name, i = f"{base}-{i}", i + 1
            found[name] = block
    return found, buttons


def _visible_blocks(block, open_parts=()):
    """Blocks shown when ``block`` is open, in page order: a gr.Tabs contributes only its open tab
    (the one of ``open_parts`` among its tabs, else the first)."""
    for child in getattr(block, "children", []) or []:
        if isinstance(child, gr.Tabs):
            tabs = [t for t in child.children if isinstance(t, gr.Tab)]
            if tabs:
                yield from _visible_blocks(next((t for t in tabs if t in open_parts), tabs[0]), open_parts)
            continue
        if getattr(child, "visible", True) is False:
            continue
        yield child
        yield from _visible_blocks(child, open_parts)


def in_closed_accordion(area, target) -> bool:
    """Whether ``target`` sits in an accordion that starts closed: Gradio draws its content only once it is
    opened, so a link can neither set a control nor press a button there."""
    def inside(block, closed):
        if block is target:
            return closed
        for child in getattr(block, "children", []) or []:
            found = inside(child, closed or (isinstance(child, gr.Accordion) and not child.open))
            if found is not None:
                return found
        return None
    return bool(inside(area, False))


def sub_tabs(topic_tab) -> list:
    for block in walk(topic_tab):
        if block is not topic_tab and isinstance(block, gr.Tabs):
            return [t for t in block.children if isinstance(t, gr.Tab)]
    return []


def open_parts_for(parts: list, name: str) -> tuple | None:
    """The tabs a link's ``sub=name`` opens: one of the topic's sub-tabs, or a tab inside one with that sub-tab
    (the page's script: ``innerTab``); None when there is none by that name."""
    for part in parts:
        if slug(part.label) == slug(name):
            return (part,)
    for part in parts:
        for block in walk(part):
            if block is not part and isinstance(block, gr.Tab) and slug(block.label) == slug(name):
                return part, block
    return None


@pytest.fixture(scope="module")
def demo():
    import app
    return app.build_demo()


def topic_tabs(demo) -> dict:
    return {b.id: b for b in walk(demo) if isinstance(b, gr.Tab) and b.id}


def check_value(name, control, value) -> str | None:
    """A sentence when ``control`` would not take ``value`` from a link, else None."""
    if isinstance(control, (gr.Slider, gr.Number)):
        try:
            x = float(value)
        except ValueError:
            return f"{name}: {value!r} is not a number"
        low = getattr(control, "minimum", None)
        high = getattr(control, "maximum", None)
        if (low is not None and x < low) or (high is not None and x > high):
            return f"{name}: {x} is outside {low}..{high}"
        return None
    if isinstance(control, gr.Radio):
        options = [v for _, v in control.choices]
        if value not in options and slug(value) not in {slug(v) for v in options}:
            return f"{name}: {value!r} is not one of {options}"
        return None
    if isinstance(control, gr.Dropdown) and not control.multiselect:  # the page picks the option by its label
        labels = [label for label, _ in control.choices]
        if value not in labels and slug(value) not in {slug(x) for x in labels}:
            return f"{name}: {value!r} is not one of {labels}"
        return None
    if isinstance(control, gr.Checkbox):
        return None if value.lower() in {"1", "0", "true", "false", "yes", "no", "on", "off"} else f"{name}: {value!r}"
    if isinstance(control, gr.Textbox):
        return None
    return f"{name}: a {type(control).__name__} cannot be set from a link"


def step_links(topic) -> list[tuple[str, str]]:
    return STEP_LINK.findall(section(lesson(topic), "Try it"))


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
def test_every_step_link_names_real_controls_and_values_in_range(demo, topic):
    links = step_links(topic)
    if not links:
        pytest.skip(f"lesson {topic.number} has no step links yet")
    tabs = topic_tabs(demo)
    problems = []
    for number, href in links:
        params = dict(parse_qsl(href[1:], keep_blank_values=True))
        tab = tabs.get(params.get("tab"))
        if tab is None:
            problems.append(f"step {number}: no tab {params.get('tab')!r}")
            continue
        # The page looks for controls in the open topic: its own and its open sub-tab's (shared/page.py,
        # controlArea); without ``sub`` the topic's first sub-tab is open.
        parts = sub_tabs(tab)
        area, open_parts = tab, tuple(parts[:1])
        if "sub" in params:
            open_parts = open_parts_for(parts, params["sub"])
            if open_parts is None:
                problems.append(f"step {number}: no sub-tab {params['sub']!r} in {[slug(t.label) for t in parts]}")
                continue
        found, buttons = controls(area, open_parts)
        for key, value in params.items():
            if key in RESERVED_PARAMETERS:
                continue
            control = found.get(slug(key))
            if control is None:
                problems.append(f"step {number}: no control {key!r}; there are {sorted(found)}")
            elif (problem := check_value(key, control, value)) is not None:
                problems.append(f"step {number}: {problem}")
            elif in_closed_accordion(area, control):
                problems.append(f"step {number}: {key!r} is in a closed accordion, which the page has not drawn yet")
        if "run" in params:
            button = buttons.get(slug(params["run"]))
            if button is None:
                problems.append(f"step {number}: no button {params['run']!r}; there are {sorted(buttons)}")
            elif in_closed_accordion(area, button):
                problems.append(f"step {number}: the button {params['run']!r} is in a closed accordion, "
                                "which the page has not drawn yet")
    assert not problems, "\n".join(problems)


def test_step_links_are_numbered_as_their_steps():
    for topic in TOPICS:
        steps = re.findall(r"^(\d+)\. (.*)$", section(lesson(topic), "Try it"), re.MULTILINE)
        for number, text in steps:
            link = STEP_LINK.match(text)
            if link:
                assert link.group(1) == number, (topic.slug, number)

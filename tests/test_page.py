"""The page around the topics (shared/page.py): what the built app's config says, without a browser."""
from __future__ import annotations

import html
import json

import pytest


@pytest.fixture(scope="module")
def config():
    import app
    return app.build_demo().get_config_file()


def test_no_component_offers_share_and_galleries_show_results_only(config):
    media = [c for c in config["components"] if c["type"] in ("image", "gallery", "audio", "video")]
    assert len(media) >= 10
    assert [c["props"].get("label") for c in media if "share" in (c["props"].get("buttons") or [])] == []
    galleries = [c for c in config["components"] if c["type"] == "gallery"]
    assert galleries and all(c["props"].get("interactive") is False for c in galleries)


def test_opening_the_page_runs_no_event(config):
    on_load = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    assert on_load == []


def test_the_top_bar_carries_every_tab_for_the_page_script(config):
    import app
    bar = next(c for c in config["components"] if c["type"] == "html" and "cm-page-buttons" in str(c["props"]["value"]))
    start = bar["props"]["value"].index('data-tabs="') + len('data-tabs="')
    tabs = json.loads(html.unescape(bar["props"]["value"][start:bar["props"]["value"].index('"', start)]))
    assert tabs == app.url_tabs() and "language" in tabs and tabs["glossary"] == "Glossary"


def test_first_views_are_filled_at_build_time(config):
    """Topic 1's data and topic 2's diffusion process are drawn once, at start-up (no event on page open)."""
    plots = [c for c in config["components"] if c["type"] in ("plot", "image") and c["props"].get("value")]
    assert len(plots) >= 3


def test_a_first_view_that_fails_starts_empty_and_the_app_still_builds(caplog):
    import gradio as gr

    from shared.ui import on_page_load

    def broken(x):
        raise ValueError("the model file is missing")

    with gr.Blocks():
        box = gr.Number(value=3)
        out = gr.Markdown("before")
        on_page_load(broken, [box], [out])
    assert out.value == "before"
    assert "could not be made" in caplog.text


def test_a_first_view_fills_values_and_updates():
    import gradio as gr

    from shared.ui import on_page_load

    with gr.Blocks():
        box = gr.Number(value=3)
        text = gr.Markdown()
        slider = gr.Slider(1, 5, value=1)
        on_page_load(lambda x: (f"**{x:g}**", gr.Slider(visible=False)), [box], [text, slider])
    assert text.value == "**3**" and slider.visible is False


def test_every_picture_has_a_text_alternative(config):
    """Gradio shows an image without ``alt_text`` as decoration (``alt=""``): each takes its label at least."""
    images = [c for c in config["components"] if c["type"] == "image"]
    assert len(images) >= 10
    assert [c["props"].get("label") for c in images if not c["props"].get("alt_text")] == []


def test_an_empty_results_table_says_when_it_fills_instead_of_placeholder_columns(config):
    """Gradio shows an empty table as columns "1 2 3": before a run, each results table names its hint instead;
    a table that already names its columns keeps them, and a table an event reads keeps its value."""
    from shared.page import EMPTY_HINT

    tables = [c for c in config["components"] if c["type"] == "dataframe"]
    headers = [c["props"]["value"]["headers"] for c in tables if c["props"].get("value")]
    assert ["1", "2", "3"] not in headers
    assert headers.count([EMPTY_HINT]) >= 10
    assert ["word", "p(he)", "p(she)", "p(they)"] in headers  # named columns stay
    kernel = next(c for c in tables if c["props"].get("interactive"))  # topic 3's editable kernel, an input
    assert kernel["props"]["value"]["data"] and kernel["props"]["value"]["headers"] != [EMPTY_HINT]

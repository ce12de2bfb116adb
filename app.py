"""Creative Machines: a hands-on course in generative AI, in one Gradio app.

    python app.py        # serves on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)

Ten topics, one tab each: the lesson on the left, a live demo of the idea on the right. ``?tab=<slug>``
opens a topic directly (e.g. ``?tab=language``). No model loads at start-up: each loads on first use.
"""
from __future__ import annotations

import gradio as gr

from apps import SLUGS, TOPICS
from shared import limits, page, plots
from shared.device import describe_device, pick_device
from shared.inputs import CourseBlocks
from shared.loader import hub_status
from shared.ui import (
    LATEX_DELIMITERS,
    LESSONS,
    analytics_enabled,
    launch,
    lesson_markdown,
    link_glossary,
)

TITLE = "Creative Machines"
GLOSSARY = "glossary"


def header_line() -> str:
    """One line for the top of the page: which device runs the models and whether the hub is reachable."""
    status = hub_status()
    hub = "hub models reachable" if status.online else f"offline, embedded models only ({status.reason})"
    return f"Models run on **{describe_device(pick_device())}** · {hub}"


def url_tabs() -> dict[str, str]:
    """Each ``?tab=`` slug and its tab's title, for the page's script (shared/page.py)."""
    return {**{topic.slug: topic.tab_title for topic in TOPICS}, GLOSSARY: "Glossary"}


def lesson(topic) -> None:
    gr.Markdown(
        lesson_markdown(topic.number, topic.slug),
        latex_delimiters=LATEX_DELIMITERS,
        header_links=True,
        elem_classes="cm-lesson",
    )


def build_demo() -> gr.Blocks:
    """The whole course as one ``gr.Blocks`` (nothing is loaded or run until a learner acts).

    ``CourseBlocks`` is a ``gr.Blocks`` that checks every input before a callback sees it (shared/inputs.py).
    Gradio's usage analytics stay off unless ``GRADIO_ANALYTICS_ENABLED=True`` (see ``analytics_enabled``).
    Figures are drawn on a transparent background, for the light and the dark theme (``shared/plots.py``).
    """
    plots.use_course_style()
    with CourseBlocks(title=TITLE, analytics_enabled=analytics_enabled(),
                      delete_cache=limits.DELETE_CACHE) as demo:
        with gr.Row(elem_classes="cm-topbar", equal_height=True):
            gr.Markdown(f"# {TITLE}", elem_classes="cm-title")
            page.top_bar(url_tabs())
        gr.Markdown("A hands-on course in generative AI: every idea is a real model you can run and look inside. "
                    + header_line(), elem_classes="cm-page-info")
        with gr.Tabs(selected=SLUGS[0], overflow_behavior="wrap", elem_classes="cm-topics"):
            for topic in TOPICS:
                with gr.Tab(topic.tab_title, id=topic.slug):
                    module = topic.module()
                    if module is None:
                        lesson(topic)
                        continue
                    page.view_switch()
                    with gr.Row(equal_height=False, elem_classes="cm-topic"):
                        with gr.Column(scale=2, min_width=280, elem_classes="cm-lesson-pane"):
                            lesson(topic)
                        with gr.Column(scale=3, min_width=360, elem_classes="cm-demo-pane"):
                            module.build()
            glossary = LESSONS / "glossary.md"
            if glossary.exists():
                with gr.Tab("Glossary", id=GLOSSARY):
                    gr.Markdown(
                        link_glossary(glossary.read_text(encoding="utf-8")),
                        latex_delimiters=LATEX_DELIMITERS,
                        header_links=True,
                        elem_classes="cm-lesson",
                        elem_id="cm-glossary",
                    )
    page.no_share_buttons(demo)
    page.every_tab_in_view(demo)
    page.hints_in_empty_tables(demo)
    page.text_alternatives(demo)
    demo.queue(default_concurrency_limit=limits.DEFAULT_CONCURRENCY, max_size=limits.QUEUE_MAX_SIZE)
    return demo


if __name__ == "__main__":
    launch(build_demo())

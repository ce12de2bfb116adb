"""Gradio helpers every topic uses: errors as messages, model loading with feedback, lessons, launch settings.

Text that a learner typed, a link carried, a file held or a model wrote is plain text everywhere in the code,
and is escaped once, where it enters markup: :func:`escape_html` for toasts (``warn``, ``inform``,
``friendly_errors``), :func:`escape_markdown` for a fragment placed in a ``gr.Markdown`` value.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import html
import inspect
import logging
import os
import re
from pathlib import Path

import gradio as gr
from gradio.processing_utils import move_files_to_cache
from starlette.middleware import Middleware

from shared import files, limits, memory, page
from shared.loader import Bundle, load

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)
LESSONS = ROOT / "lessons"

# Inline $...$ and display $$...$$, as the lessons write them.
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]

# ASCII punctuation spells all of Markdown's and HTML's syntax, autolinks (http://, www., @) and the LaTeX
# delimiters ($) that Gradio looks for before it parses Markdown. Left out: " ' , ; ? /, which are syntax
# nowhere without one of the others, and are common in prose.
_MARKUP_CHARACTERS = re.compile(r"[!#$%&()*+\-.:<=>@\[\\\]^_`{|}~]")


def escape_html(text) -> str:
    """``text`` as HTML that shows it literally: ``<`` becomes ``&lt;``, ``>`` ``&gt;`` and ``&`` ``&amp;``.

    Gradio renders a toast's message (``gr.Warning``, ``gr.Error``, ``gr.Info``) as HTML, so ``<a href=...>``
    in a message would become a link on the page: :func:`warn`, :func:`inform` and :func:`friendly_errors`
    escape every message here, once. Messages stay plain text until then (escaping twice shows ``&amp;lt;``).
    Quotes stay as they are: they matter only inside an attribute, where this text never goes.
    """
    return html.escape(str(text), quote=False)


def escape_markdown(text) -> str:
    """``text`` as a Markdown fragment that shows it literally, character for character.

    Each ASCII punctuation character that can be syntax becomes a numeric character reference (``<`` ->
    ``&#60;``, ``[`` -> ``&#91;``). CommonMark shows a reference as its character and never reads it as
    syntax, so no HTML element, link, image, emphasis, list, heading, table cell, autolink or formula can come
    out of the text; the result is also safe HTML. Letters, digits, spaces, ``" ' , ; ? /`` and non-ASCII
    characters are unchanged.
    """
    return _MARKUP_CHARACTERS.sub(lambda m: f"&#{ord(m.group())};", str(text))


def markdown_code_block(text: str) -> str:
    """``text`` as a fenced Markdown code block, shown verbatim: the fence is longer than any run of backticks
    in the text, so the text cannot close it (CommonMark)."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def warn(message: str, duration: float | None = 10) -> None:
    """Show ``message`` (plain text) as a warning toast, escaped: the one way this app warns."""
    gr.Warning(escape_html(message), duration=duration)


def inform(message: str, duration: float | None = 10) -> None:
    """Show ``message`` (plain text) as an info toast, escaped."""
    gr.Info(escape_html(message), duration=duration)


def friendly_errors(fn):
    """Wrap a Gradio callback so a ``ValueError`` from model-side code reaches the user as ``gr.Error``.

    The error's sentence is plain text (it may quote what the learner typed) and is HTML-escaped here.
    Works for plain functions and generators (streaming callbacks). Other exceptions are not caught:
    they are bugs, and Gradio shows a generic error without a traceback while the app keeps serving.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except ValueError as e:
                raise gr.Error(escape_html(e)) from e

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise gr.Error(escape_html(e)) from e

    return wrapper


def on_page_load(fn, inputs, outputs) -> None:
    """Fill a demo's first view: what ``fn`` shows for the ``inputs``' initial values, computed once, now.

    Every learner opens the page to the same first view, so it is made at build time and becomes the
    ``outputs``' initial values: opening the page runs no event (a class of thirty opening it at once queues
    nothing). ``gr.State`` outputs are left as they are (a session's state is its own); an output that
    ``fn`` answers with an update (``gr.Slider(visible=False)``) takes that update's properties. If ``fn``
    fails (a model or data file missing on this machine), the view starts empty and the app still starts: the
    error is logged, and the learner's first action shows it as a sentence.
    """
    try:
        with _outside_the_layout():  # an update it returns (gr.Dropdown(...)) must not land on the page
            values = fn(*(_initial_value(c) for c in inputs or []))
    except Exception:  # start-up must not depend on one demo's first view
        logger.exception("The first view of %s could not be made; it starts empty.", getattr(fn, "__name__", fn))
        return
    if isinstance(outputs, gr.components.Component):
        outputs, values = [outputs], [values]
    elif len(outputs) == 1:
        values = [values]
    for component, value in zip(outputs, values, strict=True):
        if not isinstance(component, gr.State):
            _set_initial_value(component, value)


@contextlib.contextmanager
def _outside_the_layout():
    """Components made inside this block are not placed in the page being built (as in a running callback)."""
    block, root = gr.context.Context.block, gr.context.Context.root_block
    gr.context.Context.block = gr.context.Context.root_block = None
    try:
        yield
    finally:
        gr.context.Context.block, gr.context.Context.root_block = block, root


def _initial_value(component):
    """What a callback receives for ``component`` before anyone touched it (as Gradio preprocesses it)."""
    if isinstance(component, gr.State):
        return copy.deepcopy(component.value)
    value = component.value
    if value is not None and getattr(component, "data_model", None) is not None:
        value = component.data_model.model_validate(value)
    return component.preprocess(value)


def _set_initial_value(component, value) -> None:
    """Make ``value`` (a value, or an update such as ``gr.Slider(visible=False)``) the component's initial state."""
    if isinstance(value, gr.components.Component):  # an update, built (and its value processed) by its class
        for prop in value.constructor_args:
            setattr(component, prop, getattr(value, prop))
        return
    if isinstance(value, dict) and value.get("__type__") == "update":  # gr.skip(), gr.update(...)
        update = {k: v for k, v in value.items() if k != "__type__"}
        value = update.pop("value", _NO_VALUE)
        for prop, setting in update.items():
            setattr(component, prop, setting)
        if value is _NO_VALUE:
            return
    shown = component.postprocess(value)
    if hasattr(shown, "model_dump"):
        shown = shown.model_dump()
    component.value = move_files_to_cache(shown, component, postprocess=True, keep_in_cache=True)


_NO_VALUE = object()


def load_model(model: str, purpose: str | None = None, progress: gr.Progress | None = None) -> Bundle:
    """Load a model through the shared loader, showing progress and warning the user about a fallback."""
    report = (lambda f, m: progress(f, desc=m)) if progress is not None else None
    bundle = load(model, purpose=purpose, progress=report)
    if bundle.notice:
        warn(bundle.notice)
    return bundle


def lesson_markdown(number: int, slug: str) -> str:
    """The text of ``lessons/NN_slug.md``, with glossary links pointed at the app's Glossary tab."""
    path = LESSONS / f"{number:02d}_{slug}.md"
    if not path.exists():
        return f"*The lesson file `{path.name}` is missing.*"
    return link_glossary(path.read_text(encoding="utf-8"))


def link_glossary(text: str) -> str:
    """Rewrite ``](glossary.md#term)`` links (which work on GitHub) to open the app's Glossary tab.

    Gradio gives a heading the id ``h-<slug>`` (``header_links=True``); the page's ``JS`` scrolls to it.
    """
    return re.sub(r"\]\(glossary\.md#([\w-]+)\)", r"](?tab=glossary#h-\1)", text)


def analytics_enabled() -> bool:
    """Whether Gradio may send its usage analytics: only when ``GRADIO_ANALYTICS_ENABLED=True`` is set.

    Gradio's own default is on; this app's is off, for every ``gr.Blocks`` it builds.
    """
    return os.environ.get("GRADIO_ANALYTICS_ENABLED", "False") == "True"


@contextlib.asynccontextmanager
async def housekeeping(app):
    """The server's regular chores, as one FastAPI lifespan: gradio's folder kept under its byte budget
    (``shared.files``) and freed memory handed back to the operating system (``shared.memory``)."""
    async with files.sweep_cache_regularly(app), memory.release_regularly(app):
        yield


def launch_kwargs() -> dict:
    """Every ``launch()`` setting, shared by ``app.py``, the tests and the benchmarks.

    Host and port come from Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
    (default 127.0.0.1:7860). Never shared publicly; SSR off (Spaces would turn it on). Uploads and the
    files kept on disk are bounded by ``shared.files``; gr.State is kept for at most
    ``limits.STATE_SESSIONS_MAX`` sessions; freed memory goes back to the system (``shared.memory``).
    """
    return dict(
        share=False,
        ssr_mode=False,
        max_file_size=limits.MAX_UPLOAD_SIZE,
        state_session_capacity=limits.STATE_SESSIONS_MAX,
        app_kwargs={"middleware": [Middleware(files.UploadLimits)], "lifespan": housekeeping},
        theme=page.theme(),
        css=page.CSS,
        js=page.JS,
        footer_links=["api", "gradio"],
    )


LAUNCH_ATTEMPTS = 3
_GRADIO_GAVE_UP = "localhost is not accessible"


def launch(demo: gr.Blocks, **overrides):
    """``demo.launch()`` with :func:`launch_kwargs` (``overrides`` win); returns what ``launch`` returns.

    Gradio checks that its page serves with one HEAD request of at most 3 s and, if that times out,
    refuses to start ("When localhost is not accessible..."), although the server is fine: a busy
    machine is enough. Such a start is tried again, up to ``LAUNCH_ATTEMPTS`` times; other errors are raised.
    """
    kwargs = {**launch_kwargs(), **overrides}
    for attempt in range(1, LAUNCH_ATTEMPTS + 1):
        try:
            return demo.launch(**kwargs)
        except ValueError as e:
            if _GRADIO_GAVE_UP not in str(e) or attempt == LAUNCH_ATTEMPTS:
                raise
            demo.close()

"""Gradio helpers every topic uses: errors as messages, model loading with feedback, lessons, launch settings.

Text that a learner typed, a link carried, a file held or a model wrote is plain text everywhere in the code,
and is escaped once, where it enters markup: :func:`escape_html` for toasts (``warn``, ``inform``,
``friendly_errors``), :func:`escape_markdown` for a fragment placed in a ``gr.Markdown`` value.
"""
from __future__ import annotations

import functools
import html
import inspect
import os
import re
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from shared import files, limits
from shared.loader import Bundle, load

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"

# Inline $...$ and display $$...$$, as the lessons write them.
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]

CSS = """
.cm-header { font-size: 0.95rem; opacity: 0.85; }
.cm-lesson { font-size: 1.02rem; line-height: 1.55; }
.cm-lesson details { margin: 0.5em 0; padding: 0.4em 0.8em; border: 1px solid var(--border-color-primary); border-radius: 6px; }
"""

# After ?tab=glossary#term opens the glossary tab, scroll to the term once it has rendered. The id comes from
# the link: looked up by getElementById (never spliced into a selector), and only inside the glossary.
JS = """
() => {
  let id = "";
  try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }
  if (!id) return;
  let tries = 0;
  const timer = setInterval(() => {
    const el = document.getElementById(id);
    const term = el && el.closest("#cm-glossary") ? el : null;
    if (term || ++tries > 40) { clearInterval(timer); if (term) term.scrollIntoView(); }
  }, 250);
}
"""

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
    """Run ``fn`` each time the page opens, to fill a demo's first view.

    A topic's ``build()`` runs inside the app's ``gr.Blocks``; this registers on that Blocks' ``load`` event.
    """
    root = gr.context.Context.root_block
    if root is not None:
        root.load(fn, inputs=inputs, outputs=outputs, api_visibility="private")


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


def launch_kwargs() -> dict:
    """Every ``launch()`` setting, shared by ``app.py``, the tests and the benchmarks.

    Host and port come from Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
    (default 127.0.0.1:7860). Never shared publicly; SSR off (Spaces would turn it on). Uploads and the
    files kept on disk are bounded by ``shared.files``; gr.State is kept for at most
    ``limits.STATE_SESSIONS_MAX`` sessions.
    """
    return dict(
        share=False,
        ssr_mode=False,
        max_file_size=limits.MAX_UPLOAD_SIZE,
        state_session_capacity=limits.STATE_SESSIONS_MAX,
        app_kwargs={"middleware": [Middleware(files.UploadLimits)], "lifespan": files.sweep_cache_regularly},
        theme=gr.themes.Soft(),
        css=CSS,
        js=JS,
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

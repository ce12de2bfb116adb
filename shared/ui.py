"""Gradio helpers every topic uses: errors as messages, model loading with feedback, lessons, launch settings."""
from __future__ import annotations

import functools
import inspect
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

# After ?tab=glossary#term opens the glossary tab, scroll to the term once it has rendered.
JS = """
() => {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  let tries = 0;
  const timer = setInterval(() => {
    const el = document.querySelector(`#cm-glossary [id="${id}"]`);
    if (el || ++tries > 40) { clearInterval(timer); if (el) el.scrollIntoView(); }
  }, 250);
}
"""


def friendly_errors(fn):
    """Wrap a Gradio callback so a ``ValueError`` from model-side code reaches the user as ``gr.Error``.

    Works for plain functions and generators (streaming callbacks). Other exceptions are not caught:
    they are bugs, and Gradio shows a generic error without a traceback while the app keeps serving.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except ValueError as e:
                raise gr.Error(str(e)) from e

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise gr.Error(str(e)) from e

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
        gr.Warning(bundle.notice)
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

"""Text from a learner, a link, a file or a model is shown as text: never as markup. Analytics stay off.

``shared.ui``'s escapes are checked against a CommonMark parser (markdown-it-py); the call sites that put
such text into a toast or a Markdown value are checked with markup payloads. The browser test
(``tests/browser/test_security_browser.py``) checks what the page makes of them.
"""
import html
import re

import gradio as gr
import pytest
from markdown_it import MarkdownIt

import app
from apps import build_your_own as byo
from apps import images
from apps import language as L
from apps.industries import coding
from shared import ui

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    '<a href="http://evil/">session expired, log in</a>',
    "<form><input type=password></form>",
    "![x](http://evil/x.png)",
    "[click](http://evil/)",
    "<http://evil/> and <me@evil.com>",
    "**bold** _em_ `code` ~~gone~~ $$x^2$$ $y$",
    "# heading\n- item\n1. one\n> quote\n---\n    indented\n===",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "[ref]\n\n[ref]: http://evil/",
    "&lt;b&gt; &amp; &#60;i&#62; <!-- comment -->",
    "\\*not emphasis\\*",
]
MARKUP_TAGS = ("<img", "<a ", "<form", "<input", "<em", "<strong", "<code", "<s>", "<del", "<h1", "<li", "<ol",
               "<ul", "<blockquote", "<hr", "<table", "<pre", "<!--", "<b>", "<i>")


def render(markdown: str) -> str:
    """CommonMark with GFM tables and strikethrough, raw HTML allowed: what a permissive renderer makes of it."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def shown(markdown: str) -> str:
    """The text a reader sees, spaces as a browser collapses them; fails if the Markdown made any element
    other than paragraphs (a blank line in the text may start one)."""
    rendered = re.sub(r"</?p>", " ", render(markdown))
    assert not [tag for tag in MARKUP_TAGS if tag in rendered], rendered
    return " ".join(html.unescape(rendered).split())


def same_text(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("text", PAYLOADS)
def test_escaped_markdown_renders_as_the_text_itself(text):
    assert shown(f"Prompt: “{ui.escape_markdown(text)}” · done") == same_text(f"Prompt: “{text}” · done")


def test_escaped_markdown_keeps_no_character_a_parser_or_latex_could_read():
    escaped = ui.escape_markdown("".join(PAYLOADS))
    assert not set(escaped.replace("&#", "").replace(";", "")) & set("<>[]()!*_`~$|#\\&:@.-+=%{}^")
    assert "$" not in escaped  # Gradio looks for its LaTeX delimiters before it parses the Markdown


def test_plain_prose_goes_through_escape_markdown_unchanged():
    prose = "Write a short poem about a robot, please? It's \"fine\"/ok; 3 lines Zürich 東京"
    assert ui.escape_markdown(prose) == prose


@pytest.mark.parametrize("text", PAYLOADS)
def test_an_api_client_gets_the_typed_text_back_with_html_unescape(text):
    """The page and an API client get one value; the README tells a client to ``html.unescape`` it."""
    assert html.unescape(ui.escape_markdown(text)) == text
    assert html.unescape(ui.escape_html(text)) == text


def test_escape_html_shows_markup_as_text_and_keeps_quotes():
    assert ui.escape_html('<a href="x">it\'s & </a>') == '&lt;a href="x"&gt;it\'s &amp; &lt;/a&gt;'


def test_a_code_block_cannot_be_closed_by_its_own_text():
    text = "```\n<img src=x>\n````\n# not a heading"
    rendered = render(ui.markdown_code_block(text))
    assert rendered.count("<pre>") == 1 and "<img" not in rendered and "<h1" not in rendered
    assert html.unescape(rendered).endswith(f"{text}\n</code></pre>\n")


def test_friendly_errors_escape_the_sentence_once():
    @ui.friendly_errors
    def fails():
        raise ValueError("'<img src=x>' is not a model & never was.")

    with pytest.raises(gr.Error) as caught:
        fails()
    assert caught.value.message == "'&lt;img src=x&gt;' is not a model &amp; never was."


def test_friendly_errors_escape_streaming_callbacks_too():
    @ui.friendly_errors
    def stream():
        yield 1
        raise ValueError("<b>late</b>")

    with pytest.raises(gr.Error, match="&lt;b&gt;late&lt;/b&gt;"):
        list(stream())


@pytest.fixture
def toasts(monkeypatch):
    shown = []
    monkeypatch.setattr(gr, "Warning", lambda message, **kw: shown.append(("warning", message)))
    monkeypatch.setattr(gr, "Info", lambda message, **kw: shown.append(("info", message)))
    return shown


def test_warn_and_inform_escape_their_message(toasts):
    ui.warn("<form><input type=password></form>")
    ui.inform("<a href='http://evil/'>x</a>")
    assert toasts == [("warning", "&lt;form&gt;&lt;input type=password&gt;&lt;/form&gt;"),
                      ("info", "&lt;a href='http://evil/'&gt;x&lt;/a&gt;")]


def test_a_model_name_typed_with_markup_comes_back_escaped_in_the_error():
    with pytest.raises(gr.Error) as caught:
        list(L.generate_ui("Hello", "Raw continuation", '<img src=x onerror=alert(1)>', 0.7, 50, 0.95, 1.1, 4, 0))
    assert "&lt;img src=x onerror=alert(1)&gt;" in caught.value.message and "<" not in caught.value.message


def test_the_images_info_line_shows_the_prompt_as_typed():
    result = images.Generation(images=[], frames=[], seconds=1.0, model_label="tiny-emoji-diffusion (embedded)")
    for prompt in PAYLOADS:
        assert same_text(f"“{prompt}”") in shown(images._describe(result, prompt, 7.5, "DDIM", 8))


def test_the_coding_verdict_escapes_the_parsers_message():
    check = coding.CodeCheck(parses=False, syntax_error="invalid syntax near '<img src=x>' ![x](http://evil/)")
    _code, verdict = coding._sample_report(["def f(:"], [check], 0)
    assert "'<img src=x>' ![x](http://evil/)" in shown(verdict.replace("**", ""))


def test_a_bad_setting_in_topic_10_is_shown_escaped_in_its_markdown():
    info = byo.parameter_info("Shakespeare: Hamlet (one play)", None, "Characters", 1024, "<img src=x>", 4, 128, 64)
    assert "'<img src=x>'" in shown(info)


def test_analytics_are_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    assert ui.analytics_enabled() is False
    for value, expected in (("True", True), ("False", False), ("", False)):
        monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", value)
        assert ui.analytics_enabled() is expected


def test_the_course_page_is_built_with_analytics_off_by_default(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    demo = app.build_demo()
    assert demo.analytics_enabled is False
    assert demo.get_config_file()["analytics_enabled"] is False

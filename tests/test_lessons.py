"""Lesson lint: every topic's lesson exists and has the parts a learner relies on (issue: ten lessons).

Rendering (Markdown and LaTeX in the browser) is checked in tests/browser/test_app_browser.py.
"""
import re

import pytest

from apps import TOPICS
from shared.ui import LESSONS

GLOSSARY = LESSONS / "glossary.md"


def lesson(topic) -> str:
    return (LESSONS / f"{topic.number:02d}_{topic.slug}.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def slug(heading: str) -> str:
    """GitHub's and Gradio's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def glossary_anchors() -> set[str]:
    return {slug(h) for h in re.findall(r"^###\s+(.+)$", GLOSSARY.read_text(encoding="utf-8"), re.M)}


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
class TestLesson:
    def test_starts_with_a_title_and_has_700_to_1800_words(self, topic):
        text = lesson(topic)
        assert text.startswith("# ")
        assert 700 <= len(text.split()) <= 1800, len(text.split())

    def test_marks_the_five_key_ideas_in_order_each_with_a_heading(self, topic):
        marks = re.findall(r"<!-- key-idea: (\d) -->\s*\n(##+ .+)", lesson(topic))
        assert [int(n) for n, _ in marks] == [1, 2, 3, 4, 5]

    def test_has_numbered_try_it_steps(self, topic):
        steps = re.findall(r"^\d+\. ", section(lesson(topic), "Try it"), re.M)
        assert len(steps) >= 3

    def test_check_yourself_has_three_to_five_questions_and_hidden_answers(self, topic):
        part = section(lesson(topic), "Check yourself")
        questions = part.split("<details>")[0]
        assert 3 <= len(re.findall(r"^\d+\. ", questions, re.M)) <= 5
        assert re.search(r"<details>\s*<summary>Answers</summary>\s*\n\s*\n.*?</details>", part, re.S)
        assert "predict" in part.lower()

    def test_further_reading_cites_at_least_three_works(self, topic):
        refs = re.findall(r"^[-*] .+\(\d{4}\)", section(lesson(topic), "Further reading"), re.M)
        assert len(refs) >= 3

    def test_math_delimiters_are_balanced(self, topic):
        text = lesson(topic)
        assert text.count("$$") % 2 == 0
        for paragraph in re.sub(r"\$\$.*?\$\$", "", text, flags=re.S).split("\n\n"):
            assert paragraph.count("$") % 2 == 0, paragraph[:80]

    def test_every_glossary_link_resolves(self, topic):
        anchors = glossary_anchors()
        for target in re.findall(r"\]\(glossary\.md#([\w-]+)\)", lesson(topic)):
            assert target in anchors, target


def test_glossary_terms_are_defined_once():
    headings = re.findall(r"^###\s+(.+)$", GLOSSARY.read_text(encoding="utf-8"), re.M)
    assert len(headings) >= 30
    assert len({slug(h) for h in headings}) == len(headings)


# --- every key idea live: the README's table, checked against the lessons (issue 22) ------------------------

README = LESSONS.parent / "README.md"
KEY_IDEA_ROW = re.compile(r"^\| (\d+)\.(\d) \| [^|]+ \| ([^|]+) \| (\d+) \| ([^|]+) \|$", re.M)


def key_idea_rows() -> dict[tuple[int, int], tuple[str, int, str]]:
    """``(topic, idea) -> (heading, step, what shows it)`` from the README's key-idea table."""
    rows = KEY_IDEA_ROW.findall(README.read_text(encoding="utf-8"))
    return {(int(t), int(k)): (heading.strip(), int(step), shown.strip()) for t, k, heading, step, shown in rows}


def test_the_readme_names_a_heading_and_a_step_for_each_of_the_50_key_ideas():
    rows = key_idea_rows()
    assert sorted(rows) == [(topic.number, k) for topic in TOPICS for k in range(1, 6)]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.slug)
def test_each_key_idea_is_taught_under_its_heading_and_set_up_by_a_linked_try_it_step(topic):
    text = lesson(topic)
    marked = {int(k): h.strip() for k, h in re.findall(r"<!-- key-idea: (\d) -->\s*\n##+ (.+)", text)}
    try_it = section(text, "Try it")
    for (number, idea), (heading, step, shown) in key_idea_rows().items():
        if number != topic.number:
            continue
        assert marked[idea] == heading, f"key idea {number}.{idea}: the lesson marks {marked[idea]!r}"
        assert re.search(rf"^{step}\. \[▶ Set up step {step}\]\(\?tab={topic.slug}[&)]", try_it, re.M), (
            f"key idea {number}.{idea}: step {step} is not a linked Try-it step of lesson {number}")
        assert shown, f"key idea {number}.{idea}: the table does not say what shows it live"

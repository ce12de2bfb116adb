"""Topic 4's translation example (lesson 4, key idea 3): a prompt names the task; the small model takes it."""
from __future__ import annotations

from apps.language import EXAMPLE_LABELS, EXAMPLES
from shared.generation import generate_text
from shared.sampling import SamplingSettings


def test_the_examples_include_a_translation_prompt_in_chat_mode():
    (row,) = [row for label, row in zip(EXAMPLE_LABELS, EXAMPLES, strict=True) if label.startswith("Translate")]
    assert row[0].startswith("Translate into French:") and row[1] == "Chat" and row[2] == 0.0


def test_the_embedded_model_answers_a_translation_request_in_french(embedded_lm):
    settings = SamplingSettings(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=32)
    text, _ = generate_text(embedded_lm, "Translate into French: I love cats.", "Chat", settings)
    assert text.split()[0] in {"Je", "J'aime", "J'adore"} or text.startswith("J'"), text  # French, if not faithful

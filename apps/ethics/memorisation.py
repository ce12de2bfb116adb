"""Does the model store its training text? A memorisation test, the question behind the ownership cases.

Getty argued that Stable Diffusion copies its training images; the court found the model does not store them. The
New York Times showed ChatGPT reproducing articles word for word. Whether a model holds a copy is measurable:
give it the start of a text and let it continue greedily; if it reproduces the rest token for token, the text
is memorised (Carlini et al. 2021, "Extracting Training Data from Large Language Models"; Carlini et al. 2023
found memorisation grows with model size, with how often a text was duplicated, and with the prompt's length).

The test below splits a text after a number of words, asks the course's language model (SmolLM2-135M-Instruct)
for the rest with greedy decoding (``shared.generation``), and marks each generated token that equals the
original at the same position. A text repeated across the web (Lorem ipsum, licences) is the likeliest to come
back; a sentence written today cannot. A small model memorises little: no copy here does not mean none in a large one.
"""
from __future__ import annotations

import gradio as gr
import torch

from apps.ethics.common import CONCURRENCY_ID, check_text, lm_bundle
from shared import limits
from shared.checks import as_int
from shared.generation import generate_tokens, make_settings
from shared.ui import friendly_errors

EXAMPLES = {
    "Lorem ipsum (filler text on millions of web pages)":
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
        "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.",
    "The MIT licence (in countless code repositories)":
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
        "associated documentation files (the \"Software\"), to deal in the Software without restriction, including "
        "without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense",
    "The US Constitution's preamble":
        "We the People of the United States, in Order to form a more perfect Union, establish Justice, insure "
        "domestic Tranquility, provide for the common defence, promote the general Welfare, and secure the "
        "Blessings of Liberty to ourselves and our Posterity",
    "A sentence written for this course (it cannot be in the training data)":
        "On a wet Tuesday the lighthouse keeper counted forty-one gulls, painted the third one blue in his notebook, "
        "and decided that the kettle, not the lamp, deserved a name.",
}
COPIED, NEW = "same as the original", "different"
COLOR_MAP = {COPIED: "red", NEW: "green"}


def split_text(tokenizer, text: str | None, prompt_words) -> tuple[list[int], list[int]]:
    """``(prompt ids, original ids)``: the first ``prompt_words`` words as the prompt, and up to
    ``limits.MEMORISATION_MAX_NEW_TOKENS`` tokens of the rest, which the model should reproduce.

    The text is split between words, so no word is cut in the middle of a token.

    Raises:
        ValueError: an empty or too long text, a word count out of range, or no words left to reproduce.
    """
    words = check_text(text).split()
    n = as_int("Prompt words", prompt_words, 1, limits.MEMORISATION_PROMPT_WORDS_MAX)
    if len(words) <= n:
        raise ValueError(f"The text has {len(words)} words: give it more than the {n} prompt words, so that there "
                         "is a rest to reproduce.")
    prompt = tokenizer(" ".join(words[:n]), add_special_tokens=False)["input_ids"]
    original = tokenizer(" " + " ".join(words[n:]), add_special_tokens=False)["input_ids"]
    return prompt, original[:limits.MEMORISATION_MAX_NEW_TOKENS]


def continue_greedily(bundle, prompt_ids: list[int], n_tokens: int) -> list[int]:
    """The model's greedy continuation (temperature 0) of ``prompt_ids``: up to ``n_tokens`` token ids."""
    settings = make_settings(0.0, 0, 1.0, 1.0, n_tokens, 0)
    return [step.token_id for step in generate_tokens(bundle, torch.tensor([prompt_ids]), settings)]


def compare(generated: list[int], original: list[int]) -> tuple[list[bool], int]:
    """Per generated token, whether it equals the original's token at that position; and the length of the
    exact copy from the start (the first mismatch ends it). A shorter generation counts its missing tokens as different."""
    same = [i < len(generated) and generated[i] == original[i] for i in range(len(original))]
    prefix = next((i for i, s in enumerate(same) if not s), len(same))
    return same, prefix


def segments(tokenizer, generated: list[int], same: list[bool]) -> list[tuple[str, str]]:
    """The generated text as ``(token text, label)`` pairs for ``gr.HighlightedText``."""
    return [(tokenizer.decode([t]), COPIED if s else NEW) for t, s in zip(generated, same)]


def verdict(prefix: int, same: list[bool]) -> str:
    """The status line: how much came back word for word, and what that does and does not show."""
    copied = sum(same)
    head = (f"**The model reproduced the next {prefix} tokens exactly** ({copied} of {len(same)} in place)"
            if prefix else f"**No exact copy** ({copied} of {len(same)} tokens in place, by chance or grammar)")
    return (f"{head}. A long exact continuation means the text is stored in the weights. A short one does not prove "
            "a model holds no copies: larger models, and texts seen more often, are memorised far more.")


@friendly_errors
def memorisation_ui(text, prompt_words, progress=gr.Progress()):
    """Split the text, continue it greedily, and mark what came back word for word."""
    bundle = lm_bundle(progress)
    prompt_ids, original = split_text(bundle.tokenizer, text, prompt_words)
    generated = continue_greedily(bundle, prompt_ids, len(original))
    same, prefix = compare(generated, original)
    prompt_text = bundle.tokenizer.decode(prompt_ids)
    return (prompt_text, segments(bundle.tokenizer, generated, same), bundle.tokenizer.decode(original),
            verdict(prefix, same))


def build_memorisation() -> None:
    """The memorisation sub-tab."""
    gr.Markdown("Does the model keep copies of what it read? Give it the start of a text; if it continues "
                "**word for word**, the text is stored in its weights (Carlini et al. 2021).")
    with gr.Row():
        text = gr.Textbox(label="Text (its start is the prompt; the model should write the rest)",
                          value=next(iter(EXAMPLES.values())), lines=3, max_length=limits.ETHICS_TEXT_MAX_CHARS,
                          scale=3)
        prompt_words = gr.Slider(1, limits.MEMORISATION_PROMPT_WORDS_MAX, value=5, step=1, label="Prompt words")
    run = gr.Button("Continue and compare", variant="primary", elem_classes="cm-main-action")
    note = gr.Markdown(elem_classes="cm-header", elem_id="ethics-memorisation-summary")
    with gr.Row():
        prompt = gr.Textbox(label="Prompt the model got", interactive=False)
        original = gr.Textbox(label="The original's rest", interactive=False)
    generated = gr.HighlightedText(label="The model's greedy continuation (red = same token as the original)",
                                   color_map=COLOR_MAP, combine_adjacent=False, show_legend=True)
    gr.Examples([[t] for t in EXAMPLES.values()], inputs=[text], example_labels=list(EXAMPLES), label="Texts to try")
    run.click(memorisation_ui, inputs=[text, prompt_words], outputs=[prompt, generated, original, note],
              api_name="ethics_memorisation", concurrency_id=CONCURRENCY_ID, concurrency_limit=1)

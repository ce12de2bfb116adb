"""What the ethics sub-tabs share: the course's models through the shared loader, and checked text."""
from __future__ import annotations

import gradio as gr

from shared import limits
from shared.catalog import EMBEDDED_EMBEDDER, EMBEDDED_LM
from shared.generation import LM_CONCURRENCY_ID
from shared.loader import Bundle
from shared.ui import load_model

CONCURRENCY_ID = LM_CONCURRENCY_ID  # the embedded language model is shared with topics 2 and 4: one queue
EMBEDDER_CONCURRENCY_ID = "sentence_embedder"
IMAGE_CONCURRENCY_ID = "ethics_image_watermark"


def lm_bundle(progress: gr.Progress | None = None) -> Bundle:
    """The embedded language model on its default (fast) backend: for generating, and for its tokenizer."""
    return load_model(EMBEDDED_LM, progress=progress)


def inspect_bundle(progress: gr.Progress | None = None) -> Bundle:
    """The embedded language model in float32 on transformers (the copy topic 4's attention view uses).

    Scoring a whole text needs the logits at every position in one forward pass, which the fast backend does not give.
    """
    return load_model(EMBEDDED_LM, purpose="inspect", progress=progress)


def embedder_bundle(progress: gr.Progress | None = None) -> Bundle:
    """all-MiniLM-L6-v2, the course's embedded sentence encoder."""
    return load_model(EMBEDDED_EMBEDDER, progress=progress)


def check_text(text: str | None) -> str:
    """Return ``text`` unchanged, or raise ``ValueError`` if it is empty or longer than the limit."""
    if text is None or not str(text).strip():
        raise ValueError("Type or paste some text first.")
    if len(text) > limits.ETHICS_TEXT_MAX_CHARS:
        raise ValueError(
            f"The text has {len(text):,} characters; the limit is {limits.ETHICS_TEXT_MAX_CHARS:,}. "
            "Shorten it (nothing is cut off for you)."
        )
    return text


def text_token_ids(tokenizer, text: str | None, min_tokens: int = 1) -> list[int]:
    """The token ids of ``text`` (no special tokens added; text such as ``<|im_start|>`` stays text).

    Raises:
        ValueError: the text is empty, too long (characters or ``limits.ETHICS_TEXT_MAX_TOKENS`` tokens), has
            no token the tokenizer knows (all unknown), or fewer than ``min_tokens`` tokens.
    """
    text = check_text(text)
    ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    unk = tokenizer.unk_token_id
    known = [i for i in ids if i != unk] if unk is not None else ids
    if not known:
        raise ValueError("None of this text's tokens are known to the model's tokenizer: it cannot be scored.")
    if len(ids) > limits.ETHICS_TEXT_MAX_TOKENS:
        raise ValueError(
            f"The text has {len(ids):,} tokens; the limit is {limits.ETHICS_TEXT_MAX_TOKENS}. "
            "Shorten it (nothing is cut off for you)."
        )
    if len(ids) < min_tokens:
        raise ValueError(f"The text needs at least {min_tokens} tokens; it has {len(ids)}. Write a little more.")
    return ids
